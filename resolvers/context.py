"""What every resolver receives about the request: the actor, the settings, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from partner_portal.permissions.actor import Actor
from partner_portal.resolvers.budget import QueryBudget
from partner_portal.resolvers.loaders import Loaders
from partner_portal.resolvers.mail import MailLimits
from partner_portal.resolvers.throttle import Throttle, client_key
from partner_portal.settings import Settings


@dataclass(slots=True)
class RequestContext:
    actor: Actor
    settings: Settings
    loaders: Loaders = field(default=None)  # type: ignore[assignment]
    request: object | None = None
    response: object | None = None
    throttle: Throttle | None = None
    mail_limits: MailLimits | None = None
    client_address: str | None = None
    user_agent: str | None = None  # the request's `User-Agent`, as sent
    query_budget: QueryBudget | None = None

    async def throttle_lookup(self, scope: str) -> None:
        """Count one guessable look-up of this client (THROTTLED past the limit)."""
        if self.throttle is not None:
            await self.throttle.hit(client_key(self.actor, self.client_address), scope)

    def sign_in(
        self, user_id: int, session_token_id: int, user_row: dict, two_factor_at: datetime | None = None
    ) -> None:
        """The actor becomes the user just signed in; loaders start afresh, none answers as the caller."""
        self.actor.sign_in(user_id, session_token_id, user_row, two_factor_at)
        self.loaders = Loaders(self.actor)

    def __post_init__(self) -> None:
        if self.loaders is None:
            self.loaders = Loaders(self.actor)

"""The actor of a request: who it is, how it signed in, and (loaded once) where it belongs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from partner_portal.permissions import two_factor
from partner_portal.permissions.enums import ApiKeyScope, OperatorPermission, Role, Via
from partner_portal.settings import TwoFactorRequirement


@dataclass(frozen=True, slots=True)
class MembershipInfo:
    """What the actor is in one organization: enough for every policy decision.

    Partner staff in a management session act on a customer organization through a
    delegated `MembershipInfo`: no membership id, the customer's current grant as
    permissions, and the session and partner named for the audit log.
    """

    membership_id: int | None
    organization_id: int
    role: Role
    permissions: frozenset[str]
    management_session_id: int | None = None
    partner_organization_id: int | None = None


MembershipLoader = Callable[[int], Awaitable[dict[int, MembershipInfo]]]
OperatorLoader = Callable[[int], Awaitable[frozenset[OperatorPermission]]]
DelegationLoader = Callable[["Actor"], Awaitable[dict[int, MembershipInfo]]]


@dataclass(slots=True)
class Actor:
    """Built by authentication; memberships and operator permissions load once, on first use
    (a session token's authentication reads them along with the token)."""

    via: Via = Via.ANONYMOUS
    user_id: int | None = None
    session_token_id: int | None = None
    api_key_id: int | None = None
    scopes: frozenset[ApiKeyScope] = frozenset()
    rejected_credentials: str | None = None
    # The signed-in user's own row (`resolvers.identity.USER_FIELDS`), read by authentication with
    # the session or identity-provider token: `viewer` costs no query.
    user_row: dict | None = field(default=None, repr=False)
    # When the session proved a second factor (None: it did not), and for what the vendor requires
    # one (`REQUIRE_TWO_FACTOR`; `permissions/two_factor.py` decides).
    two_factor_at: datetime | None = None
    two_factor_required: frozenset[TwoFactorRequirement] = frozenset()
    _load_memberships: MembershipLoader | None = None
    _load_operator: OperatorLoader | None = None
    _load_delegations: DelegationLoader | None = None
    _memberships: dict[int, MembershipInfo] | None = field(default=None, repr=False)
    _delegations: dict[int, MembershipInfo] | None = field(default=None, repr=False)
    _operator: frozenset[OperatorPermission] | None = field(default=None, repr=False)
    # What `permissions/scoping.py` derives from the memberships and sessions (the organizations
    # whose members the actor sees…), computed once per request and forgotten with them.
    derived: dict[str, Any] = field(default_factory=dict, repr=False)
    # GraphQL resolves sibling fields concurrently: a lock per lazy load makes the second
    # resolver wait for the first one's query instead of sending its own.
    _memberships_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _delegations_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _operator_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None or self.api_key_id is not None

    async def memberships(self) -> dict[int, MembershipInfo]:
        """The actor's memberships by organization id (one query per request at most)."""
        async with self._memberships_lock:
            if self._memberships is None:
                if self.user_id is None or self._load_memberships is None:
                    self._memberships = {}
                else:
                    self._memberships = await self._load_memberships(self.user_id)
        return self._memberships

    async def delegations(self) -> dict[int, MembershipInfo]:
        """Customer organizations the actor manages in an open management session, by id; none in a
        session without the second factor the vendor requires for them (`permissions/two_factor.py`)."""
        held = await self.held_delegations()
        return held if two_factor.proved(self, TwoFactorRequirement.MANAGEMENT_SESSIONS) else {}

    async def held_delegations(self) -> dict[int, MembershipInfo]:
        """The open management sessions, whether or not in force in this session."""
        async with self._delegations_lock:
            if self._delegations is None:
                if self.user_id is None or self._load_delegations is None:
                    self._delegations = {}
                else:
                    self._delegations = await self._load_delegations(self)
        return self._delegations

    async def operator_permissions(self) -> frozenset[OperatorPermission]:
        """The operator permissions in force: none in a session without the second factor the vendor
        requires of operators (`permissions/two_factor.py`)."""
        held = await self.held_operator_permissions()
        return held if two_factor.proved(self, TwoFactorRequirement.OPERATORS) else frozenset()

    async def held_operator_permissions(self) -> frozenset[OperatorPermission]:
        """The operator row's permissions, whether or not in force in this session."""
        async with self._operator_lock:
            if self._operator is None:
                if self.user_id is None or self._load_operator is None:
                    self._operator = frozenset()
                else:
                    self._operator = await self._load_operator(self.user_id)
        return self._operator

    def sign_in(
        self, user_id: int, session_token_id: int, user_row: dict, two_factor_at: datetime | None = None
    ) -> None:
        """A sign-in within the request (login, registration, accepted invitation): the rest of
        the operation answers as the new session's user, not as the caller it came with."""
        self.via = Via.SESSION
        self.user_id = user_id
        self.session_token_id = session_token_id
        self.two_factor_at = two_factor_at
        self.api_key_id = None
        self.scopes = frozenset()
        self.rejected_credentials = None
        self.user_row = user_row
        self._operator = None
        self.forget_memberships()

    def forget_memberships(self) -> None:
        """Called after a change to the actor's own memberships or sessions within the request."""
        self._memberships = None
        self._delegations = None
        self.derived.clear()

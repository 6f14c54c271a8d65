"""What every resolver receives about the request: the actor, the settings, the loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from permissions.actor import Actor
from resolvers.loaders import Loaders
from settings import Settings


@dataclass(slots=True)
class RequestContext:
    actor: Actor
    settings: Settings
    loaders: Loaders = field(default=None)  # type: ignore[assignment]
    request: object | None = None
    response: object | None = None

    def __post_init__(self) -> None:
        if self.loaders is None:
            self.loaders = Loaders(self.actor)

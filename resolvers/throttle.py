"""Rate limits for guessable look-ups (discount codes, coupons), with the `limits` library.

Each client (API key, else user, else IP address) gets `CODE_LOOKUP_RATE` look-ups in a
moving window; every alias of a GraphQL operation counts as one look-up, so batching
guesses into aliases does not help. In memory by default (one process); point
`RATE_LIMIT_STORAGE` at Redis to share the limits between workers.
"""

from __future__ import annotations

import time

from limits import parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from permissions.actor import Actor
from permissions.errors import Throttled
from settings import Settings


def client_key(actor: Actor, address: str | None) -> str:
    if actor.api_key_id is not None:
        return f"api_key:{actor.api_key_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"ip:{address or 'unknown'}"


def limits_storage(settings: Settings) -> Storage:
    """The storage `RATE_LIMIT_STORAGE` names, in its asyncio flavour (limits calls them
    "async+memory://", "async+redis://…"): one per app, for the look-up limits and the query
    budgets (`resolvers/budget.py`) alike, so one Redis connection pool serves both."""
    uri = settings.rate_limit_storage
    return storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")


class Throttle:
    """One per app; `await throttle.hit(client, "codes")` or THROTTLED with when to retry."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.rate = parse(settings.code_lookup_rate)

    async def hit(self, client: str, scope: str) -> None:
        if await self.limiter.hit(self.rate, scope, client):
            return
        stats = await self.limiter.get_window_stats(self.rate, scope, client)
        wait = max(1, int(stats.reset_time - time.time()) + 1)
        raise Throttled(f"Too many look-ups; try again in {wait} seconds.")

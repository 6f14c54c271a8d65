"""Rate limits for guessable look-ups (discount codes, coupons), with the `limits` library.

Each client (API key, else user, else IP address) gets `CODE_LOOKUP_RATE` look-ups in a
moving window; every alias of a GraphQL operation counts as one look-up, so batching
guesses into aliases does not help. Sign-ins and registrations (anything that runs argon2 for an
anonymous caller) count per client address (`SIGN_IN_RATE`) and for everyone (`SIGN_IN_GLOBAL_RATE`).
In memory by default (one process); point `RATE_LIMIT_STORAGE` at Redis to share the limits
between workers.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import Throttled
from partner_portal.settings import Settings


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
    return storage_from_string(uri if uri.startswith("async+") else f"async+{uri}", wrap_exceptions=True)


# What every use of the storage raises when it does not answer (Redis down; `wrap_exceptions`
# above). Limits are not skipped then: the request is refused with SERVICE_UNAVAILABLE (HTTP 503,
# `Retry-After`) like a database outage, and `/readyz` answers 503 until the storage is back.
LimitsUnavailable = StorageError
LIMITS_UNAVAILABLE = "The rate limits cannot be counted at the moment; try again shortly."


SIGN_IN = "sign-in"


class SignInThrottled(Throttled):
    """A sign-in or registration refused by `SIGN_IN_RATE` or `SIGN_IN_GLOBAL_RATE`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttle:
    """One per app; `await throttle.hit(client, "codes")` or THROTTLED with when to retry."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.rate = parse(settings.code_lookup_rate)
        self.sign_in_rate = parse(settings.sign_in_rate)
        self.sign_in_global_rate = parse(settings.sign_in_global_rate)

    async def hit(self, client: str, scope: str) -> None:
        if await self.limiter.hit(self.rate, scope, client):
            return
        wait = await self._wait(self.rate, scope, client)
        raise Throttled(f"Too many look-ups; try again in {wait} seconds.")

    async def hit_sign_in(self, address: str | None) -> None:
        """Count one operation that checks or hashes a password (sign-in, registration) for the
        client address and for everyone: argon2 is slow on purpose, and these rates bound the work
        anonymous clients can ask for. SignInThrottled past either rate."""
        client = f"ip:{address or 'unknown'}"
        if not await self.limiter.hit(self.sign_in_rate, SIGN_IN, client):
            wait = await self._wait(self.sign_in_rate, SIGN_IN, client)
            raise SignInThrottled(f"Too many sign-ins from your address; try again in {wait} seconds.", wait)
        if not await self.limiter.hit(self.sign_in_global_rate, SIGN_IN, "everyone"):
            wait = await self._wait(self.sign_in_global_rate, SIGN_IN, "everyone")
            raise SignInThrottled(f"The server has too many sign-ins at the moment; try again in {wait} seconds.", wait)

    async def _wait(self, rate: RateLimitItem, scope: str, client: str) -> int:
        """Seconds until the window has room again."""
        stats = await self.limiter.get_window_stats(rate, scope, client)
        return max(1, int(stats.reset_time - time.time()) + 1)

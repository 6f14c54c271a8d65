"""Query budgets: each client (API key, else user, else IP address) may spend `QUERY_BUDGET`
cost points per minute on GraphQL operations (see `schema/guards/cost.py` for what costs what).

The `limits` library's sliding window counter keeps the count: what was spent in the
previous minute weighs less and less as the current minute goes on, so the budget comes
back gradually rather than all at once. In memory by default (one process); point
`RATE_LIMIT_STORAGE` at Redis to share the budgets between workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from partner_portal.settings import Settings

NAMESPACE = "query-cost"


@dataclass(frozen=True, slots=True)
class Balance:
    """A client's budget after a spending: `retry_after` (seconds) is set when it was refused."""

    limit: int
    remaining: int
    retry_after: int | None = None


class QueryBudget:
    """One per app: `await budget.spend(client, cost)`, counted in `storage` (`throttle.limits_storage`)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.item = RateLimitItemPerMinute(settings.query_budget)

    async def spend(self, client: str, cost: int) -> Balance:
        """Take `cost` points from the client's budget, or nothing when they do not fit."""
        allowed = cost == 0 or await self.limiter.hit(self.item, NAMESPACE, client, cost=cost)
        previous, previous_ttl, current, current_ttl = await self.storage.get_sliding_window(
            self.item.key_for(NAMESPACE, client), self.item.get_expiry()
        )
        balance = self._balance(previous, previous_ttl, current)
        if allowed:
            return balance
        wait = self._seconds_until_fits(cost, previous, previous_ttl, current, current_ttl)
        return Balance(balance.limit, balance.remaining, wait)

    async def balance(self, client: str) -> Balance:
        previous, previous_ttl, current, _ = await self.storage.get_sliding_window(
            self.item.key_for(NAMESPACE, client), self.item.get_expiry()
        )
        return self._balance(previous, previous_ttl, current)

    def _balance(self, previous: int, previous_ttl: float, current: int) -> Balance:
        window = self.item.get_expiry()
        spent = math.floor(previous * previous_ttl / window + current)
        return Balance(self.item.amount, max(0, self.item.amount - spent))

    def _seconds_until_fits(
        self, cost: int, previous: int, previous_ttl: float, current: int, current_ttl: float
    ) -> int:
        """When the weighted count will have dropped enough for `cost` more points.

        The weighted count is `previous × previous_ttl / window + current`. While the current
        window lasts, only the previous count fades; after it, the current count becomes the
        previous one and fades over a whole window."""
        window = self.item.get_expiry()
        room = self.item.amount - cost
        if current <= room:
            wait = previous_ttl - (room - current) * window / previous if previous else 0.0
        else:
            wait = max(0.0, current_ttl - window) + window * (1 - room / current)
        return max(1, math.ceil(wait))

"""tortoise's PostgreSQL (asyncpg) client whose pool hands connections out in the order they were
asked for. The engine `models.asyncpg_client` (see models/db.py).

(tortoise chooses the migrations' schema editor by the client's module name, hence "asyncpg" in it.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from tortoise.backends.asyncpg import AsyncpgDBClient


class FairPool:
    """asyncpg's pool behind a first-come, first-served gate of as many turns as it has connections.

    asyncpg keeps its free connections in an `asyncio.LifoQueue`. When a connection comes back, the
    longest waiter is woken, but a request that arrives before that waiter runs takes the connection
    first (`Queue.get` finds one free), and the waiter queues again at the end. Under load the newest
    requests are served first and some wait hundreds of milliseconds; every lost turn is also one
    more wake-up. `asyncio.Semaphore` hands a released turn to its first waiter and lets no one pass
    while others wait, so no more than `max_size` callers ever reach the pool, which then always has
    a connection for them. Everything but acquiring and releasing is the pool's own.
    """

    def __init__(self, pool: Any) -> None:  # an `asyncpg.Pool`
        self.pool = pool
        self.turns = asyncio.Semaphore(pool.get_max_size())

    async def acquire(self) -> Any:
        await self.turns.acquire()
        try:
            return await self.pool.acquire()
        except BaseException:
            self.turns.release()
            raise

    async def release(self, connection: Any) -> None:
        try:
            await self.pool.release(connection)
        finally:
            self.turns.release()

    def __getattr__(self, name: str) -> Any:  # close, terminate, expire_connections, sizes
        return getattr(self.pool, name)


class FairAsyncpgClient(AsyncpgDBClient):
    """tortoise's asyncpg client with its pool behind `FairPool`. tortoise acquires and releases
    pooled connections through `_pool.acquire()` and `_pool.release()` only, for single statements
    and for transactions alike."""

    async def create_pool(self, **kwargs: Any) -> FairPool:  # stands in for the pool
        return FairPool(await super().create_pool(**kwargs))


client_class = FairAsyncpgClient  # what tortoise looks for in an engine module

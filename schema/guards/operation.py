"""The checks an operation passes after validation and before it runs, as one schema extension.

strawberry makes each schema extension anew for every request and asks each, at each of the four
stages of an operation, for its hook: with a guard per extension that bookkeeping was a sixth of a
trivial query's time in the server (docs/performance.md). So the guards that shape parsing and
validation live in the parser and validation caches (`limits.py`), and these run here in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from strawberry.extensions import SchemaExtension

from partner_portal.schema.guards.cost import QueryCost
from partner_portal.schema.guards.limits import refuse_over_sign_in_rate
from partner_portal.schema.guards.text_guard import refuse_unstorable_text


class OperationGuards(SchemaExtension):
    """The query cost (spent from the caller's budget), the sign-in rate, then unstorable text: the
    first refusal is the operation's result, and the checks after it do not run (an operation refused
    for its cost is not counted as a sign-in). Every response reports `extensions.cost`."""

    def __init__(self) -> None:
        super().__init__()
        self.cost = QueryCost()

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.result is None:
            execution.result = (
                await self.cost.check(execution)
                or await refuse_over_sign_in_rate(execution)
                or refuse_unstorable_text(execution)
            )
        yield

    async def get_results(self) -> dict[str, Any]:
        return {"cost": await self.cost.report(self.execution_context)}

"""Idempotency-Key: a money-moving request runs once per (principal, key).

The key is reserved before the request runs; the response is kept for repeats. The
HTTP layer (web/idempotency.py) decides when a request qualifies and what to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from partner_portal.models.clock import now
from partner_portal.models.commissions import IdempotencyRecord
from partner_portal.permissions.actor import Actor


def principal_of(actor: Actor) -> str | None:
    """Whose keys these are: the signed-in user (any session or token of theirs), else the API key."""
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    if actor.api_key_id is not None:
        return f"api_key:{actor.api_key_id}"
    return None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Either a fresh reservation (`record_id`), a kept response to repeat, or a refusal."""

    record_id: int | None = None
    replay: dict[str, Any] | None = None
    refusal: str | None = None


async def reserve(principal: str, key: str, request_hash: str) -> Reservation:
    try:
        record = await IdempotencyRecord.create(
            key=key, principal=principal, request_hash=request_hash, response=None, created_at=now()
        )
    except IntegrityError:
        seen = await IdempotencyRecord.filter(principal=principal, key=key).first().values("request_hash", "response")
        if seen is None or seen["response"] is None:
            return Reservation(refusal="A request with this Idempotency-Key is being processed; try again shortly.")
        if seen["request_hash"] != request_hash:
            return Reservation(refusal="This Idempotency-Key was used before with a different request.")
        return Reservation(replay=seen["response"])
    return Reservation(record_id=record.id)


async def keep(record_id: int, response: dict[str, Any]) -> None:
    await IdempotencyRecord.filter(id=record_id).update(response=response)


async def release(record_id: int) -> None:
    """Free the key for a retry (the request failed in a way not worth repeating)."""
    await IdempotencyRecord.filter(id=record_id).delete()

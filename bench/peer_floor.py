"""The raw floor of `python -m bench peer`: the three works as one prepared asyncpg statement each,
answered with orjson, in a bare ASGI app (`uvicorn bench.peer_floor:app`, one process).

No GraphQL, no ORM, no framework: what a request costs when the server only authenticates, runs
the statement and writes its rows. It authenticates as partner-portal does (the session token's
SHA-256 digest looked up in `session_tokens`) and checks the partner permission in SQL, as the
peer's policies do (bench/peer/policies.sql), inside the statement of the work.

POST /graphql with `{"work": "my_customers" | "dashboard" | "viewer"}` and `Authorization: Bearer
<session token>`; GET /readyz. Environment: FLOOR_DATABASE_URL, FLOOR_POOL_SIZE (default 5).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import asyncpg
import orjson

# the viewer and the partner it acts for (its first membership, holding the permission `$2`
# or one that implies it, in an approved partner, with a verified address)
_ACTOR = """
WITH viewer AS (
  SELECT t.user_id FROM session_tokens t
  WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
),
partner AS (
  SELECT m.organization_id AS id
  FROM memberships m
  JOIN users u ON u.id = m.user_id AND u.email_verified_at IS NOT NULL
  JOIN partner_profiles p ON p.organization_id = m.organization_id
  WHERE m.id = (SELECT min(first.id) FROM memberships first WHERE first.user_id = (SELECT user_id FROM viewer))
    AND m.relationship_id IS NULL
    AND (m.role = 'ADMINISTRATOR' OR m.permissions ?| $2::text[])
)
"""

ADMINISTER_CUSTOMERS = ["ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS", "MANAGE_PARTNER_PORTAL"]
MANAGE_PARTNER_PORTAL = ["MANAGE_PARTNER_PORTAL"]

# partner-portal's page query (bench/queries.py `my_customers_sql`), for the acting partner
MY_CUSTOMERS = (
    _ACTOR
    + """
SELECT r.id, r.customer_id, r.source, r.started_at, r.ended_at, r.grant_permissions::text AS grant_permissions,
       r.grant_expires_at, o.name, o.website, o.country, l.status, l.plan, l.seats, l.mrr_amount, l.currency,
       l.trial_ends_at
FROM customer_relationships r
JOIN organizations o ON o.id = r.customer_id
LEFT JOIN licenses l ON l.organization_id = r.customer_id
WHERE r.id IN (
  SELECT r2.id FROM customer_relationships r2
  WHERE r2.partner_id = (SELECT id FROM partner) AND r2.ended_at IS NULL
  ORDER BY r2.ended_at, r2.customer_name, r2.id LIMIT 101
)
ORDER BY r.customer_name, r.id
"""
)

# the dashboard's one statement (resolvers/dashboard.py), for the acting partner
DASHBOARD = (
    _ACTOR
    + """
SELECT count(r.partner_id) AS customers,
       count(r.partner_id) FILTER (WHERE r.license_status = 'ACTIVE') AS active_customers,
       count(r.partner_id) FILTER (WHERE r.license_status = 'TRIAL') AS trial_customers,
       (SELECT count(i.partner_id) FROM invitations i
        WHERE i.partner_id = partner.id AND i.status = 'OPEN' AND i.expires_at > now()) AS open_invitations,
       (SELECT coalesce(sum(c.amount), 0) FROM commissions c
        WHERE c.partner_id = partner.id AND c.status IN ('PENDING', 'APPROVED')) AS open_commission,
       (SELECT coalesce(sum(p.amount), 0) FROM payouts p
        WHERE p.partner_id = partner.id AND p.status = 'PAID') AS paid_commission,
       (SELECT pp.payout_currency FROM partner_profiles pp WHERE pp.organization_id = partner.id) AS currency
FROM partner
LEFT JOIN customer_relationships r ON r.partner_id = partner.id AND r.ended_at IS NULL
GROUP BY partner.id
"""
)

VIEWER = """
SELECT u.id, u.name FROM session_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
"""

_pool: asyncpg.Pool | None = None


def _digest(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return hashlib.sha256(token.strip().encode()).hexdigest()
    return ""


def _money(minor: int | None) -> str:
    return f"{(minor or 0) / 100:.2f}"


async def _answer(work: str, digest: str) -> dict[str, Any]:
    assert _pool is not None
    async with _pool.acquire() as connection:
        if work == "my_customers":
            rows = await connection.fetch(MY_CUSTOMERS, digest, ADMINISTER_CUSTOMERS)
            page = [dict(row) for row in rows[:100]]
            return {"data": {"myCustomers": {"rows": page, "hasNextPage": len(rows) > 100}}}
        if work == "dashboard":
            row = await connection.fetchrow(DASHBOARD, digest, MANAGE_PARTNER_PORTAL)
            if row is None:
                return {"data": {"partnerDashboard": None}}
            figures = dict(row)
            open_minor, paid_minor = int(figures.pop("open_commission")), int(figures.pop("paid_commission"))
            figures |= {
                "open_commission": _money(open_minor),
                "paid_commission": _money(paid_minor),
                "total_commission": _money(open_minor + paid_minor),
            }
            return {"data": {"partnerDashboard": figures}}
        if work == "viewer":
            row = await connection.fetchrow(VIEWER, digest)
            return {"data": {"viewer": dict(row) if row else None}}
    return {"errors": [{"message": f"unknown work {work!r}"}]}


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _send(send: Any, status: int, content: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(content)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                url = os.environ["FLOOR_DATABASE_URL"].replace("postgres://", "postgresql://", 1)
                size = int(os.environ.get("FLOOR_POOL_SIZE", "5"))
                _pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/readyz":
        await _send(send, 200, b"ok", b"text/plain")
        return
    if scope["method"] != "POST" or scope["path"] != "/graphql":
        await _send(send, 404, b'{"errors":[{"message":"not found"}]}')
        return
    try:
        work = orjson.loads(await _read_body(receive)).get("work", "")
    except orjson.JSONDecodeError:
        await _send(send, 400, b'{"errors":[{"message":"not JSON"}]}')
        return
    await _send(send, 200, orjson.dumps(await _answer(work, _digest(scope["headers"]))))

"""Faults: the database going away during requests, and processes killed in the middle of money work.

- Outage: while the database is gone `/readyz` answers 503 and GraphQL requests fail fast with
  `SERVICE_UNAVAILABLE` (HTTP 503); once it is back everything answers again, without a restart.
- Killed jobs: `partner-portal jobs run payouts|commissions` is SIGKILLed half-way (when the rows it
  writes are seen changing from here), run again to completion, and the ledger is reconciled
  from the raw rows.
- Killed server: a uvicorn process recording payments is SIGKILLed half-way and restarted; every
  payment is then sent again: each external id counts once, and replays answer as the first time.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tortoise import connections
from tortoise.functions import Count, Sum

from partner_portal.models.billing import Payment
from partner_portal.models.commissions import Commission
from partner_portal.models.organizations import Organization
from partner_portal.models.partners import PartnerProfile
from partner_portal.models.payouts import Payout, PayoutSettings
from partner_portal.settings import Settings
from tests.commission_world import World, commission_world, customer, rule
from tests.conftest import Api
from tests.documents import REGISTER
from tests.servers import CHILD_APPLICATION, Server, child_environment
from tests.support import pk, register

PUBLIC_DIRECTORY = "query { partnerDirectory(first: 5) { totalCount } }"
VIEWER = "query { viewer { id email } }"
CLI = str(Path(sys.executable).with_name("partner-portal"))
# "Does not hang" (the SQLite client once waited forever after a failed reconnect), not a speed:
# generous, so a busy machine does not fail it.
HANG_SECONDS = 60.0
POLL_SECONDS = 0.01


# --- the database going away --------------------------------------------------------------------------


class SqliteOutage:
    """Takes a SQLite file away (a directory stands in its place) and brings it back."""

    def __init__(self, database_url: str) -> None:
        self.path = Path(Settings(database_url=database_url).sqlite_path())
        self.aside = self.path.with_name(self.path.name + ".aside")

    async def start(self) -> None:
        # The open connection keeps the old file alive: close it so the app must reconnect.
        await connections.close_all(discard=False)
        self.path.rename(self.aside)
        self.path.mkdir()

    async def end(self) -> None:
        if self.aside.exists():
            self.path.rmdir()
            self.aside.rename(self.path)


class PostgresOutage:
    """Refuses new connections to the database and ends the open ones, then allows them again."""

    def __init__(self, database_url: str) -> None:
        url = urlsplit(database_url)
        self.database = url.path.lstrip("/")
        self.admin_url = url._replace(path="/postgres").geturl()

    async def _admin(self, *statements: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.admin_url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def start(self) -> None:
        await self._admin(
            f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.database}'",
        )

    async def end(self) -> None:
        await self._admin(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')


@pytest.fixture
async def outage(api: Api) -> AsyncIterator[SqliteOutage | PostgresOutage]:
    url = api.settings.database_url
    taken = PostgresOutage(url) if url.startswith("postgres") else SqliteOutage(url)
    try:
        yield taken
    finally:
        await taken.end()


async def graphql(api: Api, query: str, variables: dict | None = None, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with asyncio.timeout(HANG_SECONDS):
        return await api.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["SERVICE_UNAVAILABLE"] * len(errors), errors
    assert "database is unavailable" in errors[0]["message"]


async def test_readyz_is_503_while_the_database_is_gone(api, outage):
    # given
    assert (await api.client.get("/readyz")).status_code == 200

    # when
    await outage.start()
    async with asyncio.timeout(HANG_SECONDS):
        response = await api.client.get("/readyz")

    # then
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unreachable",
        "migrations": "unknown",
        "rateLimitStorage": "ok",
    }


async def test_readyz_is_200_again_once_the_database_is_back(api, outage):
    # given
    await outage.start()
    assert (await api.client.get("/readyz")).status_code == 503

    # when
    await outage.end()
    async with asyncio.timeout(HANG_SECONDS):
        response = await api.client.get("/readyz")

    # then
    assert response.status_code == 200


async def test_a_query_during_the_outage_is_a_503_with_service_unavailable(api, outage):
    # given
    await outage.start()

    # when
    response = await graphql(api, PUBLIC_DIRECTORY)

    # then
    assert_unavailable(response)


async def test_a_signed_in_request_during_the_outage_is_a_503_not_a_bare_500(api, outage):
    # given: authentication itself needs the database
    person = await register(api, "ada@example.com")
    await outage.start()

    # when
    response = await graphql(api, VIEWER, token=person.token)

    # then
    assert_unavailable(response)


async def test_a_mutation_during_the_outage_fails_cleanly_and_works_once_the_database_is_back(api, outage):
    # given
    await outage.start()
    variables = {"input": {"email": "ada@example.com", "password": "a-Sturdy-passphrase-42", "name": "Ada"}}

    # when: a transaction cannot begin
    during = await graphql(api, REGISTER, variables)
    await outage.end()
    after = await graphql(api, REGISTER, variables)

    # then
    assert_unavailable(during)
    assert after.status_code == 200
    assert after.json()["data"]["register"]["errors"] == []


async def test_concurrent_requests_during_the_outage_all_fail_fast_and_then_all_succeed(api, outage):
    # given: the reconnect fails for many requests at once (the SQLite client's lock must not leak)
    person = await register(api, "ada@example.com")
    await outage.start()

    # when
    during = await asyncio.gather(
        *(graphql(api, VIEWER, token=person.token) for _ in range(10)),
        *(graphql(api, PUBLIC_DIRECTORY) for _ in range(10)),
    )
    await outage.end()
    after = await asyncio.gather(*(graphql(api, VIEWER, token=person.token) for _ in range(10)))

    # then
    for response in during:
        assert_unavailable(response)
    assert [r.json()["data"] for r in after] == [{"viewer": {"id": person.user_id, "email": person.email}}] * 10


# --- processes killed half-way ------------------------------------------------------------------------


async def run_cli(database_url: str, *arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        CLI,
        *arguments,
        env=child_environment(database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=2 * HANG_SECONDS)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def kill_half_way(
    process: asyncio.subprocess.Process, progress: Callable[[], Awaitable[int]], total: int, at_least: int = 1
) -> int:
    """SIGKILL the process as soon as `progress()` (a row count read from here) has reached
    `at_least` and before it reaches `total`; the progress once the database is done with what the
    process had sent (asserted to be half-way)."""
    async with asyncio.timeout(HANG_SECONDS):
        while (done := await progress()) < at_least:
            assert process.returncode is None, "the process ended before doing anything"
            await asyncio.sleep(POLL_SECONDS)
    process.kill()
    await process.wait()
    await child_sessions_ended()
    done = await progress()
    assert 0 < done < total, f"not killed half-way: {done} of {total}"
    return done


async def child_sessions_ended() -> None:
    """On PostgreSQL, wait until the killed process's sessions are gone: a COMMIT it sent just
    before it died may still be running (SQLite commits inside the process)."""
    client = connections.get("default")
    if client.capabilities.dialect != "postgres":
        return
    async with asyncio.timeout(HANG_SECONDS):
        while (  # noqa: ASYNC110 — PostgreSQL is asked: there is nothing to await
            await client.execute_query_dict(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [CHILD_APPLICATION]
            )
        )[0]["n"]:
            await asyncio.sleep(POLL_SECONDS)


async def start_job(database_url: str, name: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CLI,
        "jobs",
        "run",
        name,
        env=child_environment(database_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def make_partners(count: int, currency: str = "USD") -> list[int]:
    """Partners straight into the database (many of them, fast): profile and automatic PayPal payouts."""
    moment = datetime.now(UTC)
    await Organization.bulk_create([Organization(name=f"Partner {i}") for i in range(count)])
    ids = list(await Organization.filter(name__startswith="Partner ").order_by("id").values_list("id", flat=True))
    await PartnerProfile.bulk_create(
        [PartnerProfile(organization_id=i, code=f"P{i:08d}", payout_currency=currency, approved_at=moment) for i in ids]
    )
    await PayoutSettings.bulk_create(
        [
            PayoutSettings(
                partner_id=i, method="PAYPAL", paypal_email=f"p{i}@example.com", automatic=True, updated_at=moment
            )
            for i in ids
        ]
    )
    return ids


def line(
    partner_id: int, n: int, amount: int, status: str, currency: str = "USD", hold_until: datetime | None = None
) -> Commission:
    moment = datetime.now(UTC)
    return Commission(
        source_key=f"payment:{n}",
        partner_id=partner_id,
        type="AFFILIATE",
        status=status,
        amount=amount,
        currency=currency,
        original_amount=amount,
        original_currency=currency,
        hold_until=hold_until,
        created_at=moment,
    )


async def ledger_totals() -> tuple[int, int]:
    row = await Commission.all().annotate(lines=Count("id"), total=Sum("amount")).first().values("lines", "total")
    return int(row["lines"]), int(row["total"] or 0)


async def payouts_count() -> int:
    return await Payout.all().count()


@pytest.mark.slow  # a job in a child process, killed and run again
async def test_a_payout_run_killed_half_way_and_run_again_pays_every_line_once(api):
    # given: 160 partners over the threshold (150.00 USD), 10 below it, each with approved lines
    # (a negative refund line among them), pending lines that are not payable yet, and lines in
    # another currency than the payout's
    url = api.settings.database_url
    partners = await make_partners(170)
    payable_partners, small_partners = partners[:160], partners[160:]
    lines, n = [], 0
    for partner in payable_partners:
        for amount in (9000, 7000, 4000, -1000):
            lines.append(line(partner, n := n + 1, amount, "APPROVED"))
        lines.append(line(partner, n := n + 1, 5000, "PENDING"))
        lines.append(line(partner, n := n + 1, 8000, "APPROVED", currency="EUR"))
    for partner in small_partners:
        lines.append(line(partner, n := n + 1, 14999, "APPROVED"))
    await Commission.bulk_create(lines, batch_size=500)
    before = await ledger_totals()

    # when: the run is killed half-way, then run again to completion
    killed_at = await kill_half_way(await start_job(url, "payouts"), payouts_count, len(payable_partners))
    summary = await run_cli(url, "jobs", "run", "payouts")
    again = await run_cli(url, "jobs", "run", "payouts")

    # then: each payable partner has exactly one payout of 190.00 holding exactly its approved USD lines
    assert f"{len(payable_partners) - killed_at} payout(s) created" in summary
    assert "0 payout(s) created" in again
    payouts = await Payout.all().values("id", "partner_id", "amount", "currency", "status")
    assert sorted(p["partner_id"] for p in payouts) == sorted(payable_partners)
    assert {(p["amount"], p["currency"], p["status"]) for p in payouts} == {(19000, "USD", "REQUESTED")}
    claimed = (
        await Commission.filter(payout_id__not_isnull=True)
        .group_by("payout_id")
        .annotate(total=Sum("amount"), lines=Count("id"))
        .values("payout_id", "total", "lines")
    )
    assert {row["payout_id"]: (int(row["total"]), row["lines"]) for row in claimed} == {
        p["id"]: (19000, 4) for p in payouts
    }
    # every claimed line is its partner's own, approved, in the payout currency
    mismatched = await Commission.filter(payout_id__not_isnull=True).exclude(status="APPROVED", currency="USD").count()
    assert mismatched == 0
    owners = await Commission.filter(payout_id__not_isnull=True).values("partner_id", "payout__partner_id")
    assert all(row["partner_id"] == row["payout__partner_id"] for row in owners)
    # nothing else was claimed, and the ledger itself is unchanged
    assert (
        await Commission.filter(
            payout_id=None, status="APPROVED", currency="USD", partner_id__in=payable_partners
        ).count()
        == 0
    )
    assert await Commission.filter(payout_id__not_isnull=True, partner_id__in=small_partners).count() == 0
    assert await ledger_totals() == before


@pytest.mark.slow  # a job in a child process, killed and run again
async def test_a_release_run_killed_half_way_and_run_again_releases_every_due_line_once(api):
    # given: 6000 held lines whose hold ended, 500 still held, and reversed lines
    url = api.settings.database_url
    [partner] = await make_partners(1)
    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=30)
    due = [line(partner, n, 100 + n % 7, "PENDING", hold_until=past) for n in range(6000)]
    held = [line(partner, 10_000 + n, 300, "PENDING", hold_until=future) for n in range(500)]
    reversed_lines = [line(partner, 20_000 + n, -50, "REVERSED", hold_until=past) for n in range(100)]
    await Commission.bulk_create(due + held + reversed_lines, batch_size=1000)
    before = await ledger_totals()

    async def released() -> int:
        return await Commission.filter(status="APPROVED").count()

    # when
    killed_at = await kill_half_way(await start_job(url, "commissions"), released, len(due))
    summary = await run_cli(url, "jobs", "run", "commissions")
    again = await run_cli(url, "jobs", "run", "commissions")

    # then: every due line released once (the rerun released exactly the rest), the others untouched
    assert f"{len(due) - killed_at} commission line(s) released" in summary
    assert "0 commission line(s) released" in again
    statuses = (
        await Commission.all()
        .group_by("status")
        .annotate(lines=Count("id"), total=Sum("amount"))
        .values("status", "lines", "total")
    )
    assert {row["status"]: (row["lines"], int(row["total"])) for row in statuses} == {
        "APPROVED": (len(due), sum(c.amount for c in due)),
        "PENDING": (len(held), 300 * len(held)),
        "REVERSED": (len(reversed_lines), -50 * len(reversed_lines)),
    }
    assert await Commission.filter(status="APPROVED", hold_until__gt=datetime.now(UTC)).count() == 0
    assert await ledger_totals() == before


# --- a server killed while recording payments -----------------------------------------------------------


@pytest.fixture
async def world(api) -> World:
    return await commission_world(api)


@pytest.fixture
async def server(api) -> AsyncIterator[Server]:
    running = Server(api.settings.database_url)
    try:
        yield running
    finally:
        await running.kill()


RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id externalId } commission { id } errors { code } }
}"""


@pytest.mark.slow  # a server process, killed and started again
async def test_payments_sent_to_a_server_killed_half_way_count_once_after_the_restart(api, world, server):
    # given: a customer of Northwind (SELF, 20 %), and a billing system sending 120 payments
    # with 4 requests in flight at a time
    await rule(api, world, program="SERVICE_PARTNER", rate="20.00", holdDays=0)
    _, customer_id = await customer(api, "Contoso Ltd", choose=world.northwind)
    external_ids = [f"inv-{i:04d}" for i in range(120)]
    paid_at = datetime.now(UTC).isoformat()
    first_answers: dict[str, dict] = {}

    async def send(client: httpx.AsyncClient, external_id: str) -> dict:
        response = await client.post(
            "/graphql",
            headers={"x-api-key": world.key},
            json={
                "query": RECORD_PAYMENT,
                "variables": {
                    "input": {
                        "externalId": external_id,
                        "organizationId": customer_id,
                        "amount": {"amount": "100.00", "currency": "EUR"},
                        "paidAt": paid_at,
                    }
                },
            },
        )
        assert response.status_code == 200, response.text
        payload = response.json()["data"]["recordPayment"]
        assert payload["errors"] == [], payload
        return payload

    async def billing_system(queue: asyncio.Queue[str]) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            while not queue.empty():
                external_id = queue.get_nowait()
                try:
                    first_answers[external_id] = await send(client, external_id)
                except httpx.TransportError:
                    return  # the server died under this request

    # when: the server is killed half-way, restarted, and every payment is sent again
    await server.start()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for external_id in external_ids:
        queue.put_nowait(external_id)
    senders = [asyncio.create_task(billing_system(queue)) for _ in range(4)]
    await kill_half_way(server.process, Payment.all().count, len(external_ids), at_least=len(external_ids) // 4)
    await asyncio.gather(*senders)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        replies = {external_id: await send(client, external_id) for external_id in external_ids}

    # then: one payment and one commission line per external id; replays answer as the first time
    assert 0 < len(first_answers) < len(external_ids)
    for external_id, answer in first_answers.items():
        assert replies[external_id] == answer
    rows = await Payment.all().values("id", "external_id")
    assert sorted(row["external_id"] for row in rows) == external_ids
    assert {replies[row["external_id"]]["payment"]["id"] for row in rows} == {
        replies[e]["payment"]["id"] for e in external_ids
    }
    assert {pk(reply["payment"]["id"]) for reply in replies.values()} == {row["id"] for row in rows}
    lines = await Commission.filter(partner_id=pk(world.northwind.id)).values("source_key", "amount")
    assert sorted(row["source_key"] for row in lines) == sorted(f"payment:{row['id']}" for row in rows)
    assert sum(row["amount"] for row in lines) == 2000 * len(external_ids)

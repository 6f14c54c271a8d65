"""The mail outbox: written in the change's transaction, delivered through a real SMTP
server with retries and backoff, logged in development, visible to operators, run as a job."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from partner_portal import cli
from partner_portal.integrations.smtp import InvalidSmtpUrl, SmtpServer
from partner_portal.models.outbox import OutboxMessage, OutboxStatus
from partner_portal.resolvers.jobs import JOBS, PeriodicJob, lock_key, run_job
from partner_portal.resolvers.mail import queue_mail
from partner_portal.resolvers.outbox import LOGGED_NOTE, backoff, claim_due, deliver_due, lease
from tests.conftest import POSTGRES_URL, START, free_port, start_api, test_settings
from tests.support import make_operator, register

OUTBOX_MESSAGES = """
query Outbox($status: OutboxStatus, $first: Int) {
  outboxMessages(status: $status, first: $first) {
    totalCount
    edges { node {
      id kind recipient subject textBody htmlBody language status attempts nextAttemptAt lastError note
      createdAt sentAt
    } }
  }
}"""
NODE = "query Node($id: ID!) { node(id: $id) { ... on OutboxMessage { recipient status } } }"

REJECTED = {"organization_name": "Acme GmbH", "note": "We need a company website."}


async def _queue(
    to: str = "anna@acme.example",
    *,
    language: str | None = "en",
    context: dict | None = None,
    template: str = "application_rejected",
) -> None:
    async with in_transaction():
        await queue_mail(to=to, template=template, language=language, context=context or REJECTED)


async def _rows() -> list[dict]:
    return await OutboxMessage.all().order_by("id").values()


def _with_smtp(api, url: str | None, **overrides):
    return api.settings.model_copy(update={"smtp_url": url, **overrides})


def _parts(message) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


async def test_a_queued_mail_is_delivered_with_text_and_html_in_the_recipients_language(api, smtp_server, clock):
    settings = _with_smtp(api, smtp_server.url)
    invitation = {
        "partner_name": "Northwind IT",
        "organization_name": "Acme GmbH",
        "message": "",
        "link": "https://portal.example/invitations/t0k3n",
        "expires_at": START + timedelta(days=14),
    }
    await _queue("anna@acme.example", language="de-DE", context=invitation, template="invitation")

    report = await deliver_due(settings)

    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    [message] = smtp_server.messages
    assert message["To"] == "anna@acme.example"
    assert message["From"] == settings.mail_from
    assert message["Subject"] == "Northwind IT lädt Acme GmbH in das Partnerportal ein"
    assert message["Content-Language"] == "de"
    assert message["Message-ID"].endswith("@localhost>")
    assert message.get_content_type() == "multipart/alternative"
    parts = _parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    assert "Nehmen Sie die Einladung an" in parts["text/plain"]
    assert "https://portal.example/invitations/t0k3n" in parts["text/plain"]
    assert '<html lang="de">' in parts["text/html"] and "Einladung annehmen" in parts["text/html"]
    assert smtp_server.envelopes == [("partners@localhost", ["anna@acme.example"])]
    [row] = await _rows()
    assert row["status"] == OutboxStatus.SENT
    assert (row["attempts"], row["sent_at"], row["last_error"], row["note"]) == (1, START, None, None)


async def test_a_sent_mail_is_not_sent_again(api, smtp_server, clock):
    settings = _with_smtp(api, smtp_server.url)
    await _queue()

    await deliver_due(settings)
    clock.shift(timedelta(days=1))
    report = await deliver_due(settings)

    assert report.handled == 0
    assert len(smtp_server.messages) == 1


async def test_a_mail_queued_in_a_transaction_that_rolls_back_is_never_sent(api, smtp_server):
    settings = _with_smtp(api, smtp_server.url)

    class ChangeFailed(Exception):
        pass

    with pytest.raises(ChangeFailed):  # noqa: PT012 — raised inside the transaction, to roll it back
        async with in_transaction():
            await queue_mail(to="anna@acme.example", template="application_rejected", language="en", context=REJECTED)
            raise ChangeFailed()

    report = await deliver_due(settings)

    assert report.handled == 0
    assert smtp_server.messages == []
    assert await OutboxMessage.all().count() == 0


async def test_a_failed_delivery_is_retried_with_backoff_and_marked_failed_after_the_last_attempt(api, clock):
    settings = _with_smtp(api, f"smtp://127.0.0.1:{free_port()}", outbox_max_attempts=3)  # nothing listens
    await _queue()

    first = await deliver_due(settings)

    assert (first.retrying, first.failed) == (1, 0)
    [row] = await _rows()
    assert row["status"] == OutboxStatus.PENDING and row["attempts"] == 1
    assert row["next_attempt_at"] == START + timedelta(minutes=1)
    assert row["last_error"]

    # not due before its time
    clock.shift(timedelta(seconds=59))
    assert (await deliver_due(settings)).handled == 0

    clock.shift(timedelta(seconds=1))
    second = await deliver_due(settings)
    assert second.retrying == 1
    [row] = await _rows()
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == START + timedelta(minutes=1) + timedelta(minutes=2)

    clock.shift(timedelta(minutes=2))
    third = await deliver_due(settings)
    assert (third.retrying, third.failed) == (0, 1)
    [row] = await _rows()
    assert row["status"] == OutboxStatus.FAILED and row["attempts"] == 3 and row["sent_at"] is None

    clock.shift(timedelta(days=30))
    assert (await deliver_due(settings)).handled == 0


async def test_an_unreachable_server_fails_the_rest_of_the_batch_at_once(api, clock):
    settings = _with_smtp(api, f"smtp://127.0.0.1:{free_port()}")
    await _queue("anna@acme.example")
    await _queue("ben@acme.example")

    report = await deliver_due(settings)

    assert report.retrying == 2
    first, second = await _rows()
    assert first["last_error"].startswith("SMTPConnectError")
    assert second["last_error"].startswith("SmtpUnavailable: SMTPConnectError")


def test_the_backoff_doubles_from_one_minute_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(50) == timedelta(hours=6)


async def test_a_message_is_not_sent_twice_when_two_workers_run_at_once(api, smtp_server, clock):
    settings = _with_smtp(api, smtp_server.url)
    recipients = [f"person{i}@acme.example" for i in range(5)]
    for to in recipients:
        await _queue(to)

    reports = await asyncio.gather(deliver_due(settings), deliver_due(settings), deliver_due(settings))

    assert sum(r.sent for r in reports) == 5
    assert sorted(m["To"] for m in smtp_server.messages) == recipients
    assert {row["status"] for row in await _rows()} == {OutboxStatus.SENT}


async def test_two_claims_at_once_split_the_due_messages(api, clock):
    for i in range(6):
        await _queue(f"person{i}@acme.example")

    (first, _), (second, _) = await asyncio.gather(claim_due(api.settings, 10), claim_due(api.settings, 10))

    ids = [row["id"] for row in first.rows + second.rows]
    assert len(ids) == 6 and len(set(ids)) == 6


async def test_a_claim_abandoned_by_a_dead_worker_is_taken_over_within_minutes(api, smtp_server, clock):
    settings = _with_smtp(api, smtp_server.url)
    await _queue()
    claim, _ = await claim_due(settings)  # a worker claims it, then dies
    assert len(claim.rows) == 1

    clock.shift(lease(settings) - timedelta(seconds=1))
    assert (await deliver_due(settings)).handled == 0  # still held
    clock.shift(timedelta(seconds=2))
    report = await deliver_due(settings)

    assert report.sent == 1 and len(smtp_server.messages) == 1
    assert lease(settings) <= timedelta(minutes=5)  # not the whole batch's worst case (20 slow mails)


async def test_a_short_lease_is_extended_while_a_long_batch_goes_on(api, smtp_server, clock):
    """Each mail takes 50 s (within the per-mail limit): five outlast the first lease, yet a second
    worker looking in mid-batch finds nothing it could claim, and every mail goes once."""
    settings = _with_smtp(api, smtp_server.url)
    for i in range(5):
        await _queue(f"person{i}@acme.example")
    assert lease(settings) < 5 * timedelta(seconds=50)
    loop = asyncio.get_running_loop()
    fourth_arrived, looked = asyncio.Event(), threading.Event()
    receive = smtp_server.handle_DATA

    async def slow(server, session, envelope):  # runs in the SMTP server's thread
        clock.shift(timedelta(seconds=50))
        if len(smtp_server.messages) == 3:
            loop.call_soon_threadsafe(fourth_arrived.set)
            await asyncio.to_thread(looked.wait, 30)
        return await receive(server, session, envelope)

    smtp_server.handle_DATA = slow
    worker = asyncio.create_task(deliver_due(settings))
    await fourth_arrived.wait()
    other, due = await claim_due(settings)  # a second worker, 200 s after the claim
    looked.set()
    report = await worker

    assert (other.rows, due) == ([], 0)
    assert report.sent == 5
    assert sorted(m["To"] for m in smtp_server.messages) == [f"person{i}@acme.example" for i in range(5)]


async def test_a_graceful_stop_mid_batch_hands_the_unsent_messages_back(api, smtp_server, clock):
    """The server's worker is stopped (a rolling restart) while it sends the first of three
    mails: it finishes that one, gives the other two back, and the next worker sends them at once."""
    settings = _with_smtp(api, smtp_server.url)
    for i in range(3):
        await _queue(f"person{i}@acme.example")
    loop = asyncio.get_running_loop()
    first_arrived, stop_asked = asyncio.Event(), threading.Event()
    receive = smtp_server.handle_DATA

    async def held(server, session, envelope):  # runs in the SMTP server's thread
        if not smtp_server.messages:
            loop.call_soon_threadsafe(first_arrived.set)
            await asyncio.to_thread(stop_asked.wait, 30)
        return await receive(server, session, envelope)

    smtp_server.handle_DATA = held
    worker = PeriodicJob("outbox", settings, 60).start()
    await first_arrived.wait()
    stopped = asyncio.create_task(worker.stop(grace=30))
    await asyncio.sleep(0)  # stop() has asked the round to end
    stop_asked.set()
    await stopped

    assert [m["To"] for m in smtp_server.messages] == ["person0@acme.example"]
    rows = await _rows()
    assert [row["status"] for row in rows] == [OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.PENDING]
    assert [(row["attempts"], row["claim_token"], row["claimed_until"]) for row in rows[1:]] == [(0, None, None)] * 2
    report = await deliver_due(settings)  # the next worker, at the same moment
    assert report.sent == 2
    assert sorted(m["To"] for m in smtp_server.messages) == [f"person{i}@acme.example" for i in range(3)]


async def test_a_cancelled_round_hands_its_whole_batch_back(api, smtp_server, clock):
    """A stop whose grace runs out cancels the mail in flight: it goes back too (it may have
    arrived: delivery is at least once), with the rest of the batch."""
    settings = _with_smtp(api, smtp_server.url)
    for i in range(2):
        await _queue(f"person{i}@acme.example")
    loop = asyncio.get_running_loop()
    first_arrived, cancelled = asyncio.Event(), threading.Event()
    receive = smtp_server.handle_DATA

    async def stuck(server, session, envelope):  # runs in the SMTP server's thread
        loop.call_soon_threadsafe(first_arrived.set)
        await asyncio.to_thread(cancelled.wait, 30)
        return await receive(server, session, envelope)

    smtp_server.handle_DATA = stuck
    worker = PeriodicJob("outbox", settings, 60).start()
    await first_arrived.wait()
    await worker.stop(grace=0)
    cancelled.set()

    rows = await _rows()
    assert [(row["status"], row["attempts"], row["claim_token"]) for row in rows] == [
        (OutboxStatus.PENDING, 0, None)
    ] * 2


async def test_without_smtp_url_mails_are_logged_and_kept(api, clock, caplog):
    settings = _with_smtp(api, None)
    await _queue("anna@acme.example", language="de")

    with caplog.at_level(logging.INFO, logger="partner_portal.mail"):
        report = await deliver_due(settings)

    assert (report.logged, report.sent) == (1, 0)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "partner_portal.mail")
    assert "anna@acme.example" in logged
    assert "Ihre Partnerbewerbung für Acme GmbH" in logged
    assert "We need a company website." in logged
    [row] = await _rows()
    assert row["status"] == OutboxStatus.SENT and row["note"] == LOGGED_NOTE and row["sent_at"] == START
    assert row["payload"]["html"].startswith("<!DOCTYPE html>")


async def test_operators_read_the_outbox(api, clock):
    operator = await register(api, "olivia@vendor.example")
    await make_operator(api, operator, ["MANAGE_PROGRAMS"])
    await _queue("anna@acme.example", language="de")
    await deliver_due(_with_smtp(api, None))
    await _queue("ben@acme.example")

    everything = (await api.data(OUTBOX_MESSAGES, token=operator.token))["outboxMessages"]
    pending = (await api.data(OUTBOX_MESSAGES, {"status": "PENDING"}, token=operator.token))["outboxMessages"]

    assert everything["totalCount"] == 2
    newest, oldest = (edge["node"] for edge in everything["edges"])
    assert newest["recipient"] == "ben@acme.example" and newest["status"] == "PENDING"
    assert newest["attempts"] == 0 and newest["sentAt"] is None and newest["nextAttemptAt"] is not None
    assert oldest["recipient"] == "anna@acme.example"
    assert oldest["kind"] == "email" and oldest["language"] == "de"
    assert oldest["subject"] == "Ihre Partnerbewerbung für Acme GmbH"
    assert "We need a company website." in oldest["textBody"]
    assert oldest["htmlBody"].startswith("<!DOCTYPE html>")
    assert (oldest["status"], oldest["attempts"], oldest["lastError"]) == ("SENT", 1, None)
    assert oldest["note"] == LOGGED_NOTE and oldest["sentAt"] is not None and oldest["nextAttemptAt"] is None
    assert [e["node"]["recipient"] for e in pending["edges"]] == ["ben@acme.example"]
    node = (await api.data(NODE, {"id": oldest["id"]}, token=operator.token))["node"]
    assert node == {"recipient": "anna@acme.example", "status": "SENT"}


async def test_in_production_bodies_are_withheld_because_they_carry_links(database_url, clock):
    settings = test_settings(database_url, environment="production")
    async for api in start_api(settings):
        operator = await register(api, "olivia@vendor.example")
        await make_operator(api, operator, ["MANAGE_PROGRAMS"])
        await _queue("anna@acme.example")

        edges = (await api.data(OUTBOX_MESSAGES, token=operator.token))["outboxMessages"]["edges"]

        assert {edge["node"]["recipient"] for edge in edges} == {"olivia@vendor.example", "anna@acme.example"}
        assert all(edge["node"]["subject"] for edge in edges)  # the registration link to olivia included
        assert all(edge["node"]["textBody"] is None and edge["node"]["htmlBody"] is None for edge in edges)


async def test_the_outbox_is_hidden_from_everybody_else(api, clock):
    member = await register(api, "member@acme.example")
    reviewer = await register(api, "reviewer@vendor.example")
    await make_operator(api, reviewer, ["REVIEW_PARTNERS"])
    operator = await register(api, "olivia@vendor.example")
    await make_operator(api, operator, ["MANAGE_PROGRAMS"])
    await _queue()
    message_id = (await api.data(OUTBOX_MESSAGES, token=operator.token))["outboxMessages"]["edges"][0]["node"]["id"]

    assert await api.error_code(OUTBOX_MESSAGES) == "UNAUTHENTICATED"
    assert await api.error_code(OUTBOX_MESSAGES, token=member.token) == "FORBIDDEN"
    assert await api.error_code(OUTBOX_MESSAGES, token=reviewer.token) == "FORBIDDEN"
    assert await api.error_code(NODE, {"id": message_id}, token=member.token) == "NOT_FOUND"
    assert await api.error_code(NODE, {"id": message_id}, token=reviewer.token) == "NOT_FOUND"


async def test_jobs_run_outbox_on_the_command_line(api, smtp_server, monkeypatch, capsys):
    await _queue("anna@acme.example")
    monkeypatch.setenv("DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("SMTP_URL", smtp_server.url)

    # As under cron: its own thread and event loop, and an empty context (to_thread would
    # copy ours, and with it the test's open tortoise context), so it opens the database itself.
    await asyncio.to_thread(contextvars.Context().run, cli.main, ["jobs", "run", "outbox"])

    assert "outbox: 1 sent, 0 logged, 0 to retry, 0 failed" in capsys.readouterr().out
    assert [m["To"] for m in smtp_server.messages] == ["anna@acme.example"]
    [row] = await _rows()
    assert row["status"] == OutboxStatus.SENT


def test_jobs_list_and_unknown_jobs_on_the_command_line(capsys):
    cli.main(["jobs", "list"])
    assert any(line.startswith("outbox ") for line in capsys.readouterr().out.splitlines())

    with pytest.raises(SystemExit) as exit_:
        cli.main(["jobs", "run", "outbox", "no-such-job"])
    assert "no-such-job" in str(exit_.value.code)


async def test_the_server_delivers_in_the_background_and_stops_cleanly(database_url, smtp_server):
    settings = test_settings(database_url, smtp_url=smtp_server.url, outbox_poll_seconds=0.02)
    async for _api in start_api(settings):
        await _queue("anna@acme.example")
        for _ in range(500):  # the worker polls every 20 ms; give it up to 5 s
            if smtp_server.messages:
                break
            await asyncio.sleep(0.01)
    # leaving start_api ran the lifespan's shutdown, which stopped the worker

    assert [m["To"] for m in smtp_server.messages] == ["anna@acme.example"]
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "job:outbox"]


async def test_a_failing_round_is_logged_and_the_worker_goes_on(api, monkeypatch, caplog):
    calls = []

    async def flaky(settings):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        return "flaky: ok"

    monkeypatch.setitem(JOBS, "flaky", flaky)
    worker = PeriodicJob("flaky", api.settings, 0.01).start()
    for _ in range(500):
        if len(calls) >= 2:
            break
        await asyncio.sleep(0.01)
    await worker.stop()

    assert len(calls) >= 2
    assert any("flaky failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_every_process_delivers_the_outbox_without_a_global_lock(api, smtp_server, clock):
    """Two workers (with their own connections on PostgreSQL) deliver at once: each its own
    claimed rows, none skipped, every mail exactly once."""
    settings = _with_smtp(api, smtp_server.url)
    recipients = [f"person{i:02}@acme.example" for i in range(30)]
    for to in recipients:
        await _queue(to)

    summaries = await asyncio.gather(run_job("outbox", settings), run_job("outbox", settings))

    assert not [summary for summary in summaries if "skipped" in summary]
    assert sorted(m["To"] for m in smtp_server.messages) == recipients
    assert {row["status"] for row in await _rows()} == {OutboxStatus.SENT}


async def test_the_outbox_runs_while_another_process_holds_a_lock_on_postgresql(api, clock):
    if not POSTGRES_URL:
        pytest.skip("advisory locks are a PostgreSQL feature")
    import asyncpg

    await _queue()
    other = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await other.execute("SELECT pg_advisory_lock($1)", lock_key("outbox"))
        assert await run_job("outbox", _with_smtp(api, None)) == "outbox: 0 sent, 1 logged, 0 to retry, 0 failed"
    finally:
        await other.close()


async def test_a_job_held_by_another_process_is_skipped_on_postgresql(api):
    if not POSTGRES_URL:
        pytest.skip("advisory locks are a PostgreSQL feature")
    import asyncpg

    other = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await other.execute("SELECT pg_advisory_lock($1)", lock_key("commissions"))
        assert await run_job("commissions", api.settings) == "commissions: skipped, another process is running it"
        await other.execute("SELECT pg_advisory_unlock($1)", lock_key("commissions"))
        assert await run_job("commissions", api.settings) == "0 commission line(s) released"
    finally:
        await other.close()


def test_smtp_urls():
    plain = SmtpServer.from_url("smtp://mailer:p%40ss%3Aword@mail.example:587")
    implicit = SmtpServer.from_url("smtps://mail.example")

    assert (plain.hostname, plain.port, plain.username, plain.password, plain.implicit_tls) == (
        "mail.example",
        587,
        "mailer",
        "p@ss:word",
        False,
    )
    assert (implicit.port, implicit.username, implicit.implicit_tls) == (465, None, True)
    assert SmtpServer.from_url("smtp://localhost").port == 25
    assert "p@ss" not in repr(plain)
    with pytest.raises(InvalidSmtpUrl):
        SmtpServer.from_url("http://mail.example")

"""The mail outbox: written in the change's transaction, delivered through a real SMTP
server with retries and backoff, logged in development, visible to operators, run as a job."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

import cli
from integrations.smtp import InvalidSmtpUrl, SmtpServer
from models.outbox import OutboxMessage, OutboxStatus
from resolvers.jobs import JOBS, PeriodicJob, lock_key, run_job
from resolvers.mail import queue_mail
from resolvers.outbox import LEASE, LOGGED_NOTE, backoff, claim_due, deliver_due
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


async def _queue(to: str = "anna@acme.example", *, language: str | None = "en", context: dict | None = None,
                 template: str = "application_rejected") -> None:
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
        "partner_name": "Northwind IT", "organization_name": "Acme GmbH", "message": "",
        "link": "https://portal.example/invitations/t0k3n", "expires_at": START + timedelta(days=14),
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

    with pytest.raises(ChangeFailed):
        async with in_transaction():
            await queue_mail(to="anna@acme.example", template="application_rejected", language="en",
                             context=REJECTED)
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

    (first, _), (second, _) = await asyncio.gather(claim_due(10), claim_due(10))

    ids = [row["id"] for row in first + second]
    assert len(ids) == 6 and len(set(ids)) == 6


async def test_a_claim_abandoned_by_a_dead_worker_is_taken_over_when_its_lease_runs_out(api, smtp_server, clock):
    settings = _with_smtp(api, smtp_server.url)
    await _queue()
    claimed, _ = await claim_due()  # a worker claims it, then dies
    assert len(claimed) == 1

    assert (await deliver_due(settings)).handled == 0
    clock.shift(LEASE + timedelta(seconds=1))
    report = await deliver_due(settings)

    assert report.sent == 1 and len(smtp_server.messages) == 1


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

        [edge] = (await api.data(OUTBOX_MESSAGES, token=operator.token))["outboxMessages"]["edges"]

        assert edge["node"]["subject"] and edge["node"]["recipient"] == "anna@acme.example"
        assert edge["node"]["textBody"] is None and edge["node"]["htmlBody"] is None


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


async def test_a_job_held_by_another_process_is_skipped_on_postgresql(api):
    if not POSTGRES_URL:
        pytest.skip("advisory locks are a PostgreSQL feature")
    import asyncpg

    other = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await other.execute("SELECT pg_advisory_lock($1)", lock_key("outbox"))
        assert await run_job("outbox", api.settings) == "outbox: skipped, another process is running it"
        await other.execute("SELECT pg_advisory_unlock($1)", lock_key("outbox"))
        assert (await run_job("outbox", api.settings)).startswith("outbox: 0 sent")
    finally:
        await other.close()


def test_smtp_urls():
    plain = SmtpServer.from_url("smtp://mailer:p%40ss%3Aword@mail.example:587")
    implicit = SmtpServer.from_url("smtps://mail.example")

    assert (plain.hostname, plain.port, plain.username, plain.password, plain.implicit_tls) == (
        "mail.example", 587, "mailer", "p@ss:word", False,
    )
    assert (implicit.port, implicit.username, implicit.implicit_tls) == (465, None, True)
    assert SmtpServer.from_url("smtp://localhost").port == 25
    assert "p@ss" not in repr(plain)
    with pytest.raises(InvalidSmtpUrl):
        SmtpServer.from_url("http://mail.example")

"""Delivering the outbox, and reading it for operators.

`deliver_due(settings)` is the worker's one step (the `outbox` job, run by
`partner-portal jobs run outbox` or by every server every OUTBOX_POLL_SECONDS; no lock:
every process delivers at once, each its own claimed rows):

1. Claim: read the ids of due messages (PENDING whose `next_attempt_at` has come, or
   SENDING whose lease ran out because a worker died), then one conditional UPDATE
   sets them SENDING with a random claim token and a lease, only where they are
   still due. Rows then carrying the worker's token are its own: two workers (tasks,
   processes, servers; SQLite or PostgreSQL) never claim the same message.
2. Send each by its kind: mail through SMTP (`integrations/smtp.py`), one connection per
   batch; webhooks as signed POSTs (`resolvers/webhooks.py`), one HTTP client per round.
   One attempt takes at most `attempt_limit` (a mail MAIL_TIME_LIMIT_SECONDS, a webhook
   WEBHOOK_TIMEOUT_SECONDS). The lease (`lease`) is short, room for two of the slowest
   attempts and their records, and is extended for the rest of the batch before an
   attempt that could outlast it: a killed worker's rows are due again within minutes.
3. Record: SENT with `sent_at`; or, on failure, `attempts + 1`, the error, and PENDING
   again after a backoff of 1, 2, 4, … minutes (at most 6 hours). Mail is FAILED once
   `attempts` reaches OUTBOX_MAX_ATTEMPTS; a webhook once 24 hours have passed since it
   was queued (its last attempt falls on that moment). Updates are conditional on the
   claim token.

Stopping: when `stopping` is set (the server shutting down), the worker ends after the
attempt in flight and hands its unsent rows back (PENDING, due at once, no attempt
counted), so that another worker sends them at once; so does a worker whose round is
cancelled, the interrupted message included.

Delivery is at least once: a worker that dies after the server accepted a mail and
before recording it sends that mail again when the lease has run out (the
Message-ID stays the same, so mail software can tell the copies apart).

Without SMTP_URL the mail is written to the log (logger `partner_portal.mail`; the
whole text in development) and marked SENT with a note; the rows stay for viewing
through `outboxMessages`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from partner_portal.integrations.smtp import DEFAULT_TIMEOUT_SECONDS, SmtpSender, SmtpServer, build_message, domain_of
from partner_portal.models.clock import now
from partner_portal.models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.requirements import PROGRAM_MANAGER
from partner_portal.resolvers import webhooks
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.settings import Settings

logger = logging.getLogger("partner_portal.outbox")
mail_logger = logging.getLogger("partner_portal.mail")

BATCH_SIZE = 20
MAX_BATCHES_PER_RUN = 50
MAIL_TIME_LIMIT_SECONDS = 2 * DEFAULT_TIMEOUT_SECONDS  # one mail, connecting to the server included
RECORD_TIME = timedelta(seconds=30)  # room to record an attempt's outcome after it ended
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
MAX_ERROR_LENGTH = 2000
LOGGED_NOTE = "Logged, not sent: SMTP_URL is not set."

CLAIMED_FIELDS = ("id", "kind", "payload", "attempts", "claim_token", "created_at")
MESSAGE_FIELDS = (
    "id",
    "kind",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "note",
    "created_at",
    "sent_at",
)


@dataclass(slots=True)
class DeliveryReport:
    """What one `deliver_due` did."""

    sent: int = 0
    logged: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.logged + self.retrying + self.failed

    def summary(self) -> str:
        return f"outbox: {self.sent} sent, {self.logged} logged, {self.retrying} to retry, {self.failed} failed"


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1, 2, 4, 8, … minutes, at most 6 hours."""
    return min(BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 20), BACKOFF_CAP)


def _due(moment: Any) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=moment) | Q(
        status=OutboxStatus.SENDING, claimed_until__lt=moment
    )


def attempt_limit(kind: str, settings: Settings) -> float:
    """The longest one attempt of a message of this kind may take, in seconds."""
    return settings.webhook_timeout_seconds if kind == OutboxKind.WEBHOOK else MAIL_TIME_LIMIT_SECONDS


def lease(settings: Settings) -> timedelta:
    """How long a claim holds the rows: two of the slowest attempts and their records."""
    slowest = timedelta(seconds=max(MAIL_TIME_LIMIT_SECONDS, settings.webhook_timeout_seconds))
    return 2 * (slowest + RECORD_TIME)


@dataclass(slots=True)
class Claim:
    """A worker's batch: the rows carrying its token, held until `until`."""

    token: str
    rows: list[dict[str, Any]]
    until: datetime

    def _unsent(self) -> Any:
        return OutboxMessage.filter(claim_token=self.token, status=OutboxStatus.SENDING)

    async def hold_for(self, seconds: float, settings: Settings) -> None:
        """Before an attempt of up to `seconds`: extend the lease of the unsent rows if the
        attempt and its record could outlast it."""
        moment = now()
        if moment + timedelta(seconds=seconds) + RECORD_TIME <= self.until:
            return
        self.until = moment + lease(settings)
        await self._unsent().update(claimed_until=self.until)

    async def hand_back(self) -> None:
        """Give the unsent rows back: due at once for any worker, no attempt counted."""
        await self._unsent().update(status=OutboxStatus.PENDING, claim_token=None, claimed_until=None)


async def claim_due(settings: Settings, limit: int = BATCH_SIZE) -> tuple[Claim, int]:
    """Claim up to `limit` due messages: (this worker's claim, how many were due)."""
    moment = now()
    claim = Claim(token=secrets.token_hex(16), rows=[], until=moment + lease(settings))
    candidates = await (
        OutboxMessage.filter(_due(moment)).order_by("next_attempt_at", "id").limit(limit).values_list("id", flat=True)
    )
    if not candidates:
        return claim, 0
    claimed = await OutboxMessage.filter(_due(moment), id__in=list(candidates)).update(
        status=OutboxStatus.SENDING, claim_token=claim.token, claimed_until=claim.until
    )
    if claimed:
        claim.rows = await OutboxMessage.filter(claim_token=claim.token).order_by("id").values(*CLAIMED_FIELDS)
    return claim, len(candidates)


async def deliver_due(
    settings: Settings, *, batch_size: int = BATCH_SIZE, stopping: asyncio.Event | None = None
) -> DeliveryReport:
    """Deliver every message that is due now, until `stopping` is set (see the module docstring)."""
    report = DeliveryReport()
    stopping = stopping or asyncio.Event()
    async with AsyncExitStack() as stack:
        sender: SmtpSender | None = None
        if settings.smtp_url:
            sender = await stack.enter_async_context(SmtpSender(SmtpServer.from_url(settings.smtp_url)))
        http = await stack.enter_async_context(webhooks.sender(settings))  # connects on first use
        for _ in range(MAX_BATCHES_PER_RUN):
            if stopping.is_set():
                break
            claim, due = await claim_due(settings, batch_size)
            await _deliver_batch(claim, sender, http, settings, report, stopping)
            if due < batch_size:
                break
    if report.handled:
        logger.info(report.summary())
    return report


async def _deliver_batch(
    claim: Claim,
    sender: SmtpSender | None,
    http: webhooks.WebhookSender,
    settings: Settings,
    report: DeliveryReport,
    stopping: asyncio.Event,
) -> None:
    """Send the claimed rows one by one; when a stop, a cancellation or an error ends the batch
    early, the rows not yet recorded go back."""
    done = 0
    try:
        for row in claim.rows:
            if stopping.is_set():
                break
            await claim.hold_for(attempt_limit(row["kind"], settings), settings)
            if row["kind"] == OutboxKind.WEBHOOK:
                await _deliver_webhook(row, http, settings, report)
            else:
                await _deliver(row, sender, settings, report)
            done += 1
    finally:
        if done < len(claim.rows):
            await claim.hand_back()


async def _deliver(row: dict[str, Any], sender: SmtpSender | None, settings: Settings, report: DeliveryReport) -> None:
    if row["kind"] != OutboxKind.EMAIL:
        await _record_failure(row, f"Unknown outbox kind {row['kind']!r}.", settings, report, final=True)
        return
    payload = row["payload"]
    if sender is None:
        _log_mail(row, settings)
        await _record_sent(row, note=LOGGED_NOTE)
        report.logged += 1
        return
    try:
        message = build_message(
            sender=settings.mail_from,
            to=payload["to"],
            subject=payload["subject"],
            text=payload["text"],
            html=payload["html"],
            message_id=message_id(row, settings),
            date=now(),
            language=payload.get("language"),
        )
        await _send_in_time(sender, message)
    except Exception as error:  # noqa: BLE001 — any failure is recorded and retried
        await _record_failure(row, f"{type(error).__name__}: {error}", settings, report)
    else:
        await _record_sent(row, note=None)
        report.sent += 1


async def _send_in_time(sender: SmtpSender, message: Any) -> None:
    """One mail within MAIL_TIME_LIMIT_SECONDS (aiosmtplib's own timeout is per command)."""
    limit = asyncio.timeout(MAIL_TIME_LIMIT_SECONDS)
    try:
        async with limit:
            await sender.send(message)
    except TimeoutError:
        if not limit.expired():
            raise
        raise TimeoutError(f"No answer within {MAIL_TIME_LIMIT_SECONDS:g} s.") from None


async def _deliver_webhook(
    row: dict[str, Any], http: webhooks.WebhookSender, settings: Settings, report: DeliveryReport
) -> None:
    try:
        attempt = await webhooks.deliver(row, http, settings)
    except webhooks.GiveUp as error:
        await _record_failure(row, str(error), settings, report, final=True)
        return
    except Exception as error:  # noqa: BLE001 — any failure is recorded and retried
        attempt = webhooks.Attempt(None, 0, f"{type(error).__name__}: {error}")
    if attempt.delivered:
        await _record_sent(row, note=f"HTTP {attempt.http_status}")
        report.sent += 1
        return
    retry = webhook_retry_at(row)
    await _record_failure(row, attempt.error or "Failed.", settings, report, final=retry is None, retry_at=retry)


def webhook_retry_at(row: dict[str, Any]) -> datetime | None:
    """After a failed webhook attempt: the next one, at the latest 24 hours after queueing; None after that."""
    deadline = row["created_at"] + webhooks.RETRY_WINDOW
    moment = now()
    if moment >= deadline:
        return None
    return min(moment + backoff(row["attempts"] + 1), deadline)


def message_id(row: dict[str, Any], settings: Settings) -> str:
    """The same Message-ID for every attempt of one outbox row."""
    stamp = int(row["created_at"].timestamp())
    return f"<outbox.{row['id']}.{stamp}@{domain_of(settings.mail_from)}>"


def _log_mail(row: dict[str, Any], settings: Settings) -> None:
    payload = row["payload"]
    if settings.is_development:
        mail_logger.info(
            "Mail #%s to %s (SMTP_URL is not set: logged, not sent)\nSubject: %s\n\n%s",
            row["id"],
            payload["to"],
            payload["subject"],
            payload["text"],
        )
    else:
        mail_logger.warning(
            "Mail #%s to %s not sent, SMTP_URL is not set: %s", row["id"], payload["to"], payload["subject"]
        )


def _mine(row: dict[str, Any]) -> Any:
    return OutboxMessage.filter(id=row["id"], claim_token=row["claim_token"], status=OutboxStatus.SENDING)


async def _record_sent(row: dict[str, Any], *, note: str | None) -> None:
    await _mine(row).update(
        status=OutboxStatus.SENT,
        attempts=row["attempts"] + 1,
        sent_at=now(),
        note=note,
        last_error=None,
        claim_token=None,
        claimed_until=None,
    )


async def _record_failure(
    row: dict[str, Any],
    error: str,
    settings: Settings,
    report: DeliveryReport,
    *,
    final: bool = False,
    retry_at: datetime | None = None,
) -> None:
    """FAILED when `final` or (without `retry_at`) at OUTBOX_MAX_ATTEMPTS; else PENDING until
    `retry_at` (default: the backoff)."""
    attempts = row["attempts"] + 1
    error = error[:MAX_ERROR_LENGTH]
    if final or (retry_at is None and attempts >= settings.outbox_max_attempts):
        await _mine(row).update(
            status=OutboxStatus.FAILED,
            attempts=attempts,
            last_error=error,
            claim_token=None,
            claimed_until=None,
        )
        report.failed += 1
        logger.error("Outbox message #%s failed for good after %d attempts: %s", row["id"], attempts, error)
        return
    retry_at = retry_at or now() + backoff(attempts)
    await _mine(row).update(
        status=OutboxStatus.PENDING,
        attempts=attempts,
        next_attempt_at=retry_at,
        last_error=error,
        claim_token=None,
        claimed_until=None,
    )
    report.retrying += 1
    logger.warning(
        "Outbox message #%s: attempt %d failed (%s); next attempt at %s",
        row["id"],
        attempts,
        error,
        retry_at.isoformat(),
    )


# --- reading, for operators -----------------------------------------------------------------


def _without_bodies(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Bodies hold single-use links (invitations): shown in development only."""
    if not settings.is_development:
        row["payload"] = {k: v for k, v in (row["payload"] or {}).items() if k not in ("text", "html")}
    return row


async def list_messages(
    actor: Actor, settings: Settings, *, status: OutboxStatus | None, first: int | None, after: str | None
) -> Page:
    """Newest first, optionally in one status; operators only."""
    await PROGRAM_MANAGER.enforce(actor)
    queryset = await scoping.visible_outbox_messages(actor)
    if status is not None:
        queryset = queryset.filter(status=status)
    page = await paginate(queryset, fields=MESSAGE_FIELDS, first=first, after=after, order=("-id",))
    page.rows = [_without_bodies(row, settings) for row in page.rows]
    return page


async def get_message(actor: Actor, settings: Settings, message_id: int) -> dict[str, Any] | None:
    queryset = await scoping.visible_outbox_messages(actor)
    row = await queryset.filter(id=message_id).first().values(*MESSAGE_FIELDS)
    return _without_bodies(row, settings) if row else None

"""GraphQL for the outbox: outgoing mail, for operators to check what was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from partner_portal.models.outbox import OutboxStatus
from partner_portal.resolvers import outbox
from partner_portal.schema.common import After, Connection, First, Info, Node, NodeID, connection, describe_enum, node_type

describe_enum(
    OutboxStatus,
    "Where an outgoing message stands.",
    {
        "PENDING": "Waiting for its first attempt or, after a failure, for the next one.",
        "SENDING": "A worker is delivering it now.",
        "SENT": "Delivered; or, without SMTP_URL, written to the server log.",
        "FAILED": "Given up after the last allowed attempt.",
    },
)


@strawberry.type(description="An outgoing message, written in the transaction of the change it is about.")
class OutboxMessage(Node):
    id: NodeID[int]
    kind: str = strawberry.field(description="What kind of message it is: `email` or `webhook`.")
    recipient: str = strawberry.field(description="Whom it goes to: an email address, or the URL of a webhook.")
    subject: str = strawberry.field(description="The subject line; for a webhook, the event type.")
    text_body: str | None = strawberry.field(
        description="The plain-text body; development only (mails carry single-use links)."
    )
    html_body: str | None = strawberry.field(description="The HTML body; development only.")
    language: str | None = strawberry.field(description="The language the message was written in.")
    status: OutboxStatus = strawberry.field(description="Where the message stands.")
    attempts: int = strawberry.field(description="How many delivery attempts were made.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due, while the message is pending."
    )
    last_error: str | None = strawberry.field(description="Why the last attempt failed, if it did.")
    note: str | None = strawberry.field(description="A remark on the delivery, e.g. that it was only logged.")
    created_at: datetime = strawberry.field(description="When the message was queued.")
    sent_at: datetime | None = strawberry.field(description="When it was delivered (or logged).")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OutboxMessage:
        payload = row["payload"] or {}
        status = OutboxStatus(row["status"])
        return cls(
            id=row["id"],
            kind=row["kind"],
            recipient=payload.get("to", ""),
            subject=payload.get("subject", ""),
            text_body=payload.get("text"),
            html_body=payload.get("html"),
            language=payload.get("language"),
            status=status,
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"] if status is OutboxStatus.PENDING else None,
            last_error=row["last_error"],
            note=row["note"],
            created_at=row["created_at"],
            sent_at=row["sent_at"],
        )


@node_type("OutboxMessage")
async def _fetch_message(context: Any, pk: int) -> OutboxMessage | None:
    row = await outbox.get_message(context.actor, context.settings, pk)
    return OutboxMessage.from_row(row) if row else None


@strawberry.type
class OutboxQuery:
    @strawberry.field(description="Outgoing messages, newest first (operators with MANAGE_PROGRAMS).")
    async def outbox_messages(
        self,
        info: Info,
        status: Annotated[
            OutboxStatus | None, strawberry.argument(description="Only messages in this status.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[OutboxMessage]:
        page = await outbox.list_messages(
            info.context.actor, info.context.settings, status=status, first=first, after=after
        )
        return connection(page, OutboxMessage.from_row)

"""GraphQL for the outbox: outgoing mail, for operators to check what was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from partner_portal.models.outbox import OutboxStatus
from partner_portal.permissions.requirements import PROGRAM_MANAGER
from partner_portal.resolvers import outbox
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    connection,
    describe_enum,
    node_type,
)
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import Row, RowType, Source, row_type

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


def _in_payload(key: str, default: str | None = None) -> Source:
    """A value of the message's payload (the rendered mail or the webhook delivery)."""
    return lambda row: (row["payload"] or {}).get(key, default)


def _next_attempt_at(row: Row) -> datetime | None:
    return row["next_attempt_at"] if row["status"] is OutboxStatus.PENDING else None


@row_type(
    outbox.MESSAGE_FIELDS,
    recipient=_in_payload("to", ""),
    subject=_in_payload("subject", ""),
    text_body=_in_payload("text"),
    html_body=_in_payload("html"),
    language=_in_payload("language"),
    next_attempt_at=_next_attempt_at,
)
@strawberry.type(description="An outgoing message, written in the transaction of the change it is about.")
class OutboxMessage(Node, RowType):
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


@node_type("OutboxMessage")
async def _fetch_message(context: Any, pk: int) -> OutboxMessage | None:
    row = await outbox.get_message(context.actor, context.settings, pk)
    return OutboxMessage.from_row(row) if row else None


@strawberry.type
class OutboxQuery:
    @strawberry.field(description="Outgoing messages, newest first.", extensions=[Requires(PROGRAM_MANAGER)])
    async def outbox_messages(
        self,
        info: Info,
        status: Annotated[OutboxStatus | None, strawberry.argument(description="Only messages in this status.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[OutboxMessage]:
        page = await outbox.list_messages(
            info.context.actor, info.context.settings, status=status, first=first, after=after
        )
        return connection(page, OutboxMessage.from_row)

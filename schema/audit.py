"""GraphQL for the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import JSON

from partner_portal.permissions.enums import Via
from partner_portal.permissions.requirements import AUDIT_READER
from partner_portal.resolvers import audit
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    connection,
    decode_id,
    describe_enum,
    global_id,
    node_type,
)
from partner_portal.schema.identity import User
from partner_portal.schema.organizations import Organization
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import IdOf, RowType, row_type

describe_enum(
    Via,
    "How the actor of an audited change proved who it is.",
    {
        "ANONYMOUS": "No credentials (registration).",
        "SESSION": "A session token from `login` or `register`.",
        "JWT": "A token from the vendor's OIDC identity provider.",
        "API_KEY": "An integrator's API key.",
        "WEBHOOK": "A signed webhook from the billing system (Stripe).",
        "CLI": "The `partner-portal` command line on the server.",
    },
)


@row_type(
    audit.AUDIT_FIELDS,
    target_id=lambda row: global_id(row["target_type"], row["target_id"]),
    management_session_id=IdOf("ManagementSession", "management_session_id"),
)
@strawberry.type(description="One recorded change: who, for which organization, through what, did what, when.")
class AuditEvent(Node, RowType):
    id: NodeID[int]
    via: Via = strawberry.field(description="How the actor signed in.")
    action: str = strawberry.field(description="What was done, as `domain.verb` (e.g. `organization.update`).")
    target_id: GlobalID = strawberry.field(description="The global id of the changed object.")
    changes: JSON = strawberry.field(description="The changed fields, as {field: {from, to}} or the values set.")
    created_at: datetime = strawberry.field(description="When it happened.")
    management_session_id: GlobalID | None = strawberry.field(
        description="The management session of service partner staff it was done in; null outside one."
    )
    _organization_id: strawberry.Private[int | None]
    _actor_user_id: strawberry.Private[int | None]

    @strawberry.field(description="The organization the change belongs to, when visible.")
    async def organization(self, info: Info) -> Organization | None:
        if self._organization_id is None:
            return None
        row = await info.context.loaders.organization.load(self._organization_id)
        return Organization.from_row(row) if row else None

    @strawberry.field(description="The person who acted, when visible to the viewer.")
    async def actor(self, info: Info) -> User | None:
        if self._actor_user_id is None:
            return None
        row = await info.context.loaders.user.load(self._actor_user_id)
        return User.from_row(row) if row else None


@node_type("AuditEvent")
async def _fetch_event(context: Any, pk: int) -> AuditEvent | None:
    row = await audit.get_event(context.actor, pk)
    return AuditEvent.from_row(row) if row else None


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="The audit log, newest first.", extensions=[Requires(AUDIT_READER, "organization_id")]
    )
    async def audit_events(
        self,
        info: Info,
        organization_id: Annotated[GlobalID | None, strawberry.argument(description="Only this organization.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[AuditEvent]:
        org_id = decode_id(organization_id, "Organization") if organization_id is not None else None
        page = await audit.list_events(info.context.actor, organization_id=org_id, first=first, after=after)
        return connection(page, AuditEvent.from_row)

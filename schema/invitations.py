"""GraphQL for invitations."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import InvitationStatus
from partner_portal.permissions.requirements import CUSTOMER_INVITATIONS, CUSTOMER_INVITER
from partner_portal.resolvers import invitations
from partner_portal.resolvers.sessions import session_client
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    describe_enum,
    node_type,
    run_mutation,
)
from partner_portal.schema.identity import User, signed_in
from partner_portal.schema.organizations import Organization
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type

describe_enum(
    InvitationStatus,
    "Where an invitation stands.",
    {
        "OPEN": "Sent, not yet accepted, not expired.",
        "ACCEPTED": "The customer registered through it.",
        "EXPIRED": "Not accepted in time; it can be resent.",
        "REVOKED": "Withdrawn by the partner.",
    },
)


@row_type(invitations.INVITATION_FIELDS, status=invitations.effective_status)
@strawberry.type(description="A prospective customer invited by a partner.")
class Invitation(Node, RowType):
    id: NodeID[int]
    email: str = strawberry.field(description="Where the invitation was sent.")
    organization_name: str = strawberry.field(description="The organization the customer will get.")
    message: str = strawberry.field(description="The partner's personal message.")
    language: str = strawberry.field(description="The language of the mail.")
    status: InvitationStatus = strawberry.field(description="Where it stands (EXPIRED as soon as it is past due).")
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    created_at: datetime = strawberry.field(description="When it was first sent.")
    accepted_at: datetime | None = strawberry.field(description="When the customer accepted.")


@node_type("Invitation")
async def _fetch_invitation(context: Any, pk: int) -> Invitation | None:
    row = await invitations.get_invitation(context.actor, pk)
    return Invitation.from_row(row) if row else None


@strawberry.input(description="Invite a customer by email (CREATE_CUSTOMER_ORGANIZATIONS, service partners).")
class InviteCustomerInput:
    partner_id: GlobalID | None = strawberry.field(default=None, description="The partner organization.")
    email: str = strawberry.field(description="The customer's email address.")
    organization_name: str = strawberry.field(description="The name of the organization to create for them.")
    message: str | None = strawberry.field(default=None, description="A personal message in the mail.")
    language: str | None = strawberry.field(default=None, description="The mail's language (`en`, `de`).")


@strawberry.input(description="Send an invitation again with a new link and a renewed expiry.")
class ResendInvitationInput:
    invitation_id: GlobalID = strawberry.field(description="The invitation.")


@strawberry.input(description="Withdraw an invitation.")
class RevokeInvitationInput:
    invitation_id: GlobalID = strawberry.field(description="The invitation.")


@strawberry.type(description="The invitation after the change.")
class InvitationPayload(Payload):
    invitation: Invitation | None = strawberry.field(default=None, description="The invitation.")


@strawberry.input(description="Accept an invitation: registers you (unless signed in) and creates the organization.")
class AcceptInvitationInput:
    token: str = strawberry.field(description="The `token` of the invitation link.")
    name: str | None = strawberry.field(default=None, description="Your name (new accounts).")
    password: str | None = strawberry.field(default=None, description="Your password (new accounts).")
    organization_name: str | None = strawberry.field(
        default=None, description="Another name for the organization than the one in the invitation."
    )


@strawberry.type(description="The new organization, and a session for a new account.")
class AcceptInvitationPayload(Payload):
    organization: Organization | None = strawberry.field(default=None, description="The created organization.")
    user: User | None = strawberry.field(default=None, description="The new account, when one was created.")
    token: str | None = strawberry.field(default=None, description="A session token for the new account.")
    expires_at: datetime | None = strawberry.field(default=None, description="When the session token expires.")


@strawberry.type(description="What the holder of an invitation link sees before accepting it.")
class InvitationPreview:
    partner_name: str = strawberry.field(description="The partner that invites.")
    email: str = strawberry.field(description="The address the invitation was sent to.")
    organization_name: str = strawberry.field(description="The organization the customer will get.")
    message: str = strawberry.field(description="The partner's personal message.")
    status: InvitationStatus = strawberry.field(description="OPEN while it can be accepted.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")


def _accepted(info: Info, result: tuple[dict[str, Any], Any]) -> dict[str, Any]:
    organization, session = result
    if session is None:  # a signed-in caller accepted
        return {"organization": Organization.from_row(organization)}
    session_fields = signed_in(info, session)  # a new user: the payload answers as that user
    return {"organization": Organization.from_row(organization), **session_fields}


@strawberry.type
class InvitationsQuery:
    @strawberry.field(
        description="The partner's invitations, newest first.",
        extensions=[Requires(CUSTOMER_INVITATIONS, "partner_id")],
    )
    async def invitations(
        self,
        info: Info,
        partner_id: PartnerId = None,
        status: Annotated[InvitationStatus | None, strawberry.argument(description="Only this status.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Invitation]:
        page = await invitations.list_invitations(
            info.context.actor, partner_id_of(partner_id), status=status, first=first, after=after
        )
        return connection(page, Invitation.from_row)

    @strawberry.field(
        description="The invitation behind a link's token, for the page that accepts it; null for a token "
        "that is not an invitation's. Counted like a look-up (`CODE_LOOKUP_RATE`)."
    )
    async def invitation_preview(
        self,
        info: Info,
        token: Annotated[str, strawberry.argument(description="The `token` parameter of the invitation link.")],
    ) -> InvitationPreview | None:
        await info.context.throttle_lookup("invitation-token")
        row = await invitations.preview_invitation(token)
        return InvitationPreview(**row) if row else None


@strawberry.type
class InvitationsMutation:
    @strawberry.mutation(
        description="Invite a prospective customer by email.",
        extensions=[Requires(CUSTOMER_INVITER, "input.partner_id")],
    )
    async def invite_customer(self, info: Info, input: InviteCustomerInput) -> InvitationPayload:
        ctx = info.context
        change = invitations.invite_customer(
            ctx.actor,
            ctx.settings,
            partner_id_of(input.partner_id),
            email=input.email,
            organization_name=input.organization_name,
            message=input.message,
            language=input.language,
            limits=ctx.mail_limits,
        )
        return await run_mutation(InvitationPayload, change, invitation=lambda issued: Invitation.from_row(issued.row))

    @strawberry.mutation(
        description="Send an invitation again; the previous link stops working.",
        extensions=[Requires(CUSTOMER_INVITATIONS, checked_on="the invitation's partner")],
    )
    async def resend_invitation(self, info: Info, input: ResendInvitationInput) -> InvitationPayload:
        ctx = info.context
        change = invitations.resend_invitation(
            ctx.actor, ctx.settings, decode_id(input.invitation_id, "Invitation"), ctx.mail_limits
        )
        return await run_mutation(InvitationPayload, change, invitation=Invitation.from_row)

    @strawberry.mutation(
        description="Withdraw an invitation.",
        extensions=[Requires(CUSTOMER_INVITATIONS, checked_on="the invitation's partner")],
    )
    async def revoke_invitation(self, info: Info, input: RevokeInvitationInput) -> InvitationPayload:
        change = invitations.revoke_invitation(info.context.actor, decode_id(input.invitation_id, "Invitation"))
        return await run_mutation(InvitationPayload, change, invitation=Invitation.from_row)

    @strawberry.mutation(description="Accept an invitation from its link.")
    async def accept_invitation(self, info: Info, input: AcceptInvitationInput) -> AcceptInvitationPayload:
        ctx = info.context
        change = invitations.accept_invitation(
            ctx.actor,
            ctx.settings,
            token=input.token,
            name=input.name,
            password=input.password,
            organization_name=input.organization_name,
            session_client=session_client(ctx),
        )
        return await run_mutation(AcceptInvitationPayload, change, partial(_accepted, info))

"""GraphQL for organizations and their members."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import MembershipInvitationStatus
from partner_portal.permissions import policy
from partner_portal.permissions.enums import OrganizationPermission, PartnerPermission, Role
from partner_portal.permissions.requirements import MEMBER, MEMBER_MANAGER, SETTINGS_MANAGER, SIGNED_IN
from partner_portal.resolvers import organizations
from partner_portal.resolvers.affiliates import token_in_cookie
from partner_portal.resolvers.customers import MAX_HISTORY
from partner_portal.resolvers.organizations import UNSET as RESOLVER_UNSET
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
    global_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.guards.cost import bounded_list
from partner_portal.schema.identity import User
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import Row, RowType, row_type

if TYPE_CHECKING:
    from partner_portal.schema.affiliates import Attribution
    from partner_portal.schema.audit import AuditEvent
    from partner_portal.schema.billing import License
    from partner_portal.schema.customers import CustomerRelationship
    from partner_portal.schema.partners import PartnerApplication, PartnerProfile

describe_enum(
    Role,
    "A member's role in an organization.",
    {
        "ADMINISTRATOR": "Holds every permission of the organization.",
        "MEMBER": "Holds the permissions given to it.",
    },
)
describe_enum(
    MembershipInvitationStatus,
    "Where an invitation to become a member stands.",
    {
        "OPEN": "Sent, not yet answered, not expired.",
        "ACCEPTED": "The person accepted: the membership exists.",
        "DECLINED": "The person declined.",
        "EXPIRED": "Not answered in time.",
        "REVOKED": "Withdrawn by the organization, or ended with the service partner's grant it was sent under.",
    },
)
describe_enum(
    OrganizationPermission,
    "What a member may do in its own organization.",
    {
        "MANAGE_MEMBERS": "Add and remove members and set their permissions.",
        "MANAGE_SETTINGS": "Change the organization's settings.",
        "ORDER_LICENSES": "Order and change licenses.",
        "VIEW_BILLING": "See invoices and billing data.",
        "REQUEST_PARTNER_STATUS": "Apply for partner status.",
        "MANAGE_SERVICE_PROVIDER": "Choose the service partner and grant it delegated permissions.",
    },
)
describe_enum(
    PartnerPermission,
    "What a member of a partner organization may do partner-side.",
    {
        "ADMINISTER_CUSTOMERS": "See 'my customers' and start management sessions.",
        "CREATE_CUSTOMER_ORGANIZATIONS": "Also invite customers.",
        "MANAGE_PARTNER_PORTAL": "Everything partner-side: dashboard, affiliate, commissions, payouts, staff.",
    },
)


def _organization_permissions(row: Row) -> list[OrganizationPermission]:
    """The organization permissions of a membership (or invitation) row in effect."""
    held = policy.effective_permissions(row["role"], row["permissions"])
    return sorted(OrganizationPermission(p) for p in held if p in OrganizationPermission.__members__)


def _partner_permissions(row: Row) -> list[PartnerPermission]:
    """The partner permissions of a membership (or invitation) row in effect."""
    held = policy.effective_permissions(row["role"], row["permissions"])
    return sorted(PartnerPermission(p) for p in held if p in PartnerPermission.__members__)


@row_type(organizations.ORGANIZATION_FIELDS)
@strawberry.type(description="A company account.")
class Organization(Node, RowType):
    id: NodeID[int]
    name: str = strawberry.field(description="The organization's name.")
    website: str | None = strawberry.field(description="Its web address.")
    country: str | None = strawberry.field(description="ISO 3166 alpha-2 country code.")
    language: str = strawberry.field(description="The language of mails to it (`en`, `de`).")
    created_at: datetime = strawberry.field(description="When it was created.")

    @strawberry.field(description="The organization's members.")
    async def members(self, info: Info, first: First = None, after: After = None) -> Connection[Membership]:
        page = await info.context.loaders.members.load((self.id, first, after))
        return connection(page, Membership.from_row)

    @strawberry.field(description="Invitations to become a member, newest first (MANAGE_MEMBERS).")
    async def membership_invitations(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[MembershipInvitation]:
        page = await info.context.loaders.membership_invitations.load((self.id, first, after))
        return connection(page, MembershipInvitation.from_row)

    @strawberry.field(description="The viewer's own membership here, if any.")
    async def viewer_membership(self, info: Info) -> Membership | None:
        mine = await organizations.viewer_membership(info.context.actor, self.id)
        if mine is None:
            return None
        return Membership.from_row(await info.context.loaders.membership.load(mine.membership_id))

    @strawberry.field(description="Its license; null when it has none.")
    async def license(self, info: Info) -> Annotated[License, strawberry.lazy("partner_portal.schema.billing")] | None:
        from partner_portal.schema.billing import License

        row = await info.context.loaders.license.load(self.id)
        return License.from_row(row) if row else None

    @strawberry.field(description="Its partner profile, once it is an approved partner.")
    async def partner_profile(
        self, info: Info
    ) -> Annotated[PartnerProfile, strawberry.lazy("partner_portal.schema.partners")] | None:
        from partner_portal.schema.partners import PartnerProfile

        row = await info.context.loaders.partner_profile.load(self.id)
        return PartnerProfile.from_row(row) if row else None

    @strawberry.field(description="Its newest partner application (its members and reviewing operators).")
    async def partner_application(
        self, info: Info
    ) -> Annotated[PartnerApplication, strawberry.lazy("partner_portal.schema.partners")] | None:
        from partner_portal.schema.partners import PartnerApplication

        row = await info.context.loaders.partner_application.load(self.id)
        return PartnerApplication.from_row(row) if row else None

    @strawberry.field(description="Its current service partner and the grant it holds; null when none.")
    async def service_partner(
        self, info: Info
    ) -> Annotated[CustomerRelationship, strawberry.lazy("partner_portal.schema.customers")] | None:
        from partner_portal.schema.customers import CustomerRelationship

        row = await info.context.loaders.service_partner.load(self.id)
        return CustomerRelationship.from_row(row) if row else None

    @bounded_list(MAX_HISTORY, "The service partners it had, newest first (administrators, MANAGE_SERVICE_PROVIDER).")
    async def service_partner_history(
        self, info: Info
    ) -> list[Annotated[CustomerRelationship, strawberry.lazy("partner_portal.schema.customers")]]:
        from partner_portal.schema.customers import CustomerRelationship

        rows = await info.context.loaders.service_partner_history.load(self.id)
        return [CustomerRelationship.from_row(row) for row in rows]

    @strawberry.field(
        description="What its service partner's staff did here in management sessions, newest first "
        "(administrators, MANAGE_SERVICE_PROVIDER)."
    )
    async def service_provider_activity(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Annotated[AuditEvent, strawberry.lazy("partner_portal.schema.audit")]]:
        from partner_portal.schema.audit import AuditEvent

        page = await info.context.loaders.service_provider_activity.load((self.id, first, after))
        return connection(page, AuditEvent.from_row)


@node_type("Organization")
async def _fetch_organization(context: Any, pk: int) -> Organization | None:
    row = await organizations.get_organization(context.actor, pk)
    return Organization.from_row(row) if row else None


@row_type(
    organizations.MEMBERSHIP_FIELDS,
    organization_permissions=_organization_permissions,
    partner_permissions=_partner_permissions,
    through_service_partner=lambda row: row["relationship_id"] is not None,
)
@strawberry.type(description="A user in an organization, with a role and permissions.")
class Membership(Node, RowType):
    id: NodeID[int]
    role: Role = strawberry.field(description="ADMINISTRATOR or MEMBER.")
    created_at: datetime = strawberry.field(description="When the user joined.")
    organization_permissions: list[OrganizationPermission] = strawberry.field(
        description="Organization permissions in effect (an administrator holds all)."
    )
    partner_permissions: list[PartnerPermission] = strawberry.field(
        description="Partner permissions in effect, including the ones a broader permission brings."
    )
    through_service_partner: bool = strawberry.field(
        description="Invited by service partner staff in a management session: the membership ends with the "
        "partner's grant of MANAGE_MEMBERS (until an administrator makes the member administrator)."
    )
    _organization_id: strawberry.Private[int]
    _user_id: strawberry.Private[int]

    @strawberry.field(description="The organization.")
    async def organization(self, info: Info) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self._organization_id))

    @strawberry.field(description="The member.")
    async def user(self, info: Info) -> User:
        return User.from_row(await info.context.loaders.user.load(self._user_id))


@node_type("Membership")
async def _fetch_membership(context: Any, pk: int) -> Membership | None:
    row = await organizations.get_membership(context.actor, pk)
    return Membership.from_row(row) if row else None


@row_type(
    organizations.MEMBERSHIP_INVITATION_FIELDS,
    organization_permissions=_organization_permissions,
    partner_permissions=_partner_permissions,
    status=organizations.membership_invitation_status,
    through_service_partner=lambda row: row["relationship_id"] is not None,
)
@strawberry.type(
    description="A person invited by email to become a member; the membership exists once they "
    "accept. Seen by the organization's MANAGE_MEMBERS holders."
)
class MembershipInvitation(Node, RowType):
    id: NodeID[int]
    email: str = strawberry.field(description="Where the invitation was sent.")
    role: Role = strawberry.field(description="The role the member will have.")
    organization_permissions: list[OrganizationPermission] = strawberry.field(
        description="The organization permissions the member will have (an administrator holds all)."
    )
    partner_permissions: list[PartnerPermission] = strawberry.field(
        description="The partner permissions the member will have."
    )
    status: MembershipInvitationStatus = strawberry.field(description="Where it stands (EXPIRED once past due).")
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    created_at: datetime = strawberry.field(description="When it was sent.")
    decided_at: datetime | None = strawberry.field(description="When it was accepted, declined or revoked.")
    through_service_partner: bool = strawberry.field(
        description="Sent by service partner staff in a management session: the membership ends with the grant."
    )
    _organization_id: strawberry.Private[int]

    @strawberry.field(description="The organization.")
    async def organization(self, info: Info) -> Organization:
        return Organization.from_row(await info.context.loaders.organization.load(self._organization_id))


@node_type("MembershipInvitation")
async def _fetch_membership_invitation(context: Any, pk: int) -> MembershipInvitation | None:
    row = await organizations.get_membership_invitation(context.actor, pk)
    return MembershipInvitation.from_row(row) if row else None


# --- inputs and payloads -----------------------------------------------------------------


@strawberry.input(description="A new organization; its creator becomes its administrator.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="The organization's name.")
    website: str | None = strawberry.field(default=None, description="Its web address.")
    country: str | None = strawberry.field(default=None, description="ISO 3166 alpha-2 country code.")
    language: str = strawberry.field(default="en", description="The language of mails (`en`, `de`).")
    affiliate_token: str | None = strawberry.field(
        default=None,
        description="The token of an affiliate link's click: the `pp_affiliate` query parameter of the "
        "landing address (or the cookie's value). Creates the AFFILIATE referral; an invalid, expired "
        "or self-referring token does not fail the mutation, `attribution` says why. Without it, the "
        "request's `pp_affiliate` cookie counts (a frontend on the API's origin).",
    )


@strawberry.input(description="Settings to change; omitted fields stay as they are.")
class UpdateOrganizationInput:
    organization_id: GlobalID = strawberry.field(description="The organization.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    website: str | None = strawberry.field(default=strawberry.UNSET, description="A new web address (null clears it).")
    country: str | None = strawberry.field(default=strawberry.UNSET, description="A new country code (null clears it).")
    language: str | None = strawberry.field(default=strawberry.UNSET, description="A new mail language.")


@strawberry.type(description="The created or changed organization.")
class OrganizationPayload(Payload):
    organization: Organization | None = strawberry.field(default=None, description="The organization.")
    attribution: Annotated[Attribution, strawberry.lazy("partner_portal.schema.affiliates")] | None = strawberry.field(
        default=None,
        description="createOrganization only: what its affiliate token (the input's, else the request's "
        "`pp_affiliate` cookie) did; null when there was none.",
    )


@strawberry.input(
    description="Invite a person by email to become a member (MANAGE_MEMBERS; administrators invite "
    "administrators). The membership exists once they accept."
)
class AddMemberInput:
    organization_id: GlobalID = strawberry.field(description="The organization.")
    email: str = strawberry.field(description="The person's email address (with or without an account).")
    role: Role = strawberry.field(default=Role.MEMBER, description="The role to give.")
    organization_permissions: list[OrganizationPermission] = strawberry.field(
        default_factory=list, description="Organization permissions to give (you must hold them)."
    )
    partner_permissions: list[PartnerPermission] = strawberry.field(
        default_factory=list, description="Partner permissions to give (administrators and MANAGE_PARTNER_PORTAL)."
    )


@strawberry.input(description="Replace a member's permissions; nobody grants what it does not hold.")
class SetMemberPermissionsInput:
    membership_id: GlobalID = strawberry.field(description="The membership.")
    organization_permissions: list[OrganizationPermission] = strawberry.field(
        description="The new organization permissions."
    )
    partner_permissions: list[PartnerPermission] = strawberry.field(description="The new partner permissions.")


@strawberry.input(description="Change a member's role (administrators only; never the last administrator).")
class SetMemberRoleInput:
    membership_id: GlobalID = strawberry.field(description="The membership.")
    role: Role = strawberry.field(description="The new role.")


@strawberry.type(description="The created or changed membership.")
class MembershipPayload(Payload):
    membership: Membership | None = strawberry.field(default=None, description="The membership.")


@strawberry.type(description="The invitation after the change.")
class MembershipInvitationPayload(Payload):
    invitation: MembershipInvitation | None = strawberry.field(default=None, description="The invitation.")


@strawberry.input(description="Accept an invitation to become a member, signed in with the address it was sent to.")
class AcceptMembershipInvitationInput:
    token: str = strawberry.field(description="The `token` of the invitation link.")


@strawberry.input(description="Decline an invitation to become a member (signed in or not).")
class DeclineMembershipInvitationInput:
    token: str = strawberry.field(description="The `token` of the invitation link.")


@strawberry.type(description="Whether the invitation was declined.")
class DeclineMembershipInvitationPayload(Payload):
    declined: bool = strawberry.field(default=False, description="True once declined.")


@strawberry.input(description="Withdraw an invitation to become a member.")
class RevokeMembershipInvitationInput:
    invitation_id: GlobalID = strawberry.field(description="The invitation.")


@strawberry.input(description="Remove a member (MANAGE_MEMBERS; administrators remove administrators).")
class RemoveMemberInput:
    membership_id: GlobalID = strawberry.field(description="The membership to end.")


@strawberry.input(description="Leave an organization yourself (not as its last administrator).")
class LeaveOrganizationInput:
    organization_id: GlobalID = strawberry.field(description="The organization to leave.")


@strawberry.type(description="The ended membership.")
class EndMembershipPayload(Payload):
    membership_id: GlobalID | None = strawberry.field(default=None, description="The id of the ended membership.")


def _unset(value: Any) -> Any:
    return RESOLVER_UNSET if value is strawberry.UNSET else value


def _ended(membership_id: int) -> dict[str, Any]:
    return {"membership_id": global_id("Membership", membership_id)}


@strawberry.type
class OrganizationsQuery:
    @strawberry.field(
        description="The organization the viewer acts for by default (the one it joined first); "
        "NO_ORGANIZATION when it belongs to none.",
        extensions=[Requires(MEMBER)],
    )
    async def viewer_organization(self, info: Info) -> Organization:
        return Organization.from_row(await organizations.default_organization(info.context.actor))

    @strawberry.field(
        description="Organizations the viewer belongs to (operators: all).", extensions=[Requires(SIGNED_IN)]
    )
    async def organizations(self, info: Info, first: First = None, after: After = None) -> Connection[Organization]:
        page = await organizations.list_organizations(info.context.actor, first=first, after=after)
        return connection(page, Organization.from_row)


@strawberry.type
class OrganizationsMutation:
    @strawberry.mutation(
        description="Create an organization; you become its administrator.", extensions=[Requires(SIGNED_IN)]
    )
    async def create_organization(self, info: Info, input: CreateOrganizationInput) -> OrganizationPayload:
        change = organizations.create_organization(
            info.context.actor,
            name=input.name,
            website=input.website,
            country=input.country,
            language=input.language,
            affiliate_token=input.affiliate_token,
            affiliate_cookie=token_in_cookie(info.context.request),
            settings=info.context.settings,
        )
        from partner_portal.schema.affiliates import Attribution  # noqa: PLC0415 — affiliates imports this module

        return await run_mutation(
            OrganizationPayload,
            change,
            organization=Organization.from_row,
            attribution=lambda row: Attribution.of(row["attribution"]),
        )

    @strawberry.mutation(
        description="Change an organization's settings.",
        extensions=[Requires(SETTINGS_MANAGER, "input.organization_id")],
    )
    async def update_organization(self, info: Info, input: UpdateOrganizationInput) -> OrganizationPayload:
        change = organizations.update_organization(
            info.context.actor,
            decode_id(input.organization_id, "Organization"),
            name=_unset(input.name),
            website=_unset(input.website),
            country=_unset(input.country),
            language=_unset(input.language),
        )
        return await run_mutation(OrganizationPayload, change, organization=Organization.from_row)

    @strawberry.mutation(
        description="Invite a person by email to become a member; nobody becomes a member "
        "without accepting. The answer does not tell whether the address has an account.",
        extensions=[Requires(MEMBER, "input.organization_id")],
    )
    async def add_member(self, info: Info, input: AddMemberInput) -> MembershipInvitationPayload:
        ctx = info.context
        change = organizations.add_member(
            ctx.actor,
            ctx.settings,
            ctx.mail_limits,
            decode_id(input.organization_id, "Organization"),
            email=input.email,
            role=input.role,
            permissions=[*input.organization_permissions, *input.partner_permissions],
        )
        return await run_mutation(
            MembershipInvitationPayload, change, invitation=lambda issued: MembershipInvitation.from_row(issued.row)
        )

    @strawberry.mutation(description="Accept an invitation to become a member.", extensions=[Requires(SIGNED_IN)])
    async def accept_membership_invitation(
        self, info: Info, input: AcceptMembershipInvitationInput
    ) -> MembershipPayload:
        change = organizations.accept_membership_invitation(info.context.actor, info.context.settings, input.token)
        return await run_mutation(MembershipPayload, change, membership=Membership.from_row)

    @strawberry.mutation(description="Decline an invitation to become a member.")
    async def decline_membership_invitation(
        self, info: Info, input: DeclineMembershipInvitationInput
    ) -> DeclineMembershipInvitationPayload:
        change = organizations.decline_membership_invitation(info.context.actor, input.token)
        return await run_mutation(DeclineMembershipInvitationPayload, change, lambda _: {"declined": True})

    @strawberry.mutation(
        description="Withdraw an invitation to become a member.",
        extensions=[Requires(MEMBER_MANAGER, checked_on="the invitation's organization")],
    )
    async def revoke_membership_invitation(
        self, info: Info, input: RevokeMembershipInvitationInput
    ) -> MembershipInvitationPayload:
        change = organizations.revoke_membership_invitation(
            info.context.actor, decode_id(input.invitation_id, "MembershipInvitation")
        )
        return await run_mutation(MembershipInvitationPayload, change, invitation=MembershipInvitation.from_row)

    @strawberry.mutation(
        description="Replace a member's organization and partner permissions.",
        extensions=[Requires(MEMBER, checked_on="the member's organization")],
    )
    async def set_member_permissions(self, info: Info, input: SetMemberPermissionsInput) -> MembershipPayload:
        change = organizations.set_member_permissions(
            info.context.actor,
            decode_id(input.membership_id, "Membership"),
            [*input.organization_permissions, *input.partner_permissions],
        )
        return await run_mutation(MembershipPayload, change, membership=Membership.from_row)

    @strawberry.mutation(
        description="Make a member administrator or take the role away.",
        extensions=[Requires(MEMBER, checked_on="the member's organization")],
    )
    async def set_member_role(self, info: Info, input: SetMemberRoleInput) -> MembershipPayload:
        change = organizations.set_member_role(
            info.context.actor, decode_id(input.membership_id, "Membership"), input.role
        )
        return await run_mutation(MembershipPayload, change, membership=Membership.from_row)

    @strawberry.mutation(
        description="Remove a member from an organization.",
        extensions=[Requires(MEMBER, checked_on="the member's organization")],
    )
    async def remove_member(self, info: Info, input: RemoveMemberInput) -> EndMembershipPayload:
        change = organizations.remove_member(info.context.actor, decode_id(input.membership_id, "Membership"))
        return await run_mutation(EndMembershipPayload, change, _ended)

    @strawberry.mutation(description="Leave an organization.", extensions=[Requires(SIGNED_IN)])
    async def leave_organization(self, info: Info, input: LeaveOrganizationInput) -> EndMembershipPayload:
        change = organizations.leave_organization(info.context.actor, decode_id(input.organization_id, "Organization"))
        return await run_mutation(EndMembershipPayload, change, _ended)

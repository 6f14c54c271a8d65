"""GraphQL for becoming a partner: applications, profiles, the directory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import ApplicationStatus, Program
from partner_portal.permissions.partners import PROFILE_FIELDS
from partner_portal.permissions.requirements import PARTNER_APPLICANT, PARTNER_PORTAL, PARTNER_REVIEWER
from partner_portal.resolvers import partners
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
from partner_portal.schema.organizations import Organization
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type

describe_enum(
    Program,
    "The ways a partner works with the vendor.",
    {
        "AFFILIATE": "Refers customers with a link and earns commission.",
        "EXPERT": "Has a personal discount code and earns commission on its use.",
        "RESELLER": "Buys coupons at wholesale and resells them.",
        "SERVICE_PARTNER": "Invites and administers customers within the permissions they grant.",
    },
)
describe_enum(
    ApplicationStatus,
    "Where a partner application stands.",
    {
        "PENDING": "Waiting for the vendor's review.",
        "APPROVED": "Approved: the organization is a partner.",
        "REJECTED": "Rejected, with a note.",
    },
)

PartnerId = Annotated[
    GlobalID | None,
    strawberry.argument(description="The partner organization; default: the viewer's first organization."),
]


def partner_id_of(value: GlobalID | None) -> int | None:
    return decode_id(value, "Organization") if value is not None else None


@row_type(
    partners.APPLICATION_FIELDS,
    programs=lambda row: [Program(p) for p in row["programs"]],
    approved_programs=lambda row: [Program(p) for p in row["approved_programs"]],
)
@strawberry.type(description="An organization's request for partner status.")
class PartnerApplication(Node, RowType):
    id: NodeID[int]
    status: ApplicationStatus = strawberry.field(description="Where it stands.")
    legal_name: str = strawberry.field(description="The company's legal name.")
    website: str = strawberry.field(description="The company's web address.")
    country: str = strawberry.field(description="ISO 3166 alpha-2 country code.")
    vat_id: str | None = strawberry.field(description="The VAT id, normalized.")
    contact_name: str = strawberry.field(description="Who to talk to.")
    contact_email: str = strawberry.field(description="Their email address.")
    contact_phone: str | None = strawberry.field(description="Their phone number.")
    programs: list[Program] = strawberry.field(description="Programs the organization is interested in.")
    message: str = strawberry.field(description="What the applicant wrote.")
    created_at: datetime = strawberry.field(description="When it was submitted.")
    decided_at: datetime | None = strawberry.field(description="When it was decided.")
    decision_note: str | None = strawberry.field(description="The reviewer's note.")
    approved_programs: list[Program] = strawberry.field(description="Programs granted on approval.")
    _organization_id: strawberry.Private[int]

    @strawberry.field(description="The applying organization.")
    async def organization(self, info: Info) -> Organization | None:
        row = await info.context.loaders.organization.load(self._organization_id)
        return Organization.from_row(row) if row else None


@node_type("PartnerApplication")
async def _fetch_application(context: Any, pk: int) -> PartnerApplication | None:
    row = await partners.get_application(context.actor, pk)
    return PartnerApplication.from_row(row) if row else None


@row_type(PROFILE_FIELDS)
@strawberry.type(description="An approved partner's profile.")
class PartnerProfile(RowType):
    code: str = strawberry.field(description="The public partner code customers enter to choose this partner.")
    payout_currency: str = strawberry.field(description="The currency commissions are paid out in.")
    listed_in_directory: bool = strawberry.field(description="Shown in the public partner directory.")
    approved_at: datetime = strawberry.field(description="When the organization became a partner.")
    _organization_id: strawberry.Private[int]

    @strawberry.field(description="The programs the partner is in.")
    async def programs(self, info: Info) -> list[Program]:
        return [Program(p) for p in await info.context.loaders.programs.load(self._organization_id)]


@row_type(
    partners.DIRECTORY_FIELDS,
    name="organization__name",
    country="organization__country",
    website="organization__website",
)
@strawberry.type(description="A partner in the public directory.")
class DirectoryPartner(RowType):
    code: str = strawberry.field(description="The partner code to enter when choosing this partner.")
    name: str = strawberry.field(description="The partner's name.")
    country: str | None = strawberry.field(description="ISO 3166 alpha-2 country code.")
    website: str | None = strawberry.field(description="The partner's web address.")
    _organization_id: strawberry.Private[int]

    @strawberry.field(description="The programs the partner is in.")
    async def programs(self, info: Info) -> list[Program]:
        return [Program(p) for p in await info.context.loaders.programs.load(self._organization_id)]


# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input(description="The partner application form.")
class RequestPartnerStatusInput:
    organization_id: GlobalID | None = strawberry.field(
        default=None, description="The applying organization; default: your first organization."
    )
    legal_name: str = strawberry.field(description="The company's legal name.")
    website: str = strawberry.field(description="The company's web address.")
    country: str = strawberry.field(description="ISO 3166 alpha-2 country code.")
    vat_id: str | None = strawberry.field(default=None, description="VAT id; required in the EU.")
    contact_name: str = strawberry.field(description="Who to talk to.")
    contact_email: str = strawberry.field(description="Their email address.")
    contact_phone: str | None = strawberry.field(default=None, description="Their phone number.")
    programs: list[Program] = strawberry.field(description="Programs of interest (at least one).")
    message: str | None = strawberry.field(default=None, description="Anything the reviewers should know.")


@strawberry.type(description="The submitted or decided application.")
class PartnerApplicationPayload(Payload):
    application: PartnerApplication | None = strawberry.field(default=None, description="The application.")


@strawberry.input(description="Approve an application.")
class ApprovePartnerApplicationInput:
    application_id: GlobalID = strawberry.field(description="The application.")
    programs: list[Program] = strawberry.field(description="The programs to enroll the partner in.")
    note: str | None = strawberry.field(default=None, description="A note to the applicant.")
    payout_currency: str = strawberry.field(default="USD", description="The partner's payout currency.")


@strawberry.input(description="Reject an application.")
class RejectPartnerApplicationInput:
    application_id: GlobalID = strawberry.field(description="The application.")
    note: str = strawberry.field(description="Why, for the applicant.")


@strawberry.input(description="Change the partner's own settings.")
class UpdatePartnerProfileInput:
    partner_id: GlobalID | None = strawberry.field(default=None, description="The partner organization.")
    listed_in_directory: bool | None = strawberry.field(default=None, description="Show in the public directory.")
    payout_currency: str | None = strawberry.field(default=None, description="ISO 4217 payout currency.")


@strawberry.type(description="The partner profile after the change.")
class UpdatePartnerProfilePayload(Payload):
    profile: PartnerProfile | None = strawberry.field(default=None, description="The profile.")


@strawberry.type
class PartnersQuery:
    @strawberry.field(description="Partner applications, newest first.", extensions=[Requires(PARTNER_REVIEWER)])
    async def partner_applications(
        self,
        info: Info,
        status: Annotated[ApplicationStatus | None, strawberry.argument(description="Only this status.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[PartnerApplication]:
        page = await partners.list_applications(info.context.actor, status=status, first=first, after=after)
        return connection(page, PartnerApplication.from_row)

    @strawberry.field(description="Approved partners that chose to be listed; no sign-in needed.")
    async def partner_directory(
        self,
        info: Info,
        country: Annotated[str | None, strawberry.argument(description="ISO country code.")] = None,
        program: Annotated[Program | None, strawberry.argument(description="Only partners in this program.")] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[DirectoryPartner]:
        page = await partners.directory(country=country, program=program, first=first, after=after)
        return connection(page, DirectoryPartner.from_row)


@strawberry.type
class PartnersMutation:
    @strawberry.mutation(
        description="Apply for partner status.", extensions=[Requires(PARTNER_APPLICANT, "input.organization_id")]
    )
    async def request_partner_status(self, info: Info, input: RequestPartnerStatusInput) -> PartnerApplicationPayload:
        organization_id = decode_id(input.organization_id, "Organization") if input.organization_id else None
        form = {
            "legal_name": input.legal_name,
            "website": input.website,
            "country": input.country,
            "vat_id": input.vat_id,
            "contact_name": input.contact_name,
            "contact_email": input.contact_email,
            "contact_phone": input.contact_phone,
            "programs": input.programs,
            "message": input.message,
        }
        change = partners.request_partner_status(info.context.actor, organization_id, form)
        return await run_mutation(PartnerApplicationPayload, change, application=PartnerApplication.from_row)

    @strawberry.mutation(
        description="Approve a partner application, choosing programs.", extensions=[Requires(PARTNER_REVIEWER)]
    )
    async def approve_partner_application(
        self, info: Info, input: ApprovePartnerApplicationInput
    ) -> PartnerApplicationPayload:
        change = partners.approve_application(
            info.context.actor,
            decode_id(input.application_id, "PartnerApplication"),
            programs=input.programs,
            note=input.note,
            payout_currency=input.payout_currency,
        )
        return await run_mutation(PartnerApplicationPayload, change, application=PartnerApplication.from_row)

    @strawberry.mutation(
        description="Reject a partner application with a note.", extensions=[Requires(PARTNER_REVIEWER)]
    )
    async def reject_partner_application(
        self, info: Info, input: RejectPartnerApplicationInput
    ) -> PartnerApplicationPayload:
        change = partners.reject_application(
            info.context.actor, decode_id(input.application_id, "PartnerApplication"), note=input.note
        )
        return await run_mutation(PartnerApplicationPayload, change, application=PartnerApplication.from_row)

    @strawberry.mutation(
        description="Change the partner's directory listing or payout currency.",
        extensions=[Requires(PARTNER_PORTAL, "input.partner_id")],
    )
    async def update_partner_profile(self, info: Info, input: UpdatePartnerProfileInput) -> UpdatePartnerProfilePayload:
        change = partners.update_profile(
            info.context.actor,
            partner_id_of(input.partner_id),
            listed_in_directory=input.listed_in_directory,
            payout_currency=input.payout_currency,
        )
        return await run_mutation(UpdatePartnerProfilePayload, change, profile=PartnerProfile.from_row)

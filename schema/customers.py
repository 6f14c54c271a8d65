"""GraphQL for customers and their service partner: selection, grants, management sessions,
"my customers" and the customer's view of its partner's activity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.models.enums import LicenseStatus, RelationshipSource
from partner_portal.permissions.enums import DelegatedPermission
from partner_portal.permissions.partners import grant_in_force
from partner_portal.permissions.requirements import (
    CUSTOMER_ADMINISTRATION,
    MANAGEMENT_SESSION_OPENER,
    SERVICE_PROVIDER_MANAGER,
    SIGNED_IN,
)
from partner_portal.resolvers import customers
from partner_portal.resolvers.customers import CustomerOrder
from partner_portal.schema.billing import License
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
from partner_portal.schema.guards.cost import bounded_list
from partner_portal.schema.organizations import Organization
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, member, row_type

describe_enum(
    DelegatedPermission,
    "What a customer lets its service partner do inside the customer's organization.",
    {
        "MANAGE_MEMBERS": "Add and remove the customer's members and set their permissions.",
        "MANAGE_SETTINGS": "Change the customer's settings.",
        "ORDER_LICENSES": "Order and change the customer's licenses.",
        "VIEW_BILLING": "See the customer's invoices and billing data.",
    },
)
describe_enum(
    RelationshipSource,
    "How a customer came to its service partner.",
    {
        "INVITATION": "Registered through the partner's invitation link.",
        "SELECTED": "Chose the partner in its own settings.",
    },
)
describe_enum(
    CustomerOrder,
    "How to sort customers.",
    {"NAME": "By the customer's name.", "STARTED_AT": "By when the relationship started."},
)


@strawberry.type(description="What the customer currently lets its partner do.")
class DelegatedGrant:
    permissions: list[DelegatedPermission] = strawberry.field(
        description="Permissions in force now (empty once the grant has expired)."
    )
    expires_at: datetime | None = strawberry.field(description="When the grant ends by itself, if ever.")


@strawberry.type(description="A partner as its customers see it.")
class ServicePartner:
    name: str = strawberry.field(description="The partner's name.")
    code: str | None = strawberry.field(description="The partner's public code.")


@strawberry.type(description="A customer organization with its service partner, seen from either side.")
class CustomerRelationship(Node):
    id: NodeID[int]
    source: RelationshipSource = strawberry.field(description="How the customer came.")
    started_at: datetime = strawberry.field(description="When the relationship started.")
    ended_at: datetime | None = strawberry.field(description="When it ended (history), or null while current.")
    grant: DelegatedGrant = strawberry.field(description="What the customer lets the partner do.")
    customer: Organization = strawberry.field(description="The customer organization.")
    partner: ServicePartner = strawberry.field(description="The service partner.")
    license: License | None = strawberry.field(description="The customer's license, if it has one.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CustomerRelationship:
        return cls(
            id=row["id"],
            source=member(RelationshipSource, row["source"]),
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            grant=DelegatedGrant(
                permissions=[member(DelegatedPermission, p) for p in grant_in_force(row)],
                expires_at=row["grant_expires_at"],
            ),
            customer=Organization(
                id=row["customer_id"],
                name=row["customer__name"],
                website=row["customer__website"],
                country=row["customer__country"],
                language=row["customer__language"],
                created_at=row["customer__created_at"],
            ),
            partner=ServicePartner(name=row["partner__name"], code=row["partner__partner_profile__code"]),
            license=License.from_row(row, prefix="customer__license__"),
        )


@node_type("CustomerRelationship")
async def _fetch_relationship(context: Any, pk: int) -> CustomerRelationship | None:
    row = await customers.get_customer(context.actor, pk)
    return CustomerRelationship.from_row(row) if row else None


@row_type(customers.SESSION_FIELDS)
@strawberry.type(description="Partner staff acting on a customer organization within the customer's grant.")
class ManagementSession(Node, RowType):
    id: NodeID[int]
    started_at: datetime = strawberry.field(description="When it started.")
    last_activity_at: datetime = strawberry.field(
        description="The last action in it (the idle timeout counts from here)."
    )
    ended_at: datetime | None = strawberry.field(description="When it was ended explicitly or by a partner change.")
    _customer_id: strawberry.Private[int]

    @strawberry.field(description="Open: not ended and active within the idle timeout.")
    def is_open(self, info: Info) -> bool:
        row = {"ended_at": self.ended_at, "last_activity_at": self.last_activity_at}
        return customers.session_is_open(row, info.context.settings)

    @strawberry.field(description="What the session may do right now: the customer's grant in force.")
    async def permissions(self, info: Info) -> list[DelegatedPermission]:
        if not self.is_open(info):
            return []
        return [
            DelegatedPermission(p) for p in await customers.session_permissions(info.context.actor, self._customer_id)
        ]

    @strawberry.field(description="The customer organization.")
    async def customer(self, info: Info) -> Organization | None:
        row = await info.context.loaders.organization.load(self._customer_id)
        return Organization.from_row(row) if row else None


@node_type("ManagementSession")
async def _fetch_session(context: Any, pk: int) -> ManagementSession | None:
    row = await customers.get_session(context.actor, pk)
    return ManagementSession.from_row(row) if row else None


# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input(description="Choose (or change) the organization's service partner by its code.")
class SetServicePartnerInput:
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    partner_code: str = strawberry.field(description="The partner's public code.")


@strawberry.input(description="End the relationship with the current service partner.")
class RemoveServicePartnerInput:
    organization_id: GlobalID = strawberry.field(description="The customer organization.")


@strawberry.input(description="Grant the service partner delegated permissions (replacing the current grant).")
class SetDelegatedPermissionsInput:
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    permissions: list[DelegatedPermission] = strawberry.field(description="The permissions; empty revokes all.")
    expires_at: datetime | None = strawberry.field(default=None, description="When the grant ends by itself.")


@strawberry.input(description="Take every delegated permission back from the service partner.")
class RevokeDelegatedPermissionsInput:
    organization_id: GlobalID = strawberry.field(description="The customer organization.")


@strawberry.type(description="The customer's service partner after the change (null when none).")
class ServicePartnerPayload(Payload):
    relationship: CustomerRelationship | None = strawberry.field(default=None, description="The current relationship.")


@strawberry.input(description="Open a management session on a current customer (ADMINISTER_CUSTOMERS).")
class StartManagementSessionInput:
    customer_id: GlobalID = strawberry.field(description="The customer organization.")


@strawberry.input(description="End one of your management sessions.")
class EndManagementSessionInput:
    session_id: GlobalID = strawberry.field(description="The session.")


@strawberry.type(description="The management session.")
class ManagementSessionPayload(Payload):
    session: ManagementSession | None = strawberry.field(default=None, description="The session.")


def _relationship(row: dict[str, Any] | None) -> dict[str, Any]:
    return {"relationship": CustomerRelationship.from_row(row) if row else None}


def _organization_id(value: GlobalID) -> int:
    return decode_id(value, "Organization")


@strawberry.type
class CustomersQuery:
    @bounded_list(
        customers.MAX_OPEN_SESSIONS,
        "The viewer's own open management sessions, most recently active first.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def viewer_management_sessions(self, info: Info) -> list[ManagementSession]:
        rows = await customers.open_sessions(info.context.actor, info.context.settings)
        return [ManagementSession.from_row(row) for row in rows]

    @strawberry.field(
        description="The partner's current customers; never referral-only ones.",
        extensions=[Requires(CUSTOMER_ADMINISTRATION, "partner_id")],
    )
    async def my_customers(
        self,
        info: Info,
        partner_id: PartnerId = None,
        license_status: Annotated[
            LicenseStatus | None, strawberry.argument(description="Only this license status.")
        ] = None,
        source: Annotated[RelationshipSource | None, strawberry.argument(description="Only this source.")] = None,
        search: Annotated[str | None, strawberry.argument(description="Part of the customer's name.")] = None,
        order_by: Annotated[CustomerOrder, strawberry.argument(description="Sort key.")] = CustomerOrder.NAME,
        descending: Annotated[bool, strawberry.argument(description="Sort descending.")] = False,
        first: First = None,
        after: After = None,
    ) -> Connection[CustomerRelationship]:
        page = await customers.my_customers(
            info.context.actor,
            partner_id_of(partner_id),
            license_status=license_status,
            source=source,
            search=search,
            order=order_by,
            descending=descending,
            first=first,
            after=after,
        )
        return connection(page, CustomerRelationship.from_row)


@strawberry.type
class CustomersMutation:
    @strawberry.mutation(
        description="Choose the organization's service partner by code; a previous partner's relationship ends.",
        extensions=[Requires(SERVICE_PROVIDER_MANAGER, "input.organization_id")],
    )
    async def set_service_partner(self, info: Info, input: SetServicePartnerInput) -> ServicePartnerPayload:
        change = customers.set_service_partner(
            info.context.actor, _organization_id(input.organization_id), input.partner_code, info.context.mail_limits
        )
        return await run_mutation(ServicePartnerPayload, change, _relationship)

    @strawberry.mutation(
        description="End the relationship with the service partner.",
        extensions=[Requires(SERVICE_PROVIDER_MANAGER, "input.organization_id")],
    )
    async def remove_service_partner(self, info: Info, input: RemoveServicePartnerInput) -> ServicePartnerPayload:
        change = customers.remove_service_partner(
            info.context.actor, _organization_id(input.organization_id), info.context.mail_limits
        )
        return await run_mutation(ServicePartnerPayload, change, lambda _: {"relationship": None})

    @strawberry.mutation(
        description="Set what the service partner may do here; takes effect on its next request.",
        extensions=[Requires(SERVICE_PROVIDER_MANAGER, "input.organization_id")],
    )
    async def set_delegated_permissions(self, info: Info, input: SetDelegatedPermissionsInput) -> ServicePartnerPayload:
        change = customers.set_delegated_permissions(
            info.context.actor,
            _organization_id(input.organization_id),
            input.permissions,
            input.expires_at,
            info.context.mail_limits,
        )
        return await run_mutation(ServicePartnerPayload, change, _relationship)

    @strawberry.mutation(
        description="Take every delegated permission back from the service partner.",
        extensions=[Requires(SERVICE_PROVIDER_MANAGER, "input.organization_id")],
    )
    async def revoke_delegated_permissions(
        self, info: Info, input: RevokeDelegatedPermissionsInput
    ) -> ServicePartnerPayload:
        change = customers.set_delegated_permissions(
            info.context.actor, _organization_id(input.organization_id), [], None, info.context.mail_limits
        )
        return await run_mutation(ServicePartnerPayload, change, _relationship)

    @strawberry.mutation(
        description="Open a management session on a customer; then use the ordinary mutations "
        "with the customer's organization id.",
        extensions=[Requires(MANAGEMENT_SESSION_OPENER, checked_on="the customer's current partner")],
    )
    async def start_management_session(
        self, info: Info, input: StartManagementSessionInput
    ) -> ManagementSessionPayload:
        change = customers.start_management_session(info.context.actor, _organization_id(input.customer_id))
        return await run_mutation(ManagementSessionPayload, change, session=ManagementSession.from_row)

    @strawberry.mutation(description="End a management session.", extensions=[Requires(SIGNED_IN)])
    async def end_management_session(self, info: Info, input: EndManagementSessionInput) -> ManagementSessionPayload:
        change = customers.end_management_session(info.context.actor, decode_id(input.session_id, "ManagementSession"))
        return await run_mutation(ManagementSessionPayload, change, session=ManagementSession.from_row)

"""A customer and its service partner: choosing the partner, the delegated grant, management
sessions, and the partner's "my customers"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any

from tortoise.expressions import Subquery
from tortoise.filters import escape_like
from tortoise.queryset import QuerySet, ValuesQuery
from tortoise.transactions import in_transaction

from partner_portal.models.billing import License
from partner_portal.models.clock import now
from partner_portal.models.compiled import (
    Parameter,
    ShapedValues,
    filter_shape,
    refilled,
    stand_in_count,
    stand_in_id,
    stand_in_text,
)
from partner_portal.models.customers import CustomerRelationship, ManagementSession
from partner_portal.models.enums import LicenseStatus, Program, RelationshipSource
from partner_portal.models.organizations import Organization
from partner_portal.models.partners import PartnerProfile, ProgramEnrollment
from partner_portal.models.tortoise_internals import max_length
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions import policy, scoping
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import DelegatedPermission
from partner_portal.permissions.errors import AccessError, NotFound
from partner_portal.permissions.partners import grant_in_force
from partner_portal.permissions.requirements import (
    CUSTOMER_ADMINISTRATION,
    MANAGEMENT_SESSION_OPENER,
    SERVICE_PROVIDER_MANAGER,
    SIGNED_IN,
)
from partner_portal.resolvers import audit, webhooks
from partner_portal.resolvers.audit import AUDIT_FIELDS
from partner_portal.resolvers.commissions import own_organization
from partner_portal.resolvers.errors import BadArgument, UserErrorCode, fail
from partner_portal.resolvers.mail import MailLimits
from partner_portal.resolvers.organizations import customer_names, end_granted_memberships, search_key
from partner_portal.resolvers.pagination import Page, after_values, check_page_size, cursor_values, page_of
from partner_portal.resolvers.partners import notify_administrators
from partner_portal.resolvers.per_parent import count_per_parent, first_rows_per_parent, page_per_parent
from partner_portal.settings import Settings

RELATIONSHIP_FIELDS = (
    "id",
    "customer_id",
    "partner_id",
    "source",
    "started_at",
    "ended_at",
    "grant_permissions",
    "grant_expires_at",
)
CUSTOMER_FIELDS = (
    *RELATIONSHIP_FIELDS,
    "customer__name",
    "customer__website",
    "customer__country",
    "customer__language",
    "customer__created_at",
    "customer__license__status",
    "customer__license__plan",
    "customer__license__seats",
    "customer__license__mrr_amount",
    "customer__license__currency",
    "customer__license__trial_ends_at",
    "customer__license__updated_at",
    "partner__name",
    "partner__partner_profile__code",
)
MAX_HISTORY = 100  # `Organization.servicePartnerHistory`, newest first
SESSION_FIELDS = ("id", "partner_id", "customer_id", "user_id", "started_at", "last_activity_at", "ended_at")
MAX_OPEN_SESSIONS = 100  # `viewerManagementSessions`, most recently active first


class CustomerOrder(StrEnum):
    NAME = "NAME"
    STARTED_AT = "STARTED_AT"


async def _customer_admin(actor: Actor, organization_id: int) -> MembershipInfo:
    """Only the customer's administrators and MANAGE_SERVICE_PROVIDER holders — never its partner."""
    return await SERVICE_PROVIDER_MANAGER.enforce(actor, organization_id)


async def _names(customer_id: int, partner_id: int) -> tuple[str, str]:
    rows = await Organization.filter(id__in=[customer_id, partner_id]).values("id", "name")
    names = {row["id"]: row["name"] for row in rows}
    return names[customer_id], names[partner_id]


async def _notify_link(customer_id: int, partner_id: int, change: str, limits: MailLimits | None) -> None:
    """Tell both sides; the customer's choices are what sends these, so they count on its notice rate."""
    customer_name, partner_name = await _names(customer_id, partner_id)
    for organization_id, audience in ((customer_id, "customer"), (partner_id, "partner")):
        await notify_administrators(
            organization_id,
            "service_partner_changed",
            {
                "customer_name": customer_name,
                "partner_name": partner_name,
                "change": change,
                "audience": audience,
            },
            limits=limits,
            caused_by=customer_id,
        )


async def _end_current(
    actor: Actor, membership: MembershipInfo, customer_id: int, limits: MailLimits | None
) -> CustomerRelationship | None:
    """End the customer's current relationship, its open sessions and the memberships its grant
    brought (inside a transaction)."""
    current = await CustomerRelationship.select_for_update().filter(customer_id=customer_id, ended_at=None).first()
    if current is None:
        return None
    moment = now()
    await CustomerRelationship.filter(id=current.id).update(ended_at=moment)
    await ManagementSession.filter(relationship_id=current.id, ended_at=None).update(ended_at=moment)
    await audit.record(
        actor,
        "service_partner.unlink",
        "CustomerRelationship",
        current.id,
        acting=membership,
        changes={"partner_id": current.partner_id},
    )
    await end_granted_memberships(actor, membership, current.id)
    await _notify_link(customer_id, current.partner_id, "unlinked", limits)
    await webhooks.publish(
        WebhookEventType.CUSTOMER_UNLINKED,
        webhooks.relationship_data(
            current.id, customer_id, current.partner_id, source=current.source, endedAt=webhooks.iso_time(moment)
        ),
    )
    return current


async def set_service_partner(
    actor: Actor, organization_id: int, partner_code: str, limits: MailLimits | None = None
) -> dict[str, Any]:
    """The customer selects (or changes) its service partner by the partner's public code."""
    membership = await _customer_admin(actor, organization_id)
    code = partner_code.strip().upper()
    code_length = max_length(PartnerProfile, "code")
    partner_id = (
        None
        if len(code) > code_length
        # longer than any code: tortoise refuses to compare
        else (await PartnerProfile.filter(code=code).first().values_list("organization_id", flat=True))
    )
    is_service_partner = (
        partner_id is not None
        and await ProgramEnrollment.filter(partner_id=partner_id, program=Program.SERVICE_PARTNER).exists()
    )
    if not is_service_partner:
        raise fail("partner_code", UserErrorCode.PARTNER_NOT_FOUND, "No service partner has this code.")
    if await own_organization(partner_id, organization_id):
        raise fail(
            "partner_code",
            UserErrorCode.SELF_REFERRAL,
            "A partner cannot serve its own organization or an organization of its members.",
        )
    async with in_transaction():
        customer = await Organization.select_for_update().filter(id=organization_id).first()
        current = await CustomerRelationship.filter(customer_id=organization_id, ended_at=None).first()
        if current is not None and current.partner_id == partner_id:
            return await current_relationship(actor, organization_id)
        await _end_current(actor, membership, organization_id, limits)
        license_status = await License.filter(organization_id=organization_id).first().values_list("status", flat=True)
        relationship = await CustomerRelationship.create(
            customer_id=organization_id,
            partner_id=partner_id,
            source=RelationshipSource.SELECTED,
            started_at=now(),
            license_status=license_status,
            **customer_names(customer.name),
        )
        await audit.record(
            actor,
            "service_partner.link",
            "CustomerRelationship",
            relationship.id,
            acting=membership,
            changes={"partner_id": partner_id, "source": RelationshipSource.SELECTED.value},
        )
        await _notify_link(organization_id, partner_id, "linked", limits)
        await webhooks.publish(
            WebhookEventType.CUSTOMER_LINKED,
            webhooks.relationship_data(
                relationship.id, organization_id, partner_id, source=RelationshipSource.SELECTED.value
            ),
        )
    return await current_relationship(actor, organization_id)


async def remove_service_partner(actor: Actor, organization_id: int, limits: MailLimits | None = None) -> None:
    membership = await _customer_admin(actor, organization_id)
    async with in_transaction():
        if await _end_current(actor, membership, organization_id, limits) is None:
            raise fail(None, UserErrorCode.NO_SERVICE_PARTNER, "Your organization has no service partner.")


async def set_delegated_permissions(
    actor: Actor,
    organization_id: int,
    permissions: Iterable[DelegatedPermission],
    expires_at: datetime | None,
    limits: MailLimits | None = None,
) -> dict[str, Any]:
    """Replace the grant (empty revokes). Takes effect on the partner's very next request; without
    MANAGE_MEMBERS, the memberships the partner's staff invited end with it."""
    membership = await _customer_admin(actor, organization_id)
    granted = sorted({DelegatedPermission(p).value for p in permissions})
    if expires_at is not None and expires_at <= now():
        raise fail("expires_at", UserErrorCode.INVALID_VALUE, "The expiry must lie in the future.")
    if not granted:
        expires_at = None
    async with in_transaction():
        current = (
            await CustomerRelationship.select_for_update().filter(customer_id=organization_id, ended_at=None).first()
        )
        if current is None:
            raise fail(None, UserErrorCode.NO_SERVICE_PARTNER, "Choose a service partner first.")
        before = {
            "permissions": grant_in_force(
                {"grant_permissions": current.grant_permissions, "grant_expires_at": current.grant_expires_at}
            ),
            "expires_at": current.grant_expires_at.isoformat() if current.grant_expires_at else None,
        }
        after = {"permissions": granted, "expires_at": expires_at.isoformat() if expires_at else None}
        await CustomerRelationship.filter(id=current.id).update(
            grant_permissions=granted, grant_expires_at=expires_at, grant_updated_at=now()
        )
        await audit.record(
            actor,
            "delegated_grant.set" if granted else "delegated_grant.revoke",
            "CustomerRelationship",
            current.id,
            acting=membership,
            changes=audit.diff(before, after),
        )
        if DelegatedPermission.MANAGE_MEMBERS not in granted:
            await end_granted_memberships(actor, membership, current.id)
        customer_name, partner_name = await _names(organization_id, current.partner_id)
        for notified, audience in ((organization_id, "customer"), (current.partner_id, "partner")):
            await notify_administrators(
                notified,
                "grant_changed",
                {
                    "customer_name": customer_name,
                    "partner_name": partner_name,
                    "permissions": granted,
                    "expires_at": expires_at,
                    "audience": audience,
                },
                limits=limits,
                caused_by=organization_id,
            )
        await webhooks.publish(
            WebhookEventType.GRANT_CHANGED,
            webhooks.relationship_data(
                current.id,
                organization_id,
                current.partner_id,
                permissions=granted,
                expiresAt=webhooks.iso_time(expires_at),
            ),
        )
    return await current_relationship(actor, organization_id)


async def current_relationship(actor: Actor, organization_id: int) -> dict[str, Any] | None:
    """The customer's current service partner: for the customer's members and that partner's staff."""
    return (
        await (await scoping.visible_relationships(actor))
        .filter(customer_id=organization_id, ended_at=None)
        .first()
        .values(*CUSTOMER_FIELDS)
    )


async def current_relationships(actor: Actor, organization_ids: list[int]) -> dict[int, dict[str, Any]]:
    """`current_relationship` for many organizations in one query (a loader's batch)."""
    rows = (
        await (await scoping.visible_relationships(actor))
        .filter(customer_id__in=organization_ids, ended_at=None)
        .values(*CUSTOMER_FIELDS)
    )
    return {row["customer_id"]: row for row in rows}


async def relationship_histories(actor: Actor, organization_ids: list[int]) -> dict[int, Any]:
    """The newest MAX_HISTORY service partners of each customer, newest first (its administrators),
    in one query; an organization the actor may not read this of maps to the error to raise."""
    errors = await _customer_admin_errors(actor, organization_ids)
    allowed = [organization_id for organization_id in organization_ids if organization_id not in errors]
    return errors | await first_rows_per_parent(
        await scoping.visible_relationships(actor),
        parent="customer_id",
        parents=allowed,
        fields=CUSTOMER_FIELDS,
        order=("-id",),
        limit=MAX_HISTORY,
    )


# --- management sessions -----------------------------------------------------------------------------


async def start_management_session(actor: Actor, customer_id: int) -> dict[str, Any]:
    """Partner staff with ADMINISTER_CUSTOMERS open a session on a current customer.

    The session opens even without a grant: the customer decides what it allows, and
    every action inside is checked against the grant in force at that moment.
    """
    await MANAGEMENT_SESSION_OPENER.admit(actor)
    relationship = await CustomerRelationship.filter(customer_id=customer_id, ended_at=None).first()
    if relationship is None or await policy.membership_in(actor, relationship.partner_id) is None:
        raise NotFound()
    membership, _ = await MANAGEMENT_SESSION_OPENER.enforce(actor, relationship.partner_id)
    moment = now()
    async with in_transaction():
        await ManagementSession.filter(user_id=actor.user_id, customer_id=customer_id, ended_at=None).update(
            ended_at=moment
        )
        session = await ManagementSession.create(
            partner_id=relationship.partner_id,
            customer_id=customer_id,
            user_id=actor.user_id,
            relationship_id=relationship.id,
            started_at=moment,
            last_activity_at=moment,
        )
        await audit.record(
            actor,
            "management_session.start",
            "ManagementSession",
            session.id,
            organization_id=customer_id,
            acting=_session_acting(membership, session.id, customer_id),
        )
    actor.forget_memberships()
    return await ManagementSession.filter(id=session.id).first().values(*SESSION_FIELDS)


def _session_acting(staff: MembershipInfo, session_id: int, customer_id: int) -> MembershipInfo:
    return MembershipInfo(
        None,
        customer_id,
        staff.role,
        frozenset(),
        management_session_id=session_id,
        partner_organization_id=staff.organization_id,
    )


async def end_management_session(actor: Actor, session_id: int) -> dict[str, Any]:
    await SIGNED_IN.enforce(actor)
    session = await (await scoping.visible_management_sessions(actor)).filter(id=session_id).first()
    if session is None:
        raise NotFound()
    async with in_transaction():
        if await ManagementSession.filter(id=session_id, ended_at=None).update(ended_at=now()):
            staff = (await actor.memberships()).get(session.partner_id)
            acting = _session_acting(staff, session_id, session.customer_id) if staff else None
            await audit.record(
                actor,
                "management_session.end",
                "ManagementSession",
                session_id,
                organization_id=session.customer_id,
                acting=acting,
            )
    actor.forget_memberships()
    return await ManagementSession.filter(id=session_id).first().values(*SESSION_FIELDS)


async def get_session(actor: Actor, session_id: int) -> dict[str, Any] | None:
    """The staff member's own sessions."""
    return (
        await (await scoping.visible_management_sessions(actor)).filter(id=session_id).first().values(*SESSION_FIELDS)
    )


async def open_sessions(actor: Actor, settings: Settings) -> list[dict[str, Any]]:
    """The actor's own open management sessions (see `session_is_open`), most recently active first."""
    sessions = await scoping.visible_management_sessions(actor)
    return (
        await sessions.filter(ended_at=None, last_activity_at__gt=now() - settings.management_session_idle)
        .order_by("-last_activity_at", "-id")
        .limit(MAX_OPEN_SESSIONS)
        .values(*SESSION_FIELDS)
    )


def session_is_open(row: dict[str, Any], settings: Settings) -> bool:
    return row["ended_at"] is None and row["last_activity_at"] > now() - settings.management_session_idle


async def session_permissions(actor: Actor, customer_id: int) -> list[str]:
    delegated = (await actor.delegations()).get(customer_id)
    return sorted(delegated.permissions) if delegated else []


# --- my customers and activity -----------------------------------------------------------------------


MAX_SEARCH_LENGTH = 200  # customer_relationships.customer_search_name


def _customers(
    scope: QuerySet,
    partner_id: int,
    license_status: LicenseStatus | None,
    source: RelationshipSource | None,
    search: str | None,
) -> QuerySet:
    """The partner's current customers in `scope`, narrowed by the filters given (`search` as its key)."""
    queryset = scope.filter(partner_id=partner_id, ended_at=None)
    if license_status is not None:
        queryset = queryset.filter(license_status=license_status)  # the relationship's copy: no join
    if source is not None:
        queryset = queryset.filter(source=source)
    if search is not None:
        queryset = queryset.filter(customer_search_name__contains=search)
    return queryset


def _order_keys(order: CustomerOrder, descending: bool) -> tuple[str, ...]:
    prefix = "-" if descending else ""
    return (f"{prefix}customer_name", f"{prefix}id") if order is CustomerOrder.NAME else (f"{prefix}id",)


def _customer_page(
    customers: QuerySet, order: CustomerOrder, descending: bool, cursor: Sequence[Any] | None, limit: int
) -> ValuesQuery:
    """The first `limit` of `customers` after the row whose sort keys hold `cursor`, in one query.

    The subquery picks the page's ids in order from the relationships alone (the customer's name is
    kept on them), walking the index (partner_id, ended_at, customer_name, id) and stopping after the
    page; only those rows are joined with license, customer and partner. A partner with 10,000
    customers would otherwise join all of them before sorting. `ended_at` (null in every row) leads
    the subquery's order: PostgreSQL does not count `IS NULL` as an equality, and would otherwise not
    see that the index is in order.
    """
    keys = _order_keys(order, descending)
    narrowed = customers if cursor is None else after_values(customers, keys, cursor)
    prefix = "-" if descending else ""
    in_index_order = (f"{prefix}ended_at", *keys) if order is CustomerOrder.NAME else keys
    page_ids = narrowed.order_by(*in_index_order).limit(limit).values("id")
    columns = dict.fromkeys([*CUSTOMER_FIELDS, *(key.lstrip("-") for key in keys)])
    return CustomerRelationship.filter(id__in=Subquery(page_ids)).order_by(*keys).limit(limit).values(*columns)


# The page's statement, built once per dialect and shape (`models/compiled.py`): tortoise takes
# several milliseconds to build it, the database one or two to run it.
CUSTOMER_PAGES = ShapedValues()


def _like_contains(text: str) -> str:
    """The pattern tortoise's `__contains` sends for `text` (were it another, the statement would not
    compile: `ShapedValues`)."""
    return f"%{escape_like(text)}%"


def _stand_in_for(value: Any, index: int) -> Any:
    """A stand-in of the type of `value` (a cursor's id or name), or None for another type (null)."""
    if type(value) is int:
        return stand_in_id(index)
    if type(value) is str:
        return stand_in_text(index)
    return None


async def _compiled_customer_page(
    scope: QuerySet,
    partner_id: int,
    license_status: LicenseStatus | None,
    source: RelationshipSource | None,
    search: str | None,
    order: CustomerOrder,
    descending: bool,
    cursor: Sequence[Any] | None,
    limit: int,
) -> list[dict[str, Any]] | None:
    """`_customer_page`'s rows through its statement for this shape; None when there is none (the
    scope has no `filter_shape`, the cursor holds a null, or `CUSTOMER_PAGES` declines)."""
    scope_shape = filter_shape(scope)
    if scope_shape is None:
        return None
    parameters = [Parameter(id_, stand_in_id(index)) for index, id_ in enumerate(scope_shape.ids)]
    parameters.append(Parameter(partner_id, stand_in_id(len(parameters))))
    # an enum's stand-in is a member (tortoise refuses other values); the two enums share no value
    if license_status is not None:
        parameters.append(Parameter(license_status, LicenseStatus.TRIAL, attrgetter("value")))
    if source is not None:
        parameters.append(Parameter(source, RelationshipSource.INVITATION, attrgetter("value")))
    if search is not None:
        parameters.append(Parameter(search, stand_in_text(len(parameters)), _like_contains))
    for value in cursor or ():
        stand_in = _stand_in_for(value, len(parameters))
        if stand_in is None:
            return None
        parameters.append(Parameter(value, stand_in))
    parameters.append(Parameter(limit, stand_in_count(0)))

    def build(*stand_ins: Any) -> ValuesQuery:  # takes them in the order of `parameters`
        taken = iter(stand_ins)
        scope_ids = [next(taken) for _ in scope_shape.ids]
        customers = _customers(
            refilled(scope, scope_ids),
            next(taken),
            None if license_status is None else next(taken),
            None if source is None else next(taken),
            None if search is None else next(taken),
        )
        cursor_stand_ins = None if cursor is None else [next(taken) for _ in cursor]
        return _customer_page(customers, order, descending, cursor_stand_ins, next(taken))

    shape = (
        scope_shape.key,
        license_status is not None,
        source is not None,
        search is not None,
        order,
        descending,
        cursor is not None,
    )
    return await CUSTOMER_PAGES.rows(shape, build, parameters)


async def my_customers(
    actor: Actor,
    partner_id: int | None,
    *,
    license_status: LicenseStatus | None,
    source: RelationshipSource | None,
    search: str | None,
    order: CustomerOrder,
    descending: bool,
    first: int | None,
    after: str | None,
) -> Page:
    """The partner's current customers (never referral-only organizations), one query a page
    (`_customer_page`), its statement built once per shape (`_compiled_customer_page`)."""
    membership, _ = await CUSTOMER_ADMINISTRATION.enforce(actor, partner_id)
    scope = await scoping.visible_relationships(actor)
    key = None
    if search and search.strip():
        if len(search) > MAX_SEARCH_LENGTH:  # no name is longer; SQLite refuses very long LIKE patterns
            raise BadArgument(f"Search for at most {MAX_SEARCH_LENGTH} characters.")
        key = search_key(search.strip())
    keys = _order_keys(order, descending)
    cursor = None if after is None else cursor_values(CustomerRelationship, keys, after)
    size = check_page_size(first)
    page_query = (scope, membership.organization_id, license_status, source, key)
    rows = await _compiled_customer_page(*page_query, order, descending, cursor, size + 1)
    customers = _customers(*page_query)  # totalCount counts every customer, not the page
    if rows is None:
        rows = await _customer_page(customers, order, descending, cursor, size + 1)
    return page_of(rows, size=size, order=keys, after=after, queryset=customers)


async def get_customer(actor: Actor, relationship_id: int) -> dict[str, Any] | None:
    """A relationship the actor sees (`scoping.visible_relationships`)."""
    return (
        await (await scoping.visible_relationships(actor)).filter(id=relationship_id).first().values(*CUSTOMER_FIELDS)
    )


async def _customer_admin_errors(actor: Actor, organization_ids: list[int]) -> dict[int, AccessError]:
    """The organizations whose service-partner data the actor may not read, each with the error to raise."""
    errors = {}
    for organization_id in organization_ids:
        try:
            await _customer_admin(actor, organization_id)
        except AccessError as error:
            errors[organization_id] = error
    return errors


async def _activity(actor: Actor) -> QuerySet:
    return (await scoping.visible_audit_events(actor)).filter(management_session_id__isnull=False)


async def service_provider_activities(
    actor: Actor, organization_ids: list[int], first: int | None, after: str | None
) -> dict[int, Any]:
    """What partner staff did in each customer organization, a page per organization in one query,
    for the customer's administrators and MANAGE_SERVICE_PROVIDER holders (else the error to raise)."""
    errors = await _customer_admin_errors(actor, organization_ids)
    allowed = [organization_id for organization_id in organization_ids if organization_id not in errors]
    return errors | await page_per_parent(
        await _activity(actor),
        parent="organization_id",
        parents=allowed,
        fields=AUDIT_FIELDS,
        first=first,
        after=after,
        order=("-id",),
    )


async def service_provider_activity_counts(actor: Actor, organization_ids: list[int]) -> dict[int, int]:
    return await count_per_parent(await _activity(actor), parent="organization_id", parents=organization_ids)

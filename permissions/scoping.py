"""Querysets restricted to what an actor may see.

Every read in `resolvers/` starts here, so an object outside the actor's lane is
simply absent: NOT_FOUND, the same as an object that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from functools import reduce
from operator import or_

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from partner_portal.models.affiliates import AffiliateLink
from partner_portal.models.audit import AuditEvent
from partner_portal.models.billing import License, Payment
from partner_portal.models.catalog import Plan, Product
from partner_portal.models.clock import now
from partner_portal.models.codes import DiscountCode, DiscountRedemption
from partner_portal.models.commissions import Commission, CommissionRule
from partner_portal.models.coupons import Coupon, CouponOrder, Invoice
from partner_portal.models.customers import CustomerRelationship, ManagementSession
from partner_portal.models.identity import ApiKey, Operator, SessionToken, User
from partner_portal.models.invitations import Invitation
from partner_portal.models.organizations import Membership, MembershipInvitation, Organization
from partner_portal.models.outbox import OutboxMessage
from partner_portal.models.partners import PartnerApplication, PartnerProfile, ProgramEnrollment
from partner_portal.models.payouts import Payout
from partner_portal.models.tiers import Tier, TierAssessment
from partner_portal.models.webhooks import WebhookDelivery, WebhookSubscription
from partner_portal.permissions import two_factor
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import (
    ApiKeyScope,
    DelegatedPermission,
    OperatorPermission,
    OrganizationPermission,
    PartnerPermission,
    Role,
)
from partner_portal.permissions.errors import Missing, NotFound
from partner_portal.permissions.policy import acting_membership as policy_acting_membership
from partner_portal.permissions.policy import (
    effective_permissions,
    is_operator_with,
    manages_webhooks,
    reads_all_reports,
)
from partner_portal.permissions.refusals import Refusal
from partner_portal.permissions.verified_email import in_force


def memberships_from_rows(rows: list[dict], *, email_verified: bool) -> dict[int, MembershipInfo]:
    """Membership rows (`id`, `organization_id`, `role`, `permissions`) by organization id, with the
    permissions in force for a user whose address is (not) verified (`verified_email.in_force`)."""
    memberships = {}
    for row in rows:
        role = row["role"]
        memberships[row["organization_id"]] = MembershipInfo(
            membership_id=row["id"],
            organization_id=row["organization_id"],
            role=role,
            permissions=in_force(effective_permissions(role, row["permissions"]), email_verified),
        )
    return memberships


def operator_permissions_from(permissions: list[str] | None) -> frozenset[OperatorPermission]:
    """An operator row's permissions (None: not an operator)."""
    return frozenset(OperatorPermission(p) for p in permissions or ())


async def load_memberships(user_id: int) -> dict[int, MembershipInfo]:
    """All of a user's memberships in one query (with whether the user's address is verified)."""
    rows = await Membership.filter(user_id=user_id).values(
        "id", "organization_id", "role", "permissions", "user__email_verified_at"
    )
    return memberships_from_rows(rows, email_verified=bool(rows) and rows[0]["user__email_verified_at"] is not None)


async def load_operator_permissions(user_id: int) -> frozenset[OperatorPermission]:
    row = await Operator.filter(user_id=user_id).first().values("permissions")
    return operator_permissions_from(row["permissions"] if row else None)


async def load_delegations(actor: Actor, *, idle: timedelta) -> dict[int, MembershipInfo]:
    """The customers the actor manages in an open, recently active management session.

    Read on every request, so a changed, expired or revoked grant applies at once. The
    staff member must still hold ADMINISTER_CUSTOMERS in the partner, the partner must
    still be the customer's current partner; the grant is empty once it has expired.
    """
    memberships = await actor.memberships()
    if not _holding(memberships, PartnerPermission.ADMINISTER_CUSTOMERS):
        return {}  # not partner staff: no query
    moment = now()
    rows = await ManagementSession.filter(
        user_id=actor.user_id, ended_at=None, last_activity_at__gt=moment - idle, relationship__ended_at=None
    ).values("id", "partner_id", "customer_id", "relationship__grant_permissions", "relationship__grant_expires_at")
    delegated: dict[int, MembershipInfo] = {}
    for row in rows:
        staff = memberships.get(row["partner_id"])
        if staff is None or PartnerPermission.ADMINISTER_CUSTOMERS not in staff.permissions:
            continue
        expires_at = row["relationship__grant_expires_at"]
        granted = row["relationship__grant_permissions"] if expires_at is None or expires_at > moment else []
        delegated[row["customer_id"]] = MembershipInfo(
            membership_id=None,
            organization_id=row["customer_id"],
            role=Role.MEMBER,
            permissions=frozenset(granted) & frozenset(DelegatedPermission),
            management_session_id=row["id"],
            partner_organization_id=row["partner_id"],
        )
    return delegated


def _holding(memberships: dict[int, MembershipInfo], permission: str) -> list[int]:
    return [org_id for org_id, m in memberships.items() if permission in m.permissions]


async def _is_any_operator(actor: Actor) -> bool:
    return bool(actor.user_id is not None and await actor.operator_permissions())


async def visible_organizations(actor: Actor) -> QuerySet[Organization]:
    """Operators see every organization; users the ones they belong to (and partner staff their
    current customers). The condition is built once per request."""
    if await _is_any_operator(actor):
        return Organization.all()
    visible = actor.derived.get("organizations")
    if visible is None:
        memberships = await actor.memberships()
        visible = Q(id__in=list(memberships))
        partners = _holding(memberships, PartnerPermission.ADMINISTER_CUSTOMERS)
        if partners:
            customers = CustomerRelationship.filter(partner_id__in=partners, ended_at=None).values("customer_id")
            visible |= Q(id__in=Subquery(customers))
        actor.derived["organizations"] = visible
    return Organization.filter(visible)


async def acting_membership(actor: Actor, organization_id: int | None, needs: Missing | None = None) -> MembershipInfo:
    """`policy.acting_membership` with the design rule on its failure path.

    An organization the actor sees (an operator; partner staff on a current customer) but does
    not act in is FORBIDDEN, missing what the operation `needs` there (None: a membership); one it
    cannot see stays NOT_FOUND, exactly like an absent id. The visibility query runs only when the
    actor has no membership or session there.
    """
    try:
        return await policy_acting_membership(actor, organization_id)
    except NotFound:
        if organization_id is None:
            raise
        if await (await visible_organizations(actor)).filter(id=organization_id).exists():
            await two_factor.refuse_withheld_delegation(actor, organization_id)
            raise Refusal(needs or Missing("MEMBERSHIP"), organization_id) from None
        raise


async def _member_list_organizations(actor: Actor) -> list[int]:
    """Organizations whose member list the actor sees: its own, and customers whose grant
    lets it manage members in an open session (once per request)."""
    organizations = actor.derived.get("member_lists")
    if organizations is None:
        delegated = _holding(await actor.delegations(), DelegatedPermission.MANAGE_MEMBERS)
        organizations = actor.derived["member_lists"] = [*await actor.memberships(), *delegated]
    return organizations


async def visible_memberships(actor: Actor) -> QuerySet[Membership]:
    """Members see the members of their organizations; operators every membership."""
    if await _is_any_operator(actor):
        return Membership.all()
    return Membership.filter(organization_id__in=await _member_list_organizations(actor))


async def visible_membership_invitations(actor: Actor) -> QuerySet[MembershipInvitation]:
    """MANAGE_MEMBERS holders see their organizations' membership invitations: through their own
    membership, or a grant with MANAGE_MEMBERS in an open management session (once per request)."""
    organizations = actor.derived.get("member_managers")
    if organizations is None:
        organizations = actor.derived["member_managers"] = [
            *_holding(await actor.memberships(), OrganizationPermission.MANAGE_MEMBERS),
            *_holding(await actor.delegations(), DelegatedPermission.MANAGE_MEMBERS),
        ]
    return MembershipInvitation.filter(organization_id__in=organizations)


async def visible_users(actor: Actor) -> QuerySet[User]:
    """A user sees itself and the people it shares an organization with."""
    if actor.user_id is None:
        return User.filter(id__in=[])  # tortoise 1.1 has no .none()
    if await _is_any_operator(actor):
        return User.all()
    colleagues = Membership.filter(organization_id__in=await _member_list_organizations(actor)).values("user_id")
    visible = Q(id=actor.user_id) | Q(id__in=Subquery(colleagues))
    overseen = _holding(await actor.memberships(), OrganizationPermission.MANAGE_SERVICE_PROVIDER)
    if overseen:  # the partner staff who acted in the actor's organizations
        visitors = AuditEvent.filter(organization_id__in=overseen, management_session_id__isnull=False)
        visible |= Q(id__in=Subquery(visitors.values("actor_user_id")))
    return User.filter(visible)


async def visible_audit_events(actor: Actor) -> QuerySet[AuditEvent]:
    """Operators and `reports:read` API keys read every event; administrators their organization's."""
    if ApiKeyScope.REPORTS_READ in actor.scopes or await is_operator_with(actor, OperatorPermission.VIEW_ALL_REPORTS):
        return AuditEvent.all()
    memberships = await actor.memberships()
    administered = [org_id for org_id, m in memberships.items() if m.role is Role.ADMINISTRATOR]
    overseen = _holding(memberships, OrganizationPermission.MANAGE_SERVICE_PROVIDER)
    return AuditEvent.filter(
        # their own organizations; what partner staff did in them; what their own staff
        # did in customers' organizations
        Q(organization_id__in=administered)
        | Q(organization_id__in=overseen, management_session_id__isnull=False)
        | Q(partner_organization_id__in=administered)
    )


async def visible_api_keys(actor: Actor) -> QuerySet[ApiKey]:
    """Operators with MANAGE_PROGRAMS see every key; an API key itself (`viewerApiKey`)."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return ApiKey.all()
    return ApiKey.filter(id__in=[actor.api_key_id] if actor.api_key_id is not None else [])


async def visible_sessions(actor: Actor) -> QuerySet[SessionToken]:
    """A user's sign-in sessions are the user's alone: nobody else sees them, operators neither."""
    return SessionToken.filter(user_id__in=[actor.user_id] if actor.user_id is not None else [])


async def visible_outbox_messages(actor: Actor) -> QuerySet[OutboxMessage]:
    """Outgoing mail (with its bodies) is for operators with MANAGE_PROGRAMS only."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return OutboxMessage.all()
    return OutboxMessage.filter(id__in=[])  # nothing (`WHERE 1=0`)


async def report_partners(actor: Actor) -> list[int] | None:
    """The partners whose reports the actor reads: None for every partner (`reports:read` API
    keys, operators with VIEW_ALL_REPORTS), else those it holds MANAGE_PARTNER_PORTAL in."""
    if await reads_all_reports(actor):
        return None
    return _holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)


async def visible_report_commissions(actor: Actor) -> QuerySet[Commission]:
    partners = await report_partners(actor)
    return Commission.all() if partners is None else Commission.filter(partner_id__in=partners)


async def visible_report_invitations(actor: Actor) -> QuerySet[Invitation]:
    partners = await report_partners(actor)
    return Invitation.all() if partners is None else Invitation.filter(partner_id__in=partners)


async def visible_report_relationships(actor: Actor) -> QuerySet[CustomerRelationship]:
    partners = await report_partners(actor)
    return CustomerRelationship.all() if partners is None else CustomerRelationship.filter(partner_id__in=partners)


async def visible_commissions(actor: Actor) -> QuerySet[Commission]:
    """Commission lines: operators with MANAGE_PAYOUTS (who read any partner's table) and readers of
    every partner's reports see every line, and so do `billing:write` API keys (the vendor's billing
    system, whose payments earn the lines and whose refunds reverse them; `recordPayment` answers
    with the line); MANAGE_PARTNER_PORTAL holders their partner's. Refuses nobody: any other caller
    sees no line."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PAYOUTS) or (
        ApiKeyScope.REPORTS_READ in actor.scopes
        or ApiKeyScope.BILLING_WRITE in actor.scopes
        or await is_operator_with(actor, OperatorPermission.VIEW_ALL_REPORTS)
    ):
        return Commission.all()
    portal = _holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)
    return Commission.filter(partner_id__in=portal)


async def visible_payments(actor: Actor) -> QuerySet[Payment]:
    """`billing:write` API keys (the billing system, which records them) see every payment; anybody
    else the payments of the commission lines it sees (`visible_commissions`, `Commission.payment`)."""
    if ApiKeyScope.BILLING_WRITE in actor.scopes:
        return Payment.all()
    lines = (await visible_commissions(actor)).filter(payment_id__isnull=False).values("payment_id")
    return Payment.filter(id__in=Subquery(lines))


async def visible_discount_redemptions(actor: Actor) -> QuerySet[DiscountRedemption]:
    """Only `billing:write` API keys (the checkout, which records them with `redeemDiscountCode`) see
    discount code redemptions; partners see their code's figures, not the redemptions."""
    if ApiKeyScope.BILLING_WRITE in actor.scopes:
        return DiscountRedemption.all()
    return DiscountRedemption.filter(id__in=[])


async def visible_commission_rules(actor: Actor) -> QuerySet[CommissionRule]:
    """Operators with MANAGE_PROGRAMS see every rule; MANAGE_PARTNER_PORTAL holders of a partner the
    rules `programOverview` weighs for it (active, in its programs, for any partner or for it, for any
    tier or its tier); anybody else none."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return CommissionRule.all()
    portal = _holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)
    tiers = dict(await PartnerProfile.filter(organization_id__in=portal).values_list("organization_id", "tier"))
    programs: dict[int, list[str]] = {partner: [] for partner in tiers}
    for partner, program in await ProgramEnrollment.filter(partner_id__in=list(tiers)).values_list(
        "partner_id", "program"
    ):
        programs[partner].append(program)
    weighed = [
        Q(Q(partner_id=None) | Q(partner_id=partner), Q(tier=None) | Q(tier=tiers[partner]), program__in=enrolled)
        for partner, enrolled in programs.items()
        if enrolled
    ]
    if not weighed:
        return CommissionRule.filter(id__in=[])
    return CommissionRule.filter(reduce(or_, weighed), active=True)


async def visible_webhook_subscriptions(actor: Actor) -> QuerySet[WebhookSubscription]:
    if await manages_webhooks(actor):
        return WebhookSubscription.all()
    return WebhookSubscription.filter(id__in=[])


async def visible_webhook_deliveries(actor: Actor) -> QuerySet[WebhookDelivery]:
    if await manages_webhooks(actor):
        return WebhookDelivery.all()
    return WebhookDelivery.filter(id__in=[])


async def visible_tiers(actor: Actor) -> QuerySet[Tier]:
    """Operators with MANAGE_PROGRAMS see every tier; MANAGE_PARTNER_PORTAL holders of a partner
    the active ones (the ladder they climb) and the one their partner holds, even deactivated
    (as `partnerTier` shows it); anybody else none."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return Tier.all()
    portal = _holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)
    if portal and await PartnerProfile.filter(organization_id__in=portal).exists():
        held = Subquery(PartnerProfile.filter(organization_id__in=portal, tier__isnull=False).values("tier"))
        return Tier.filter(Q(active=True) | Q(name__in=held))
    return Tier.filter(id__in=[])


async def visible_partner_applications(actor: Actor) -> QuerySet[PartnerApplication]:
    """Operators with REVIEW_PARTNERS see every application; members the applications of their own
    organizations."""
    if await is_operator_with(actor, OperatorPermission.REVIEW_PARTNERS):
        return PartnerApplication.all()
    return PartnerApplication.filter(organization_id__in=list(await actor.memberships()))


async def visible_tier_assessments(actor: Actor) -> QuerySet[TierAssessment]:
    """Operators with MANAGE_PROGRAMS see every partner's assessments; MANAGE_PARTNER_PORTAL holders
    their partners'; anybody else none."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return TierAssessment.all()
    return TierAssessment.filter(
        partner_id__in=_holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)
    )


async def visible_relationships(actor: Actor) -> QuerySet[CustomerRelationship]:
    """Customer relationships: operators see every one (as every organization); a customer's members its
    relationships, current and ended (`servicePartnerHistory`); a partner's ADMINISTER_CUSTOMERS holders
    its current ones only (an ended one would still show the former customer's name and license)."""
    if await _is_any_operator(actor):
        return CustomerRelationship.all()
    memberships = await actor.memberships()
    visible = Q(customer_id__in=list(memberships))
    partners = _holding(memberships, PartnerPermission.ADMINISTER_CUSTOMERS)
    if partners:
        visible |= Q(partner_id__in=partners, ended_at=None)
    return CustomerRelationship.filter(visible)


async def visible_management_sessions(actor: Actor) -> QuerySet[ManagementSession]:
    """A staff member's own management sessions; nobody else's."""
    if actor.user_id is None:
        return ManagementSession.filter(id__in=[])
    return ManagementSession.filter(user_id=actor.user_id)


async def visible_invitations(actor: Actor) -> QuerySet[Invitation]:
    """Customer invitations: CREATE_CUSTOMER_ORGANIZATIONS holders of the inviting partner."""
    return Invitation.filter(
        partner_id__in=_holding(await actor.memberships(), PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS)
    )


async def visible_payouts(actor: Actor) -> QuerySet[Payout]:
    """Operators with MANAGE_PAYOUTS see every payout; MANAGE_PARTNER_PORTAL holders their partner's."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PAYOUTS):
        return Payout.all()
    return Payout.filter(partner_id__in=_holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL))


async def visible_affiliate_links(actor: Actor) -> QuerySet[AffiliateLink]:
    """A partner's MANAGE_PARTNER_PORTAL holders see its affiliate links (the public side is `/r/{code}`)."""
    return AffiliateLink.filter(
        partner_id__in=_holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)
    )


async def visible_products(actor: Actor) -> QuerySet[Product]:
    """The catalog is public: `products` needs no sign-in."""
    return Product.all()


async def visible_plans(actor: Actor) -> QuerySet[Plan]:
    """Plans are public with their products."""
    return Plan.all()


async def _resellers_seen(actor: Actor) -> list[int] | None:
    """The partners whose coupon orders the actor reads: None for every one (operators with
    MANAGE_PROGRAMS, who keep resellers' discounts), else those it holds MANAGE_PARTNER_PORTAL in."""
    if await is_operator_with(actor, OperatorPermission.MANAGE_PROGRAMS):
        return None
    return _holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)


async def visible_coupon_orders(actor: Actor) -> QuerySet[CouponOrder]:
    partners = await _resellers_seen(actor)
    return CouponOrder.all() if partners is None else CouponOrder.filter(partner_id__in=partners)


async def visible_coupons(actor: Actor) -> QuerySet[Coupon]:
    """The coupons of the orders the actor sees (`visible_coupon_orders`)."""
    partners = await _resellers_seen(actor)
    return Coupon.all() if partners is None else Coupon.filter(order__partner_id__in=partners)


async def visible_coupon_invoices(actor: Actor) -> QuerySet[Invoice]:
    """The invoices of the coupon orders the actor sees (`visible_coupon_orders`)."""
    partners = await _resellers_seen(actor)
    return Invoice.all() if partners is None else Invoice.filter(order__partner_id__in=partners)


async def visible_discount_codes(actor: Actor) -> QuerySet[DiscountCode]:
    """A partner's MANAGE_PARTNER_PORTAL holders see its expert code (integrators check a code by its
    text with `discountCode`, which reads no row they could not name)."""
    return DiscountCode.filter(
        partner_id__in=_holding(await actor.memberships(), PartnerPermission.MANAGE_PARTNER_PORTAL)
    )


async def visible_licenses(actor: Actor) -> QuerySet[License]:
    """The license of each organization the actor sees (`visible_organizations`)."""
    organizations = (await visible_organizations(actor)).values("id")
    return License.filter(organization_id__in=Subquery(organizations))

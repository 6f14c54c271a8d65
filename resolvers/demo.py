"""Demo data, created through the same resolvers the API uses:

- a vendor operator;
- Northwind Partners, an approved service and affiliate partner, with one staff member
  per partner permission group; Globex Consulting (application pending) and Initech
  (application rejected);
- customers: Contoso selected Northwind and granted it settings and members, Fabrikam
  came through an accepted invitation and granted nothing, Tailspin has no partner;
  an open invitation to Wingtip; licenses for Contoso (paid) and Fabrikam (trial);
- a finished management session in which Northwind's staff changed Contoso's website;
- a catalog (two products), an EUR exchange rate, commission rules like common programs
  (20% lifetime for expert codes, per-product kickbacks for affiliates, 15% for service
  partners) and nine months of Contoso's payments, which earned Northwind commission lines;
- Northwind's payouts by bank transfer: one paid, one requested and waiting for the operator,
  and the last payment's line still in its hold;
- referral channels: Northwind's affiliate links with clicks and a signup that paid;
  Adventure Works, an expert whose code a customer redeemed and paid with; Litware, a
  reseller with an order of coupons, two of them redeemed;
- HubSpot's partner tiers (Silver, Gold, Platinum, Diamond) with richer service-partner rates,
  Northwind's agency certification, and the tier figures refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from partner_portal.models.catalog import Plan
from partner_portal.models.clock import now
from partner_portal.models.coupons import Coupon
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.enums import CommissionRuleKind, LicenseStatus, PayoutMethod, Program, Recurrence
from partner_portal.models.identity import User
from partner_portal.models.payouts import Payout
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import (
    ApiKeyScope,
    DelegatedPermission,
    OperatorPermission,
    PartnerPermission,
    Role,
    Via,
)
from partner_portal.permissions.scoping import load_delegations, load_memberships, load_operator_permissions
from partner_portal.resolvers import (
    affiliates,
    billing,
    catalog,
    codes,
    commissions,
    coupons,
    customers,
    identity,
    invitations,
    organizations,
    partners,
    payouts,
    tiers,
)
from partner_portal.settings import Settings

DEMO_PASSWORD = "demo-password-1"
OPERATOR_EMAIL = "operator@vendor.example"
PARTNER_ADMIN_EMAIL = "admin@northwind.example"
STAFF = {
    "customers@northwind.example": ("Casey Customers", PartnerPermission.ADMINISTER_CUSTOMERS),
    "invites@northwind.example": ("Ivy Invites", PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS),
    "portal@northwind.example": ("Parker Portal", PartnerPermission.MANAGE_PARTNER_PORTAL),
}
CUSTOMERS = {
    "admin@contoso.example": ("Contoso Ltd", "DE"),
    "admin@tailspin.example": ("Tailspin Toys", "US"),
}
INVITED_EMAIL = "admin@fabrikam.example"
APPLICANTS = {
    "admin@globex.example": ("Globex Consulting", "pending"),
    "admin@initech.example": ("Initech", "rejected"),
}
EXPERT_EMAIL = "admin@adventure-works.example"
RESELLER_EMAIL = "admin@litware.example"
FORM = {
    "website": "https://partner.example",
    "country": "CH",
    "vat_id": None,
    "contact_phone": None,
    "message": "We would like to join the program.",
}


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    role: str


def _logins() -> list[Login]:
    logins = [
        Login(OPERATOR_EMAIL, "vendor operator (every operator permission)"),
        Login(PARTNER_ADMIN_EMAIL, "administrator of the partner Northwind Partners (a paid and a requested payout)"),
    ]
    logins += [Login(email, f"Northwind staff with {perm.value}") for email, (_, perm) in STAFF.items()]
    logins += [Login(email, f"administrator of the customer {name}") for email, (name, _) in CUSTOMERS.items()]
    logins.append(Login(INVITED_EMAIL, "administrator of Fabrikam GmbH (came through an invitation)"))
    logins += [
        Login(email, f"administrator of {name} (application {state})") for email, (name, state) in APPLICANTS.items()
    ]
    logins += [
        Login(EXPERT_EMAIL, "administrator of Adventure Works (expert: a discount code)"),
        Login(RESELLER_EMAIL, "administrator of Litware Resellers (reseller: coupons)"),
    ]
    return logins


class _Demo:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def actor(self, user_id: int) -> Actor:
        return Actor(
            via=Via.CLI,
            user_id=user_id,
            _load_memberships=load_memberships,
            _load_operator=load_operator_permissions,
            _load_delegations=partial(load_delegations, idle=self.settings.management_session_idle),
        )

    async def user(self, email: str, name: str) -> Actor:
        issued = await identity.create_account(self.settings, email=email, password=DEMO_PASSWORD, name=name)
        return self.actor(issued.user["id"])

    async def application(
        self, applicant: Actor, organization_id: int, name: str, programs: list[Program], **overrides: str
    ) -> int:
        form = {
            **FORM,
            "legal_name": name,
            "contact_name": f"{name} Admin",
            "contact_email": f"partners@{name.split()[0].lower()}.example",
            "programs": programs,
            **overrides,
        }
        return (await partners.request_partner_status(applicant, organization_id, form))["id"]


async def seed_demo(settings: Settings) -> list[Login]:
    """Create the demo once; a second call changes nothing and returns the same logins."""
    if await User.filter(email=OPERATOR_EMAIL).exists():
        return _logins()
    demo = _Demo(settings)
    operator_id = await identity.make_operator(
        Actor(via=Via.CLI),
        OPERATOR_EMAIL,
        list(OperatorPermission),
        name="Olivia Operator",
        password=DEMO_PASSWORD,
        settings=settings,
    )
    operator = demo.actor(operator_id)

    # The partner, its application approved, and its staff.
    admin = await demo.user(PARTNER_ADMIN_EMAIL, "Avery Admin")
    northwind = (
        await organizations.create_organization(
            admin, name="Northwind Partners", website="https://northwind.example", country="DE", language="de"
        )
    )["id"]
    programs = [Program.SERVICE_PARTNER, Program.AFFILIATE]
    application = await demo.application(
        admin,
        northwind,
        "Northwind Partners",
        programs,
        country="DE",
        vat_id="DE136695976",
        website="https://northwind.example",
    )
    await partners.approve_application(operator, application, programs=programs, note="Welcome!", payout_currency="EUR")
    await partners.update_profile(admin, northwind, listed_in_directory=True, payout_currency=None)
    staff: dict[str, Actor] = {}
    for email, (name, permission) in STAFF.items():
        staff[email] = await demo.user(email, name)
        invited = await organizations.add_member(
            admin, settings, None, northwind, email=email, role=Role.MEMBER, permissions=[permission]
        )
        await organizations.accept_membership_invitation(staff[email], settings, invited.token)
    code = (await partners.partner_profile(northwind))["code"]

    # Applicants still waiting, or turned down.
    for email, (name, state) in APPLICANTS.items():
        applicant = await demo.user(email, f"{name} Admin")
        organization = (await organizations.create_organization(applicant, name=name, country="CH"))["id"]
        application_id = await demo.application(applicant, organization, name, [Program.AFFILIATE])
        if state == "rejected":
            await partners.reject_application(operator, application_id, note="Please reapply with references.")

    # Customers: one selected Northwind and granted it settings and members, one has no partner.
    for email, (name, country) in CUSTOMERS.items():
        customer_admin = await demo.user(email, f"{name} Admin")
        customer = (await organizations.create_organization(customer_admin, name=name, country=country))["id"]
        if name == "Contoso Ltd":
            contoso = customer
            await customers.set_service_partner(customer_admin, customer, code)
            # The demo's story starts ten months ago, so that its payments are past their hold.
            await CustomerRelationship.filter(customer_id=customer).update(started_at=now() - timedelta(days=300))
            await customers.set_delegated_permissions(
                customer_admin,
                customer,
                [DelegatedPermission.MANAGE_SETTINGS, DelegatedPermission.MANAGE_MEMBERS],
                None,
            )
            await billing.set_license(
                operator,
                customer,
                status=LicenseStatus.ACTIVE,
                plan="Business",
                seats=25,
                mrr_amount=str(Decimal("249.00")),
                currency="EUR",
                trial_ends_at=None,
            )

    # One customer came through an invitation; another invitation is still open.
    inviter = staff["invites@northwind.example"]
    issued = await invitations.invite_customer(
        inviter,
        settings,
        northwind,
        email=INVITED_EMAIL,
        organization_name="Fabrikam GmbH",
        message="As discussed.",
        language="de",
    )
    accepted, _ = await invitations.accept_invitation(
        Actor(), settings, token=issued.token, name="Fabrikam Admin", password=DEMO_PASSWORD, organization_name=None
    )
    await billing.set_license(
        operator,
        accepted["id"],
        status=LicenseStatus.TRIAL,
        plan="Business",
        seats=5,
        mrr_amount="0",
        currency="EUR",
        trial_ends_at=None,
    )
    await invitations.invite_customer(
        inviter,
        settings,
        northwind,
        email="it@wingtip.example",
        organization_name="Wingtip Toys",
        message="",
        language="en",
    )

    # A finished management session on Contoso.
    manager = staff["customers@northwind.example"]
    session = await customers.start_management_session(manager, contoso)
    await organizations.update_organization(manager, contoso, website="https://contoso.example")
    await customers.end_management_session(manager, session["id"])

    await _money(demo, operator)
    await _payouts(demo, operator, admin, northwind, contoso)
    await _referral_channels(demo, operator, admin, northwind)
    await _tiers(demo, operator, northwind)
    return _logins()


async def _money(demo: _Demo, operator: Actor) -> None:
    """Catalog, rates and rules like common programs."""
    settings = demo.settings
    await catalog.set_exchange_rate(operator, settings, currency="EUR", rate="0.92", valid_from=date(2020, 1, 1))
    mind = await catalog.create_product(operator, code="MINDMAP", name="MindMap")
    tasks = await catalog.create_product(operator, code="TASKBOARD", name="TaskBoard")
    await catalog.create_plan(
        operator,
        product_id=mind["id"],
        code="MINDMAP_PRO",
        name="MindMap Pro",
        prices=[("9.00", "USD"), ("8.25", "EUR")],
    )
    await catalog.create_plan(
        operator,
        product_id=tasks["id"],
        code="TASKBOARD_BUSINESS",
        name="TaskBoard Business",
        prices=[("24.00", "USD"), ("22.00", "EUR")],
    )
    rules = [
        dict(program=Program.EXPERT, kind=CommissionRuleKind.PERCENT, rate="20.00", recurrence=Recurrence.LIFETIME),
        dict(
            program=Program.AFFILIATE,
            kind=CommissionRuleKind.PERCENT,
            rate="25.00",
            recurrence=Recurrence.ONE_TIME,
            product_id=mind["id"],
        ),
        dict(
            program=Program.AFFILIATE,
            kind=CommissionRuleKind.PERCENT,
            rate="10.00",
            recurrence=Recurrence.MONTHS,
            months=12,
            product_id=tasks["id"],
        ),
        dict(
            program=Program.SERVICE_PARTNER,
            kind=CommissionRuleKind.PERCENT,
            rate="15.00",
            recurrence=Recurrence.LIFETIME,
        ),
    ]
    for rule in rules:
        await commissions.create_rule(
            operator,
            **{
                "flat_amount": None,
                "flat_currency": None,
                "months": None,
                "hold_days": 30,
                "product_id": None,
                "tier": None,
                "partner_id": None,
                **rule,
            },
        )


CONTOSO_MONTHS = 9  # monthly payments of 249.00, the first 270 days ago, the last today
PAYOUT_MONTHS = 4  # 4 × 37.35 = 149.40 EUR, above the default threshold (150.00 USD = 138.00 EUR)


async def _contoso_pays(demo: _Demo, operator: Actor, contoso: int, months: range) -> None:
    """Contoso's monthly payments; the lines past their 30-day hold are approved."""
    first = now() - timedelta(days=30 * (CONTOSO_MONTHS - 1))
    for month in months:
        await billing.record_payment(
            operator,
            demo.settings,
            source="demo",
            external_id=f"demo-invoice-{month + 1}",
            organization_id=contoso,
            amount="249.00",
            currency="EUR",
            paid_at=first + timedelta(days=30 * month),
            plan_code="TASKBOARD_BUSINESS",
        )
    await commissions.release_held(demo.settings)


async def _payouts(demo: _Demo, operator: Actor, admin: Actor, northwind: int, contoso: int) -> None:
    """Northwind's payouts: the first four months paid out four months ago, the next four requested
    and waiting for the operator; the last month's line is still in its hold."""
    settings = demo.settings
    await payouts.set_settings(
        admin,
        northwind,
        method=PayoutMethod.BANK_TRANSFER,
        paypal_email=None,
        account_holder="Northwind Partners GmbH",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        automatic=False,
    )
    await _contoso_pays(demo, operator, contoso, range(PAYOUT_MONTHS))
    paid = await payouts.request_payout(admin, settings, northwind)
    await payouts.approve_payout(operator, paid["id"])
    await payouts.mark_paid(operator, paid["id"], "DEMO-SEPA-0001")
    back = now() - timedelta(days=30 * PAYOUT_MONTHS)
    await Payout.filter(id=paid["id"]).update(
        requested_at=back, decided_at=back + timedelta(days=1), paid_at=back + timedelta(days=2)
    )
    await _contoso_pays(demo, operator, contoso, range(PAYOUT_MONTHS, 2 * PAYOUT_MONTHS))
    await payouts.request_payout(admin, settings, northwind)
    await _contoso_pays(demo, operator, contoso, range(2 * PAYOUT_MONTHS, CONTOSO_MONTHS))


# HubSpot's tiers: both MRR thresholds (sold in the last 12 months, managed), and its service-partner rate.
HUBSPOT_TIERS = [
    ("Silver", "1125", "1125", "17.50"),
    ("Gold", "2100", "6000", "20.00"),
    ("Platinum", "3750", "20000", "22.50"),
    ("Diamond", "10000", "50000", "25.00"),
]
AGENCY_CERTIFICATION = "Agency Partner Certification"


async def _tiers(demo: _Demo, operator: Actor, northwind: int) -> None:
    """The tiers with the agency certification and a median of 3 features used, their rates, and the
    figures of every partner (Northwind is far from Silver: it sees what it misses)."""
    settings = demo.settings
    for rank, (name, sold, managed, rate) in enumerate(HUBSPOT_TIERS, start=1):
        await tiers.create_tier(
            operator,
            settings,
            name=name,
            rank=rank,
            min_sold_mrr=(sold, settings.base_currency),
            min_managed_mrr=(managed, settings.base_currency),
            required_certification=AGENCY_CERTIFICATION,
            min_median_features=3,
        )
        await commissions.create_rule(
            operator,
            program=Program.SERVICE_PARTNER,
            kind=CommissionRuleKind.PERCENT,
            rate=rate,
            flat_amount=None,
            flat_currency=None,
            recurrence=Recurrence.LIFETIME,
            months=None,
            hold_days=30,
            product_id=None,
            tier=name,
            partner_id=None,
        )
    await tiers.record_certification(operator, northwind, name=AGENCY_CERTIFICATION, valid_until=None)
    await tiers.run_tiers_job(settings)


async def _no_throttle(scope: str) -> None:
    """The demo is trusted code: its look-ups are not rate limited."""


async def _approved_partner(demo: _Demo, operator: Actor, email: str, name: str, program: Program) -> tuple[Actor, int]:
    admin = await demo.user(email, f"{name} Admin")
    organization = (await organizations.create_organization(admin, name=name, country="CH"))["id"]
    application = await demo.application(admin, organization, name, [program])
    await partners.approve_application(operator, application, programs=[program], note=None, payout_currency="EUR")
    return admin, organization


async def _customer(demo: _Demo, email: str, name: str) -> tuple[Actor, int]:
    admin = await demo.user(email, f"{name} Admin")
    return admin, (await organizations.create_organization(admin, name=name, country="DE"))["id"]


async def _referral_channels(demo: _Demo, operator: Actor, northwind_admin: Actor, northwind: int) -> None:
    settings = demo.settings
    billing_key = await identity.issue_api_key(operator, "Demo checkout", [ApiKeyScope.BILLING_WRITE])
    checkout = Actor(via=Via.API_KEY, api_key_id=billing_key.row["id"], scopes=frozenset({ApiKeyScope.BILLING_WRITE}))

    # Affiliate: two links, clicks, and a customer that signed up through one and paid.
    await affiliates.create_link(
        northwind_admin,
        settings,
        partner_id=northwind,
        code="spring",
        campaign="Spring newsletter",
        landing_url="/pricing",
    )
    await affiliates.create_link(
        northwind_admin, settings, partner_id=northwind, code="blog", campaign="Blog", landing_url="/"
    )
    clicks = [
        await affiliates.record_click(
            settings,
            code,
            address=f"203.0.113.{n}",
            user_agent="Demo browser",
            referrer="https://blog.northwind.example/",
        )
        for n, code in enumerate(["spring", "spring", "blog", "spring"])
    ]
    _, wingtip = await _customer(demo, "admin@wingtip-ventures.example", "Wingtip Ventures")
    await affiliates.refer_new_organization(settings, wingtip, clicks[0].token)
    await billing.record_payment(
        checkout,
        settings,
        external_id="demo-affiliate-1",
        organization_id=wingtip,
        amount="99.00",
        currency="EUR",
        paid_at=now(),
        plan_code="MINDMAP_PRO",
    )

    # Expert: a code, redeemed at a checkout, with a discounted payment.
    expert, expert_org = await _approved_partner(demo, operator, EXPERT_EMAIL, "Adventure Works", Program.EXPERT)
    code = (await codes.expert_code(expert, settings, expert_org))["code"]
    _, proseware = await _customer(demo, "admin@proseware.example", "Proseware")
    await codes.redeem_code(checkout, _no_throttle, raw=code, customer_id=proseware, external_id="demo-checkout-1")
    await billing.record_payment(
        checkout,
        settings,
        external_id="demo-expert-1",
        organization_id=proseware,
        amount="198.00",
        currency="EUR",
        paid_at=now(),
        plan_code="TASKBOARD_BUSINESS",
    )

    # Reseller: a discount level, an order of coupons, two redeemed by customers.
    reseller, litware = await _approved_partner(demo, operator, RESELLER_EMAIL, "Litware Resellers", Program.RESELLER)
    await coupons.set_reseller_discount(operator, litware, "30.00")
    plan = await Plan.filter(code="MINDMAP_PRO").first().values("id")
    order = await coupons.create_coupons(reseller, litware, plan_id=plan["id"], count=5, months=12, currency="EUR")
    codes_bought = await Coupon.filter(order_id=order["order_id"]).order_by("id").values_list("code", flat=True)
    for number, coupon in enumerate(codes_bought[:2]):
        customer_admin, customer = await _customer(
            demo, f"admin@coupon-customer-{number + 1}.example", f"Coupon Customer {number + 1}"
        )
        await coupons.redeem_coupon(customer_admin, _no_throttle, organization_id=customer, raw=coupon)

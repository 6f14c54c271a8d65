"""The authorization matrix over the whole schema: every root query and mutation × every kind of caller.

The callers (columns, `ACTORS`): anonymous; a user in no organization; Contoso's administrator and a
member of it without permissions; Northwind's (a partner's) administrator, a member without permissions
and a member per partner permission; the administrator of another organization (partner Southwind);
Northwind staff with ADMINISTER_CUSTOMERS in a management session on a customer whose grant is active
(Contoso), absent (Fabrikam), expired (Litware) or revoked (Tailspin); an operator with every operator
permission and one with only REVIEW_PARTNERS; an API key of each scope. The world is in
tests/authorization_world.py.

Operations that act on a customer organization aim at Contoso, except for the four grant columns, which
aim at the customer they manage. Operations that take an optional `partnerId` appear twice: without it
(the caller's own, first organization) and naming Northwind (`…(partnerId)`).

A cell is ALLOWED when the response has no GraphQL error (a mutation's payload may still carry the
expected business errors of its row, `TOLERATED`); else it is the `extensions.code` of the first
GraphQL error. An organization the caller sees but is not in (operators; Northwind staff on Contoso) is
FORBIDDEN where the operation acts on it by id; one it does not see (Southwind's administrator) NOT_FOUND.
One app and one world serve the module: a test that changed the world (an allowed
mutation) leaves it dirty, and the next test restores the saved rows first.

`test_every_root_field_is_in_the_matrix` fails, naming them, for root fields without a row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine

from partner_portal.schema import build_schema
from partner_portal.schema.strawberry_internals import graphql_schema
from partner_portal.settings import Settings
from tests.authorization_world import ACTORS, WEBHOOK_URL, World, WorldStore, build_world, credentials
from tests.conftest import PASSWORD, POSTGRES_URL, START, Api, start_api, test_settings

GRANT_ACTORS = ("grant_active", "grant_none", "grant_expired", "grant_revoked")

ALLOWED = "ALLOWED"
A, U, O, F, N, B = ALLOWED, "UNAUTHENTICATED", "NO_ORGANIZATION", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT"


# --- how each operation is called ----------------------------------------------------------------------------

Variables = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    field: str
    document: str
    variables: Variables = lambda world, actor: {}
    tolerated: frozenset[str] = frozenset()  # payload errors an allowed caller may meet

    @property
    def is_mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")


def customer(world: World, actor: str) -> str:
    """The customer organization an operation aims at: the grant columns' own, else Contoso."""
    return world.ids.get(f"customer:{actor}", world.ids["customer"])


def query(field: str, selection: str, arguments: str = "", declared: str = "") -> str:
    head = f"query Q({declared})" if declared else "query Q"
    return f"{head} {{ {field}{f'({arguments})' if arguments else ''} {selection} }}"


def mutation(field: str, input_type: str, selection: str = "") -> str:
    return f"mutation M($input: {input_type}!) {{ {field}(input: $input) {{ {selection} errors {{ field code }} }} }}"


def partner_query(field: str, selection: str, extra: str = "", extra_declared: str = "") -> str:
    arguments = "partnerId: $partnerId" + (f", {extra}" if extra else "")
    return query(field, selection, arguments, "$partnerId: ID" + (f", {extra_declared}" if extra_declared else ""))


def named(world: World) -> dict[str, Any]:
    return {"partnerId": world.partner.id}


def partner_pair(
    name: str, document: str, extra: Variables = lambda world, actor: {}, tolerated: frozenset[str] = frozenset()
) -> dict[str, Operation]:
    """The operation without `partnerId` and naming Northwind."""
    return {
        name: Operation(name, document, extra, tolerated),
        f"{name}(partnerId)": Operation(name, document, lambda w, a: {**extra(w, a), **named(w)}, tolerated),
    }


def partner_input_pair(
    name: str, input_type: str, selection: str, fields: Variables, tolerated: frozenset[str] = frozenset()
) -> dict[str, Operation]:
    document = mutation(name, input_type, selection)
    return {
        name: Operation(name, document, lambda w, a: {"input": fields(w, a)}, tolerated),
        f"{name}(partnerId)": Operation(
            name, document, lambda w, a: {"input": {**fields(w, a), **named(w)}}, tolerated
        ),
    }


def inputs(**fields: Callable[[World, str], Any] | Any) -> Variables:
    """`{"input": {...}}` where callables are evaluated against (world, actor)."""

    def variables(world: World, actor: str) -> dict[str, Any]:
        return {"input": {k: (v(world, actor) if callable(v) else v) for k, v in fields.items()}}

    return variables


def ident(what: str) -> Callable[[World, str], str]:
    return lambda world, actor: world.ids[what]


def value(what: str) -> Callable[[World, str], str]:
    return lambda world, actor: world.values[what]


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


CONNECTION = "{ totalCount }"
LIST = "{ edges { node { id } } }"
APPLICATION = {
    "legalName": "Contoso Ltd",
    "website": "https://contoso.example",
    "country": "US",
    "contactName": "Chris",
    "contactEmail": "chris@contoso.example",
    "programs": ["AFFILIATE"],
}

OPERATIONS: dict[str, Operation] = {
    # --- queries ---
    "node": Operation("node", "query Q($id: ID!) { node(id: $id) { id } }", lambda w, a: {"id": customer(w, a)}),
    "nodes": Operation(
        "nodes", "query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }", lambda w, a: {"ids": [customer(w, a)]}
    ),
    "viewer": Operation("viewer", query("viewer", "{ id }")),
    "viewerApiKey": Operation("viewerApiKey", query("viewerApiKey", "{ id }")),
    "apiKeys": Operation("apiKeys", query("apiKeys", CONNECTION)),
    "viewerOrganization": Operation("viewerOrganization", query("viewerOrganization", "{ id }")),
    "viewerManagementSessions": Operation("viewerManagementSessions", query("viewerManagementSessions", "{ id }")),
    "organizations": Operation("organizations", query("organizations", CONNECTION)),
    "partnerApplications": Operation("partnerApplications", query("partnerApplications", CONNECTION)),
    "partnerDirectory": Operation("partnerDirectory", query("partnerDirectory", CONNECTION)),
    **partner_pair("partnerDashboard", partner_query("partnerDashboard", "{ customers }")),
    **partner_pair("myCustomers", partner_query("myCustomers", CONNECTION)),
    **partner_pair("invitations", partner_query("invitations", CONNECTION)),
    "products": Operation("products", query("products", CONNECTION)),
    "exchangeRates": Operation("exchangeRates", query("exchangeRates", CONNECTION)),
    **partner_pair("programOverview", partner_query("programOverview", "{ program }")),
    "commissionRules": Operation("commissionRules", query("commissionRules", CONNECTION)),
    **partner_pair("commissions", partner_query("commissions", "{ lines { totalCount } }")),
    **partner_pair("payouts", partner_query("payouts", CONNECTION)),
    **partner_pair("payoutSettings", partner_query("payoutSettings", "{ method }")),
    **partner_pair("payoutBalance", partner_query("payoutBalance", "{ canRequest }")),
    "auditEvents": Operation("auditEvents", query("auditEvents", CONNECTION)),
    "auditEvents(organizationId)": Operation(
        "auditEvents",
        query("auditEvents", CONNECTION, "organizationId: $id", "$id: ID"),
        lambda w, a: {"id": customer(w, a)},
    ),
    "outboxMessages": Operation("outboxMessages", query("outboxMessages", CONNECTION)),
    **partner_pair("expertCode", partner_query("expertCode", "{ code }")),
    "discountCode": Operation(
        "discountCode",
        query("discountCode", "{ valid }", "code: $code", "$code: String!"),
        lambda w, a: {"code": w.values["expert_code"]},
    ),
    **partner_pair("affiliateLinks", partner_query("affiliateLinks", CONNECTION)),
    **partner_pair(
        "affiliateReport", partner_query("affiliateReport", "{ __typename }", 'from: "2026-03-01", until: "2026-03-02"')
    ),
    **partner_pair("resellerPriceTable", partner_query("resellerPriceTable", "{ discount }")),
    **partner_pair("couponOrders", partner_query("couponOrders", CONNECTION)),
    **partner_pair("coupons", partner_query("coupons", CONNECTION)),
    # --- mutations: identity and API keys ---
    "register": Operation(
        "register",
        mutation("register", "RegisterInput", "token"),
        inputs(email="new.person@example.com", password=PASSWORD, name="New Person"),
    ),
    "login": Operation(
        "login", mutation("login", "LoginInput", "token"), inputs(email="nora@nowhere.example", password=PASSWORD)
    ),
    # A wrong registration link: public, and the payload says why.
    "confirmRegistration": Operation(
        "confirmRegistration",
        mutation("confirmRegistration", "ConfirmRegistrationInput", "token"),
        inputs(token="ppr_not-a-real-token"),
        frozenset({"INVALID_TOKEN"}),
    ),
    # A wrong unlock link: public, and the payload says why.
    "unlockAccount": Operation(
        "unlockAccount",
        mutation("unlockAccount", "UnlockAccountInput", "unlocked"),
        inputs(token="ppu_not-a-real-token"),
        frozenset({"INVALID_TOKEN"}),
    ),
    "logout": Operation("logout", "mutation M { logout { errors { field code } } }"),
    "logoutEverywhere": Operation("logoutEverywhere", "mutation M { logoutEverywhere { errors { field code } } }"),
    "createApiKey": Operation(
        "createApiKey",
        mutation("createApiKey", "CreateApiKeyInput", "secret"),
        inputs(name="BI", scopes=["REPORTS_READ"]),
    ),
    "revokeApiKey": Operation(
        "revokeApiKey",
        mutation("revokeApiKey", "RevokeApiKeyInput", "apiKey { id }"),
        inputs(apiKeyId=ident("api_key:spare")),
    ),
    # --- organizations and members ---
    "createOrganization": Operation(
        "createOrganization",
        mutation("createOrganization", "CreateOrganizationInput", "organization { id }"),
        inputs(name="Brand New Ltd"),
    ),
    "updateOrganization": Operation(
        "updateOrganization",
        mutation("updateOrganization", "UpdateOrganizationInput", "organization { id }"),
        inputs(organizationId=customer, name="Renamed Ltd"),
    ),
    "addMember": Operation(
        "addMember",
        mutation("addMember", "AddMemberInput", "invitation { id }"),
        inputs(
            organizationId=customer,
            email="nora@nowhere.example",
            role="MEMBER",
            organizationPermissions=[],
            partnerPermissions=[],
        ),
    ),
    "revokeMembershipInvitation": Operation(
        "revokeMembershipInvitation",
        mutation("revokeMembershipInvitation", "RevokeMembershipInvitationInput", "invitation { id }"),
        inputs(invitationId=ident("membership_invitation")),
    ),
    # A wrong link: the invited person answers signed in (accepting) or not (declining); the payload says why.
    "acceptMembershipInvitation": Operation(
        "acceptMembershipInvitation",
        mutation("acceptMembershipInvitation", "AcceptMembershipInvitationInput", "membership { id }"),
        inputs(token="ppm_not-a-real-token"),
        frozenset({"INVALID_TOKEN"}),
    ),
    "declineMembershipInvitation": Operation(
        "declineMembershipInvitation",
        mutation("declineMembershipInvitation", "DeclineMembershipInvitationInput", "declined"),
        inputs(token="ppm_not-a-real-token"),
        frozenset({"INVALID_TOKEN"}),
    ),
    # Giving Northwind's member without permissions a partner permission (partner side) ...
    "setMemberPermissions(partner)": Operation(
        "setMemberPermissions",
        mutation("setMemberPermissions", "SetMemberPermissionsInput", "membership { id }"),
        inputs(
            membershipId=ident("membership:partner_member"),
            organizationPermissions=[],
            partnerPermissions=["ADMINISTER_CUSTOMERS"],
        ),
    ),
    # ... and Contoso's member an organization permission (customer side).
    "setMemberPermissions(customer)": Operation(
        "setMemberPermissions",
        mutation("setMemberPermissions", "SetMemberPermissionsInput", "membership { id }"),
        inputs(
            membershipId=ident("membership:member"), organizationPermissions=["VIEW_BILLING"], partnerPermissions=[]
        ),
    ),
    "setMemberRole": Operation(
        "setMemberRole",
        mutation("setMemberRole", "SetMemberRoleInput", "membership { id }"),
        inputs(membershipId=ident("membership:member"), role="ADMINISTRATOR"),
    ),
    "removeMember": Operation(
        "removeMember",
        mutation("removeMember", "RemoveMemberInput", "membershipId"),
        inputs(membershipId=ident("membership:member")),
    ),
    "leaveOrganization": Operation(
        "leaveOrganization",
        mutation("leaveOrganization", "LeaveOrganizationInput", "membershipId"),
        inputs(organizationId=customer),
        frozenset({"LAST_ADMINISTRATOR"}),
    ),
    # --- partner applications and profiles ---
    "requestPartnerStatus": Operation(
        "requestPartnerStatus",
        mutation("requestPartnerStatus", "RequestPartnerStatusInput", "application { id }"),
        inputs(organizationId=customer, **APPLICATION),
    ),
    "approvePartnerApplication": Operation(
        "approvePartnerApplication",
        mutation("approvePartnerApplication", "ApprovePartnerApplicationInput", "application { id }"),
        inputs(applicationId=ident("application"), programs=["AFFILIATE"], payoutCurrency="EUR"),
    ),
    "rejectPartnerApplication": Operation(
        "rejectPartnerApplication",
        mutation("rejectPartnerApplication", "RejectPartnerApplicationInput", "application { id }"),
        inputs(applicationId=ident("application"), note="Not now."),
    ),
    **partner_input_pair(
        "updatePartnerProfile",
        "UpdatePartnerProfileInput",
        "profile { listedInDirectory }",
        lambda w, a: {"listedInDirectory": True},
    ),
    # --- invitations, customers, grants, management sessions ---
    **partner_input_pair(
        "inviteCustomer",
        "InviteCustomerInput",
        "invitation { id }",
        lambda w, a: {"email": "dana@tailwind.example", "organizationName": "Tailwind"},
    ),
    "resendInvitation": Operation(
        "resendInvitation",
        mutation("resendInvitation", "ResendInvitationInput", "invitation { id }"),
        inputs(invitationId=ident("invitation")),
    ),
    "revokeInvitation": Operation(
        "revokeInvitation",
        mutation("revokeInvitation", "RevokeInvitationInput", "invitation { id }"),
        inputs(invitationId=ident("invitation")),
    ),
    # A wrong token: public, and the payload says why.
    "acceptInvitation": Operation(
        "acceptInvitation",
        mutation("acceptInvitation", "AcceptInvitationInput", "token"),
        inputs(token="not-a-real-token", name="Erin", password=PASSWORD),
        frozenset({"INVALID_TOKEN"}),
    ),
    "setServicePartner": Operation(
        "setServicePartner",
        mutation("setServicePartner", "SetServicePartnerInput", "relationship { id }"),
        inputs(organizationId=customer, partnerCode=lambda w, a: w.other_partner.code),
    ),
    "removeServicePartner": Operation(
        "removeServicePartner",
        mutation("removeServicePartner", "RemoveServicePartnerInput", "relationship { id }"),
        inputs(organizationId=customer),
    ),
    "setDelegatedPermissions": Operation(
        "setDelegatedPermissions",
        mutation("setDelegatedPermissions", "SetDelegatedPermissionsInput", "relationship { id }"),
        inputs(organizationId=customer, permissions=["VIEW_BILLING"]),
    ),
    "revokeDelegatedPermissions": Operation(
        "revokeDelegatedPermissions",
        mutation("revokeDelegatedPermissions", "RevokeDelegatedPermissionsInput", "relationship { id }"),
        inputs(organizationId=customer),
    ),
    "startManagementSession": Operation(
        "startManagementSession",
        mutation("startManagementSession", "StartManagementSessionInput", "session { id }"),
        inputs(customerId=customer),
    ),
    # Sessions are personal: the grant columns end their own, everyone else tries Contoso's.
    "endManagementSession": Operation(
        "endManagementSession",
        mutation("endManagementSession", "EndManagementSessionInput", "session { id }"),
        inputs(sessionId=lambda w, a: w.sessions.get(a, w.sessions["grant_active"])),
    ),
    "setLicense": Operation(
        "setLicense",
        mutation("setLicense", "SetLicenseInput", "license { status }"),
        inputs(organizationId=customer, status="ACTIVE", plan="PRO", seats=5, mrr=eur("99.00")),
    ),
    # --- catalog, rates, rules ---
    "createProduct": Operation(
        "createProduct",
        mutation("createProduct", "CreateProductInput", "product { id }"),
        inputs(code="NOTES", name="Notes"),
    ),
    "createPlan": Operation(
        "createPlan",
        mutation("createPlan", "CreatePlanInput", "plan { id }"),
        inputs(productId=ident("product"), code="TEAM", name="Tasks Team", prices=[eur("49.00")]),
    ),
    "setExchangeRate": Operation(
        "setExchangeRate",
        mutation("setExchangeRate", "SetExchangeRateInput", "exchangeRate { currency }"),
        inputs(currency="GBP", rate="0.80", validFrom="2026-01-01"),
    ),
    "createCommissionRule": Operation(
        "createCommissionRule",
        mutation("createCommissionRule", "CreateCommissionRuleInput", "rule { id }"),
        inputs(program="AFFILIATE", kind="PERCENT", rate="10.00", recurrence="ONE_TIME", holdDays=30),
    ),
    "deactivateCommissionRule": Operation(
        "deactivateCommissionRule",
        mutation("deactivateCommissionRule", "DeactivateCommissionRuleInput", "rule { id }"),
        inputs(ruleId=ident("rule")),
    ),
    # --- billing events (integrators) ---
    "recordPayment": Operation(
        "recordPayment",
        mutation("recordPayment", "RecordPaymentInput", "payment { id }"),
        inputs(externalId="matrix-payment", organizationId=customer, amount=eur("50.00"), paidAt=START.isoformat()),
    ),
    "recordRefund": Operation(
        "recordRefund",
        mutation("recordRefund", "RecordRefundInput", "payment { id }"),
        inputs(
            externalId="matrix-refund",
            paymentExternalId=value("payment"),
            amount=eur("10.00"),
            refundedAt=START.isoformat(),
        ),
    ),
    "recordLicenseChange": Operation(
        "recordLicenseChange",
        mutation("recordLicenseChange", "RecordLicenseChangeInput", "license { status }"),
        inputs(
            externalId="matrix-license", organizationId=customer, status="ACTIVE", plan="PRO", seats=3, mrr=eur("59.97")
        ),
    ),
    # --- payouts ---
    **partner_input_pair(
        "setPayoutSettings",
        "SetPayoutSettingsInput",
        "payoutSettings { method }",
        lambda w, a: {"method": "PAYPAL", "paypalEmail": "money@northwind.example", "automatic": True},
    ),
    **partner_input_pair(
        "requestPayout",
        "RequestPayoutInput",
        "payout { id }",
        lambda w, a: {},
        frozenset({"BELOW_THRESHOLD", "NO_PAYOUT_SETTINGS"}),
    ),
    "approvePayout": Operation(
        "approvePayout",
        mutation("approvePayout", "ApprovePayoutInput", "payout { id }"),
        inputs(payoutId=ident("payout:requested")),
    ),
    "markPayoutPaid": Operation(
        "markPayoutPaid",
        mutation("markPayoutPaid", "MarkPayoutPaidInput", "payout { id }"),
        inputs(payoutId=ident("payout:approved"), reference="PP-1"),
    ),
    "rejectPayout": Operation(
        "rejectPayout",
        mutation("rejectPayout", "RejectPayoutInput", "payout { id }"),
        inputs(payoutId=ident("payout:requested"), note="Wrong account."),
    ),
    "exportPayouts": Operation(
        "exportPayouts",
        mutation("exportPayouts", "ExportPayoutsInput", "file { filename }"),
        inputs(format="PAYPAL_CSV", currency="EUR"),
    ),
    "linkStripeCustomer": Operation(
        "linkStripeCustomer",
        mutation("linkStripeCustomer", "LinkStripeCustomerInput", "link { stripeCustomerId }"),
        inputs(stripeCustomerId="cus_matrix", organizationId=customer),
    ),
    # --- codes, links, coupons ---
    "redeemDiscountCode": Operation(
        "redeemDiscountCode",
        mutation("redeemDiscountCode", "RedeemDiscountCodeInput", "alreadyRedeemed"),
        inputs(code=value("expert_code"), organizationId=customer),
    ),
    **partner_input_pair(
        "createAffiliateLink",
        "CreateAffiliateLinkInput",
        "link { id }",
        lambda w, a: {"campaign": "matrix", "landingUrl": "/pricing"},
    ),
    "updateAffiliateLink": Operation(
        "updateAffiliateLink",
        mutation("updateAffiliateLink", "UpdateAffiliateLinkInput", "link { id }"),
        inputs(linkId=ident("link"), active=False),
    ),
    "attributeSignup": Operation(
        "attributeSignup",
        mutation("attributeSignup", "AttributeSignupInput", "attributed"),
        inputs(organizationId=ident("organization:adatum"), code=value("link_code")),
    ),
    **partner_input_pair(
        "createCoupons",
        "CreateCouponsInput",
        "order { id }",
        lambda w, a: {"planId": w.ids["plan"], "count": 1, "months": 1, "currency": "EUR"},
    ),
    "redeemCoupon": Operation(
        "redeemCoupon",
        mutation("redeemCoupon", "RedeemCouponInput", "planCode"),
        inputs(organizationId=customer, code=value("coupon")),
    ),
    "setResellerDiscount": Operation(
        "setResellerDiscount",
        mutation("setResellerDiscount", "SetResellerDiscountInput", "discount"),
        inputs(partnerId=lambda w, a: w.partner.id, discount="20.00"),
    ),
    # --- reports ---
    "reports.commissions": Operation(
        "reports", query("reports", "{ commissions(groupBy: [STATUS], period: MONTH) { totals { __typename } } }")
    ),
    "reports.customerFunnel": Operation(
        "reports", query("reports", "{ customerFunnel(period: MONTH) { rows { __typename } } }")
    ),
    "reports.customerFunnel(partnerId)": Operation(
        "reports",
        query(
            "reports",
            "{ customerFunnel(partnerId: $partnerId, period: MONTH) { rows { __typename } } }",
            declared="$partnerId: ID",
        ),
        lambda w, a: named(w),
    ),
    "reports.partnerLeaderboard": Operation(
        "reports", query("reports", "{ partnerLeaderboard(by: COMMISSION, first: 10) { rank } }")
    ),
    # --- tiers ---
    **partner_pair("partnerTier", partner_query("partnerTier", "{ __typename }")),
    "tiers": Operation("tiers", query("tiers", CONNECTION, "includeInactive: false")),
    "tiers(includeInactive)": Operation("tiers", query("tiers", CONNECTION, "includeInactive: true")),
    **partner_pair("tierAssessments", partner_query("tierAssessments", CONNECTION)),
    "createTier": Operation(
        "createTier", mutation("createTier", "CreateTierInput", "tier { id }"), inputs(name="Platinum", rank=3)
    ),
    "updateTier": Operation(
        "updateTier", mutation("updateTier", "UpdateTierInput", "tier { id }"), inputs(tierId=ident("tier"), rank=4)
    ),
    "recordCertification": Operation(
        "recordCertification",
        mutation("recordCertification", "RecordCertificationInput", "certification { name }"),
        inputs(partnerId=lambda w, a: w.partner.id, name="Tasks Expert"),
    ),
    "withdrawCertification": Operation(
        "withdrawCertification",
        mutation("withdrawCertification", "WithdrawCertificationInput", "certification { name }"),
        inputs(partnerId=lambda w, a: w.partner.id, name="Tasks Expert"),
    ),
    "recordFeatureUsage": Operation(
        "recordFeatureUsage",
        mutation("recordFeatureUsage", "RecordFeatureUsageInput", "usage { __typename }"),
        inputs(externalId="matrix-usage", organizationId=customer, features=["boards"], usedAt=START.isoformat()),
    ),
    # --- webhooks ---
    "webhookSubscriptions": Operation("webhookSubscriptions", query("webhookSubscriptions", CONNECTION)),
    "webhookDeliveries": Operation(
        "webhookDeliveries",
        query("webhookDeliveries", CONNECTION, "subscriptionId: $id", "$id: ID!"),
        lambda w, a: {"id": w.ids["subscription"]},
    ),
    "createWebhookSubscription": Operation(
        "createWebhookSubscription",
        mutation("createWebhookSubscription", "CreateWebhookSubscriptionInput", "subscription { id }"),
        inputs(url=WEBHOOK_URL, eventTypes=["PAYOUT_PAID"]),
    ),
    "updateWebhookSubscription": Operation(
        "updateWebhookSubscription",
        mutation("updateWebhookSubscription", "UpdateWebhookSubscriptionInput", "subscription { id }"),
        inputs(subscriptionId=ident("subscription"), active=False, rotateSecret=False),
    ),
    "deleteWebhookSubscription": Operation(
        "deleteWebhookSubscription",
        mutation("deleteWebhookSubscription", "DeleteWebhookSubscriptionInput", "deletedSubscriptionId"),
        inputs(subscriptionId=ident("subscription")),
    ),
    "redeliverWebhook": Operation(
        "redeliverWebhook",
        mutation("redeliverWebhook", "RedeliverWebhookInput", "delivery { id }"),
        inputs(deliveryId=ident("delivery")),
    ),
    # --- operations: passwords ---
    # Public: the answer is the same for every address.
    "requestPasswordReset": Operation(
        "requestPasswordReset",
        mutation("requestPasswordReset", "RequestPasswordResetInput", "requested"),
        inputs(email="nora@nowhere.example"),
    ),
    # A wrong reset link: public, and the payload says why.
    "resetPassword": Operation(
        "resetPassword",
        mutation("resetPassword", "ResetPasswordInput", "passwordChanged"),
        inputs(token="ppw_not-a-real-token", newPassword="another-Sturdy-passphrase-43"),
        frozenset({"INVALID_TOKEN"}),
    ),
    "changePassword": Operation(
        "changePassword",
        mutation("changePassword", "ChangePasswordInput", "sessionsEnded"),
        inputs(currentPassword=PASSWORD, newPassword="another-Sturdy-passphrase-43"),
    ),
    # --- operations: email ---
    "verifyEmail": Operation(
        "verifyEmail",
        mutation("verifyEmail", "VerifyEmailInput", "user { id }"),
        inputs(token="ppv_unknown"),
        frozenset({"INVALID_TOKEN"}),
    ),
    "resendVerificationEmail": Operation(
        "resendVerificationEmail",
        "mutation M { resendVerificationEmail { email errors { field code } } }",
        tolerated=frozenset({"ALREADY_VERIFIED"}),  # everyone of the world is verified
    ),
    "changeEmail": Operation(
        "changeEmail",
        mutation("changeEmail", "ChangeEmailInput", "pendingEmail"),
        inputs(newEmail=lambda world, actor: f"{actor.replace('_', '.')}@changed.example", password=PASSWORD),
    ),
    "updateProfile": Operation(
        "updateProfile",
        mutation("updateProfile", "UpdateProfileInput", "user { name }"),
        inputs(name="Renamed Person"),
    ),
    # --- operations: two_factor ---
    "beginTwoFactorSetup": Operation(
        "beginTwoFactorSetup",
        mutation("beginTwoFactorSetup", "BeginTwoFactorSetupInput", "secret"),
        inputs(password=PASSWORD),
    ),
    # Nobody in the world has two-factor sign-in on (or begun): the payload says so.
    "confirmTwoFactorSetup": Operation(
        "confirmTwoFactorSetup",
        mutation("confirmTwoFactorSetup", "ConfirmTwoFactorSetupInput", "recoveryCodes"),
        inputs(code="123456"),
        frozenset({"TWO_FACTOR_NOT_ENABLED"}),
    ),
    "regenerateRecoveryCodes": Operation(
        "regenerateRecoveryCodes",
        mutation("regenerateRecoveryCodes", "RegenerateRecoveryCodesInput", "recoveryCodes"),
        inputs(code="123456"),
        frozenset({"TWO_FACTOR_NOT_ENABLED"}),
    ),
    "disableTwoFactor": Operation(
        "disableTwoFactor",
        mutation("disableTwoFactor", "DisableTwoFactorInput", "user { id }"),
        inputs(password=PASSWORD, code="123456"),
        frozenset({"TWO_FACTOR_NOT_ENABLED"}),
    ),
    # A wrong challenge: public, and the payload says why.
    "completeSignIn": Operation(
        "completeSignIn",
        mutation("completeSignIn", "CompleteSignInInput", "token"),
        inputs(challenge="ppc_not-a-real-challenge", code="123456"),
        frozenset({"INVALID_TOKEN"}),
    ),
    "resetTwoFactor": Operation(
        "resetTwoFactor",
        mutation("resetTwoFactor", "ResetTwoFactorInput", "user { id }"),
        inputs(userId=lambda world, actor: world.people["member"].user_id),
        frozenset({"TWO_FACTOR_NOT_ENABLED"}),
    ),
    # --- operations: sessions_and_data ---
    # my data
    "viewerDataExport": Operation("viewerDataExport", query("viewerDataExport", "")),
    "deleteAccount": Operation(  # administrators of organizations with members and operators must stay
        "deleteAccount",
        mutation("deleteAccount", "DeleteAccountInput", "deletedAt"),
        inputs(password=PASSWORD, confirmation="DELETE"),
        frozenset({"LAST_ADMINISTRATOR", "OPERATOR_ACCOUNT"}),
    ),
    # sessions
    "viewerSessions": Operation("viewerSessions", query("viewerSessions", CONNECTION)),
    "endSession": Operation(  # the operator's own session: for everyone else another user's
        "endSession",
        mutation("endSession", "EndSessionInput", "session { id }"),
        inputs(sessionId=ident("session:operator")),
    ),
    # --- operations: nodes ---
    # --- operations: attribution ---
    "invitationPreview": Operation(
        "invitationPreview",
        query("invitationPreview", "{ status }", "token: $token", "$token: String!"),
        lambda w, a: {"token": "ppi_not-an-invitation"},
    ),
}

# --- the matrix: operation → expected outcome per actor, in ACTORS order ----------------------------------------

# Columns: anonymous, no organization, Contoso's administrator, Contoso's member without permissions,
# Northwind's administrator, Northwind's member without permissions, ADMINISTER_CUSTOMERS,
# CREATE_CUSTOMER_ORGANIZATIONS, MANAGE_PARTNER_PORTAL, Southwind's administrator, staff in a session on a
# customer whose grant is active / absent / expired / revoked, operator (every permission), operator with
# REVIEW_PARTNERS only, API keys with billing:write / reports:read / webhooks:manage.
#                                    anon no-org adm mem p-adm p-mem AC CCO MPP other g-act g-none g-exp g-rev
#                                    op op-rev k-bill k-rep k-hook
_ROWS: dict[str, tuple[str, ...]] = {
    "node": (N, N, A, A, A, N, A, A, A, N, A, A, A, A, A, A, N, N, N),
    "nodes": (N, N, A, A, A, N, A, A, A, N, A, A, A, A, A, A, N, N, N),
    "viewer": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "viewerApiKey": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "apiKeys": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "viewerOrganization": (U, O, A, A, A, A, A, A, A, A, A, A, A, A, O, O, U, U, U),
    "viewerManagementSessions": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "organizations": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "partnerApplications": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, A, U, U, U),
    "partnerDirectory": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "partnerDashboard": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "partnerDashboard(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "myCustomers": (U, O, F, F, A, F, A, A, A, A, A, A, A, A, O, O, U, U, U),
    "myCustomers(partnerId)": (U, N, N, N, A, F, A, A, A, N, A, A, A, A, F, F, U, U, U),
    "invitations": (U, O, F, F, A, F, F, A, A, A, F, F, F, F, O, O, U, U, U),
    "invitations(partnerId)": (U, N, N, N, A, F, F, A, A, N, F, F, F, F, F, F, U, U, U),
    "products": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "exchangeRates": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "programOverview": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "programOverview(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "commissionRules": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "commissions": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "commissions(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "payouts": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, A, O, U, U, U),
    "payouts(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "payoutSettings": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "payoutSettings(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "payoutBalance": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "payoutBalance(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "auditEvents": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, F, A, F),
    "auditEvents(organizationId)": (U, N, A, F, F, N, F, F, F, N, F, F, F, F, A, F, F, A, F),
    "outboxMessages": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "expertCode": (U, O, F, F, A, F, F, F, A, F, F, F, F, F, O, O, U, U, U),
    "expertCode(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "discountCode": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "affiliateLinks": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "affiliateLinks(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "affiliateReport": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "affiliateReport(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "resellerPriceTable": (U, O, F, F, A, F, F, F, A, F, F, F, F, F, O, O, U, U, U),
    "resellerPriceTable(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "couponOrders": (U, O, F, F, A, F, F, F, A, F, F, F, F, F, O, O, U, U, U),
    "couponOrders(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "coupons": (U, O, F, F, A, F, F, F, A, F, F, F, F, F, O, O, U, U, U),
    "coupons(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "register": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "login": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "confirmRegistration": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "unlockAccount": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "logout": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "logoutEverywhere": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "createApiKey": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "revokeApiKey": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "createOrganization": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "updateOrganization": (U, N, A, F, F, N, F, F, F, N, A, F, F, F, F, F, U, U, U),
    "addMember": (U, N, A, F, F, N, F, F, F, N, A, F, F, F, F, F, U, U, U),
    "revokeMembershipInvitation": (U, N, A, F, F, N, F, F, F, N, A, F, F, F, F, F, U, U, U),
    "acceptMembershipInvitation": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "declineMembershipInvitation": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "setMemberPermissions(partner)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "setMemberPermissions(customer)": (U, N, A, F, N, N, N, N, N, N, A, N, N, N, F, F, U, U, U),
    "setMemberRole": (U, N, A, F, N, N, N, N, N, N, F, N, N, N, F, F, U, U, U),
    "removeMember": (U, N, A, F, N, N, N, N, N, N, A, N, N, N, F, F, U, U, U),
    "leaveOrganization": (U, N, A, A, N, N, N, N, N, N, N, N, N, N, N, N, U, U, U),
    "requestPartnerStatus": (U, N, A, F, F, N, F, F, F, N, F, F, F, F, F, F, U, U, U),
    "approvePartnerApplication": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, A, U, U, U),
    "rejectPartnerApplication": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, A, U, U, U),
    "updatePartnerProfile": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "updatePartnerProfile(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "inviteCustomer": (U, O, F, F, A, F, F, A, A, A, F, F, F, F, O, O, U, U, U),
    "inviteCustomer(partnerId)": (U, N, N, N, A, F, F, A, A, N, F, F, F, F, F, F, U, U, U),
    "resendInvitation": (U, N, N, N, A, F, F, A, A, N, F, F, F, F, N, N, U, U, U),
    "revokeInvitation": (U, N, N, N, A, F, F, A, A, N, F, F, F, F, N, N, U, U, U),
    "acceptInvitation": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "setServicePartner": (U, N, A, F, F, N, F, F, F, N, F, F, F, F, F, F, U, U, U),
    "removeServicePartner": (U, N, A, F, F, N, F, F, F, N, F, F, F, F, F, F, U, U, U),
    "setDelegatedPermissions": (U, N, A, F, F, N, F, F, F, N, F, F, F, F, F, F, U, U, U),
    "revokeDelegatedPermissions": (U, N, A, F, F, N, F, F, F, N, F, F, F, F, F, F, U, U, U),
    "startManagementSession": (U, N, N, N, A, F, A, A, A, N, A, A, A, A, N, N, U, U, U),
    "endManagementSession": (U, N, N, N, N, N, N, N, N, N, A, A, A, A, N, N, U, U, U),
    "setLicense": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "createProduct": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "createPlan": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "setExchangeRate": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "createCommissionRule": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "deactivateCommissionRule": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "recordPayment": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "recordRefund": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "recordLicenseChange": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "setPayoutSettings": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "setPayoutSettings(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "requestPayout": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "requestPayout(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "approvePayout": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "markPayoutPaid": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "rejectPayout": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "exportPayouts": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "linkStripeCustomer": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "redeemDiscountCode": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "createAffiliateLink": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "createAffiliateLink(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "updateAffiliateLink": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "attributeSignup": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "createCoupons": (U, O, F, F, A, F, F, F, A, F, F, F, F, F, O, O, U, U, U),
    "createCoupons(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, F, F, U, U, U),
    "redeemCoupon": (U, N, A, F, F, N, F, F, F, N, A, F, F, F, F, F, U, U, U),
    "setResellerDiscount": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "reports.commissions": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, A, O, F, A, F),
    "reports.customerFunnel": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, A, O, F, A, F),
    "reports.customerFunnel(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, F, A, F),
    "reports.partnerLeaderboard": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, A, F),
    "partnerTier": (U, O, F, F, A, F, F, F, A, A, F, F, F, F, O, O, U, U, U),
    "partnerTier(partnerId)": (U, N, N, N, A, F, F, F, A, N, F, F, F, F, A, F, U, U, U),
    "tiers": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "tiers(includeInactive)": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "tierAssessments": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "tierAssessments(partnerId)": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "createTier": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "updateTier": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "recordCertification": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "withdrawCertification": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    "recordFeatureUsage": (U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, A, F, F),
    "webhookSubscriptions": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, F, A),
    "webhookDeliveries": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, F, A),
    "createWebhookSubscription": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, F, A),
    "updateWebhookSubscription": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, F, A),
    "deleteWebhookSubscription": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, F, A),
    "redeliverWebhook": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, F, F, A),
    # --- rows: passwords ---
    "requestPasswordReset": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "resetPassword": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "changePassword": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    # --- rows: email ---
    "verifyEmail": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "resendVerificationEmail": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "changeEmail": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "updateProfile": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    # --- rows: two_factor ---
    "beginTwoFactorSetup": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "confirmTwoFactorSetup": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "regenerateRecoveryCodes": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "disableTwoFactor": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "completeSignIn": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
    "resetTwoFactor": (U, F, F, F, F, F, F, F, F, F, F, F, F, F, A, F, U, U, U),
    # --- rows: sessions_and_data ---
    # my data
    "viewerDataExport": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "deleteAccount": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    # sessions
    "viewerSessions": (U, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, U, U, U),
    "endSession": (U, N, N, N, N, N, N, N, N, N, N, N, N, N, A, N, U, U, U),
    # --- rows: nodes ---
    # --- rows: attribution ---
    "invitationPreview": (A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A),
}
MATRIX: dict[str, dict[str, str]] = {op: dict(zip(ACTORS, row, strict=True)) for op, row in _ROWS.items()}

# Cells where the application disagrees with the design: (operation, actor) → reason.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


# --- the module's app and world --------------------------------------------------------------------------------


@dataclass
class Env:
    api: Api
    world: World
    store: WorldStore
    dirty: bool = False

    def credentials(self, actor: str) -> dict[str, str]:
        return credentials(self.world, actor)


@pytest.fixture(scope="module")
async def env(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    import shutil

    folder = tmp_path_factory.mktemp("matrix")
    if POSTGRES_URL:
        url, copy = POSTGRES_URL, None
    else:
        shutil.copyfile(template_database, folder / "portal.sqlite3")
        url, copy = f"sqlite://{folder / 'portal.sqlite3'}", folder / "world.sqlite3"
    with time_machine.travel(START, tick=False) as clock:
        # The world is restored between tests, the mail rates' counts are not: every allowed
        # invitation of a row goes to the same address.
        async for api in start_api(
            test_settings(url, webhook_allow_private_networks=True, mail_recipient_rate="1000/day")
        ):
            world = await build_world(api, clock)
            store = WorldStore(url, copy, "matrix_world")
            await store.save()
            yield Env(api, world, store)
            await store.drop()


def outcome(body: dict, field: str) -> tuple[str, set[str]]:
    """ALLOWED or the first GraphQL error's code; and the codes of the payload's `errors`."""
    if body.get("errors"):
        return body["errors"][0].get("extensions", {}).get("code", body["errors"][0]["message"]), set()
    result = body["data"][field]
    if isinstance(result, dict) and "errors" in result:
        return ALLOWED, {error["code"] for error in result["errors"]}
    return ALLOWED, set()


async def call(env: Env, name: str, actor: str) -> tuple[str, set[str], dict]:
    """One cell: restore the world if the previous test changed it, call, note whether this one did."""
    operation = OPERATIONS[name]
    if env.dirty:
        await env.store.restore()
        env.dirty = False
    body = await env.api.post(operation.document, operation.variables(env.world, actor), **env.credentials(actor))
    result, payload_errors = outcome(body, operation.field)
    if operation.is_mutation and result == ALLOWED and not payload_errors:
        env.dirty = True
    return result, payload_errors, body


def _cells() -> list[Any]:
    cells = []
    for name, expectations in MATRIX.items():
        for actor, expected in expectations.items():
            marks = []
            if (name, actor) in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(name, actor)]))
            cells.append(pytest.param(name, actor, expected, id=f"{name}-{actor}", marks=marks))
    return cells


@pytest.mark.parametrize(("name", "actor", "expected"), _cells())
async def test_authorization(env, name, actor, expected):
    # when
    result, payload_errors, body = await call(env, name, actor)

    # then
    assert result == expected, f"{name} by {actor}: expected {expected}, got {result}: {body}"
    if result == F:  # a refusal says what is missing (permissions/refusals.py)
        assert "missing" in body["errors"][0]["extensions"], f"{name} by {actor}: FORBIDDEN without `missing`: {body}"
    if result == ALLOWED:
        unexpected = payload_errors - OPERATIONS[name].tolerated
        assert not unexpected, f"{name} by {actor} was allowed but refused in its payload: {body}"


# --- the matrix covers the whole schema ---------------------------------------------------------------------


def test_the_matrix_has_a_row_per_operation_and_a_column_per_actor():
    assert set(OPERATIONS) == set(MATRIX), sorted(set(OPERATIONS) ^ set(MATRIX))
    for name, expectations in MATRIX.items():
        assert list(expectations) == ACTORS, name
        assert ALLOWED in expectations.values(), f"{name}: nobody may call it?"


def test_every_root_field_is_in_the_matrix():
    schema = graphql_schema(build_schema(Settings()))
    root_fields = {*schema.query_type.fields, *schema.mutation_type.fields}
    covered = {operation.field for operation in OPERATIONS.values()}

    missing = root_fields - covered
    stale = covered - root_fields

    assert not missing, f"Root fields without a row in the authorization matrix: {sorted(missing)}"
    assert not stale, f"Rows for fields no longer in the schema: {sorted(stale)}"


@pytest.mark.parametrize("field", ["commissions", "payoutSettings", "payoutBalance"])
async def test_operators_naming_an_organization_that_is_no_partner_find_nothing(env, field):
    # given: operators may read any partner's ledger and payouts; Contoso is no partner
    document = OPERATIONS[f"{field}(partnerId)"].document

    # when
    body = await env.api.post(document, {"partnerId": env.world.ids["customer"]}, **env.credentials("operator"))

    # then
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body

"""How the API's enum values read on a page: `{{ value | label }}` in templates, `label(request, value)`
in code. One message per value, in the catalog like every other string."""

from __future__ import annotations

from partner_portal.portal.i18n import N_

LABELS = {
    # permissions in an organization, and what a customer delegates to its partner
    "MANAGE_MEMBERS": N_("Manage members"),
    "MANAGE_SETTINGS": N_("Change settings"),
    "ORDER_LICENSES": N_("Order licenses"),
    "VIEW_BILLING": N_("View billing"),
    "REQUEST_PARTNER_STATUS": N_("Apply for partner status"),
    "MANAGE_SERVICE_PROVIDER": N_("Choose the service provider"),
    # partner permissions
    "ADMINISTER_CUSTOMERS": N_("Administer customers"),
    "CREATE_CUSTOMER_ORGANIZATIONS": N_("Create customer organizations"),
    "MANAGE_PARTNER_PORTAL": N_("Manage the partner portal"),
    # programs
    "AFFILIATE": N_("Affiliate"),
    "EXPERT": N_("Expert"),
    "RESELLER": N_("Reseller"),
    "SERVICE_PARTNER": N_("Service partner"),
    # roles
    "ADMINISTRATOR": N_("Administrator"),
    "MEMBER": N_("Member"),
    # commission types (AFFILIATE is above) and statuses
    "SELF": N_("Self"),
    "PARTNER": N_("Partner"),
    "CODE": N_("Code"),
    "PENDING": N_("Held"),
    "APPROVED": N_("Approved"),
    "PAID": N_("Paid"),
    "REVERSED": N_("Reversed"),
    # payouts
    "REQUESTED": N_("Requested"),
    "REJECTED": N_("Rejected"),
    "PAYPAL": N_("PayPal"),
    "BANK_TRANSFER": N_("Bank transfer"),
    # licenses
    "TRIAL": N_("Trial"),
    "ACTIVE": N_("Active"),
    "PAST_DUE": N_("Past due"),
    "CANCELED": N_("Canceled"),
    "EXPIRED": N_("Expired"),
    # invitations and relationships
    "OPEN": N_("Open"),
    "ACCEPTED": N_("Accepted"),
    "REVOKED": N_("Revoked"),
    "INVITATION": N_("Invitation"),
    "SELECTED": N_("Chosen by the customer"),
    # coupons
    "UNUSED": N_("Unused"),
    "REDEEMED": N_("Redeemed"),
}

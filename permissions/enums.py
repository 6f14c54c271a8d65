"""The permission vocabulary of DESIGN.md, one enum per group."""

from enum import StrEnum


class Role(StrEnum):
    """A member's role. An administrator holds every permission of its organization."""

    ADMINISTRATOR = "ADMINISTRATOR"
    MEMBER = "MEMBER"


class OrganizationPermission(StrEnum):
    """What a member may do in its own organization."""

    MANAGE_MEMBERS = "MANAGE_MEMBERS"
    MANAGE_SETTINGS = "MANAGE_SETTINGS"
    ORDER_LICENSES = "ORDER_LICENSES"
    VIEW_BILLING = "VIEW_BILLING"
    REQUEST_PARTNER_STATUS = "REQUEST_PARTNER_STATUS"
    MANAGE_SERVICE_PROVIDER = "MANAGE_SERVICE_PROVIDER"


class PartnerPermission(StrEnum):
    """The partner group: what a member of a partner organization may do partner-side."""

    ADMINISTER_CUSTOMERS = "ADMINISTER_CUSTOMERS"
    CREATE_CUSTOMER_ORGANIZATIONS = "CREATE_CUSTOMER_ORGANIZATIONS"
    MANAGE_PARTNER_PORTAL = "MANAGE_PARTNER_PORTAL"


class DelegatedPermission(StrEnum):
    """What a customer may grant its service partner inside the customer's organization."""

    MANAGE_MEMBERS = "MANAGE_MEMBERS"
    MANAGE_SETTINGS = "MANAGE_SETTINGS"
    ORDER_LICENSES = "ORDER_LICENSES"
    VIEW_BILLING = "VIEW_BILLING"


class OperatorPermission(StrEnum):
    """The vendor's staff."""

    REVIEW_PARTNERS = "REVIEW_PARTNERS"
    MANAGE_PROGRAMS = "MANAGE_PROGRAMS"
    MANAGE_PAYOUTS = "MANAGE_PAYOUTS"
    VIEW_ALL_REPORTS = "VIEW_ALL_REPORTS"


class ApiKeyScope(StrEnum):
    """What an integrator's API key may do."""

    BILLING_WRITE = "billing:write"
    REPORTS_READ = "reports:read"
    WEBHOOKS_MANAGE = "webhooks:manage"


class Via(StrEnum):
    """How the actor of a request proved who it is."""

    ANONYMOUS = "ANONYMOUS"
    SESSION = "SESSION"
    JWT = "JWT"
    API_KEY = "API_KEY"
    WEBHOOK = "WEBHOOK"
    CLI = "CLI"


MEMBER_PERMISSIONS: frozenset[str] = frozenset(OrganizationPermission) | frozenset(PartnerPermission)

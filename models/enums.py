"""The values stored in the domain's status and kind columns."""

from enum import StrEnum


class Program(StrEnum):
    AFFILIATE = "AFFILIATE"
    EXPERT = "EXPERT"
    RESELLER = "RESELLER"
    SERVICE_PARTNER = "SERVICE_PARTNER"


class ApplicationStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class RelationshipSource(StrEnum):
    INVITATION = "INVITATION"
    SELECTED = "SELECTED"


class InvitationStatus(StrEnum):
    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class MembershipInvitationStatus(StrEnum):
    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class LicenseStatus(StrEnum):
    TRIAL = "TRIAL"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class CommissionType(StrEnum):
    SELF = "SELF"
    AFFILIATE = "AFFILIATE"
    PARTNER = "PARTNER"
    CODE = "CODE"


class CommissionStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    PAID = "PAID"
    REVERSED = "REVERSED"


class CommissionRuleKind(StrEnum):
    PERCENT = "PERCENT"
    FLAT = "FLAT"


class Recurrence(StrEnum):
    ONE_TIME = "ONE_TIME"
    MONTHS = "MONTHS"
    LIFETIME = "LIFETIME"


class PayoutMethod(StrEnum):
    PAYPAL = "PAYPAL"
    BANK_TRANSFER = "BANK_TRANSFER"


class PayoutStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    PAID = "PAID"
    REJECTED = "REJECTED"


class BillingEventKind(StrEnum):
    PAYMENT = "PAYMENT"
    REFUND = "REFUND"
    LICENSE_CHANGE = "LICENSE_CHANGE"

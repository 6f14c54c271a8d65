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

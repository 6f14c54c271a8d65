"""Expected failures of a mutation: bad input or a state that does not allow the change.

They travel to the client as `errors: [UserError!]!` in the payload; the transaction
that raised them is rolled back, so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


class UserErrorCode(StrEnum):
    INVALID_VALUE = "INVALID_VALUE"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_EMAIL = "INVALID_EMAIL"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_COMMON = "PASSWORD_TOO_COMMON"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_CODE = "INVALID_CODE"
    TWO_FACTOR_ENABLED = "TWO_FACTOR_ENABLED"
    TWO_FACTOR_NOT_ENABLED = "TWO_FACTOR_NOT_ENABLED"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    LIMIT_REACHED = "LIMIT_REACHED"
    LAST_ADMINISTRATOR = "LAST_ADMINISTRATOR"
    OPERATOR_ACCOUNT = "OPERATOR_ACCOUNT"
    EMPTY_SCOPES = "EMPTY_SCOPES"
    APPLICATION_PENDING = "APPLICATION_PENDING"
    ALREADY_PARTNER = "ALREADY_PARTNER"
    APPLICATION_DECIDED = "APPLICATION_DECIDED"
    ALREADY_INVITED = "ALREADY_INVITED"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_USED = "TOKEN_USED"
    ALREADY_VERIFIED = "ALREADY_VERIFIED"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    INVITATION_USED = "INVITATION_USED"
    INVITATION_CLOSED = "INVITATION_CLOSED"
    PARTNER_NOT_FOUND = "PARTNER_NOT_FOUND"
    NO_SERVICE_PARTNER = "NO_SERVICE_PARTNER"
    NOT_A_CUSTOMER = "NOT_A_CUSTOMER"
    SESSION_ENDED = "SESSION_ENDED"
    CONFLICT = "CONFLICT"
    NO_EXCHANGE_RATE = "NO_EXCHANGE_RATE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    NO_PAYOUT_SETTINGS = "NO_PAYOUT_SETTINGS"
    PAYOUT_DECIDED = "PAYOUT_DECIDED"
    NOTHING_TO_EXPORT = "NOTHING_TO_EXPORT"
    LINK_CODE_TAKEN = "LINK_CODE_TAKEN"
    SELF_REFERRAL = "SELF_REFERRAL"
    ALREADY_REFERRED = "ALREADY_REFERRED"
    ATTRIBUTION_EXPIRED = "ATTRIBUTION_EXPIRED"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str | None
    code: UserErrorCode
    message: str


class UserInputError(Exception):
    """One or more problems with a mutation's input or the state it meets."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def fail(field: str | None, code: UserErrorCode, message: str) -> UserInputError:
    return UserInputError(Problem(field, code, message))


class BadArgument(Exception):
    """A query argument out of range or malformed (shown as `extensions.code = BAD_USER_INPUT`)."""

    code = "BAD_USER_INPUT"


T = TypeVar("T")


def query_argument(clean: Callable[[str], T], raw: str) -> T:
    """A query argument through a mutation input's cleaner (e.g. `clean_currency`): queries have no
    payload `errors`, so its problem becomes a BadArgument."""
    try:
        return clean(raw)
    except UserInputError as error:
        raise BadArgument(str(error)) from error

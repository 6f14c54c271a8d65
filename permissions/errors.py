"""Authentication and authorization failures. The GraphQL layer shows `code` in `extensions`, and for
a refusal that names what is missing, `missing` beside it (see `Missing`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Missing:
    """What a refused caller lacks, for a frontend to act on: shown as `extensions.missing`
    (`{"kind": …, "name": …}`). `kind` is one of `MISSING_KINDS`; `name` is the permission, scope or
    program (absent where the kind says it all)."""

    kind: str
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in MISSING_KINDS:
            raise ValueError(f"unknown kind of missing requirement: {self.kind}")

    def as_extension(self) -> dict[str, str]:
        return {"kind": self.kind} if self.name is None else {"kind": self.kind, "name": self.name}


MISSING_KINDS = frozenset(
    {
        "ORGANIZATION_PERMISSION",  # a permission in the organization (`name`: OrganizationPermission)
        "MEMBERSHIP",  # a membership: the organization is seen (operator, its partner's staff), not acted in
        "ADMINISTRATOR",  # the organization's administrator role
        "PARTNER_PERMISSION",  # a partner permission (`name`: PartnerPermission)
        "PARTNER_STATUS",  # the organization is no approved partner
        "PROGRAM",  # the partner is not in a program (`name`: Program)
        "GRANT",  # the customer's grant does not delegate it (`name`: the permission), or no grant is in force
        "OPERATOR_PERMISSION",  # vendor staff permission (`name`: OperatorPermission)
        "API_KEY_SCOPE",  # an API key's scope (`name`: ApiKeyScope)
        "VERIFIED_EMAIL",  # the account's address is not verified yet
        "SECOND_FACTOR",  # the session has not proved a second factor (or none is set up)
        "OUTSIDE_MANAGEMENT_SESSION",  # not possible inside a management session
    }
)


class AccessError(Exception):
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."

    def __init__(self, message: str | None = None, missing: Missing | None = None) -> None:
        super().__init__(message or self.default_message)
        self.missing = missing


class Unauthenticated(AccessError):
    code = "UNAUTHENTICATED"
    default_message = "Sign in first."


class NoOrganization(AccessError):
    code = "NO_ORGANIZATION"
    default_message = "Your account is not in an organization yet: create an organization first."


class Forbidden(AccessError):
    code = "FORBIDDEN"
    default_message = "You do not have the permission needed for this."


class NotFound(AccessError):
    """Also what an actor sees for an object it may not see: hidden and absent look alike."""

    code = "NOT_FOUND"
    default_message = "Not found."


class Throttled(AccessError):
    code = "THROTTLED"
    default_message = "Too many requests; try again later."

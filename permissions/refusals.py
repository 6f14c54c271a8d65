"""FORBIDDEN that says what is missing.

A `Refusal` is made from one `Missing` (what the caller lacks: `permissions/errors.py`) and the
organization it lacks it in; its message is written from the same two (`sentence`), so the words a
person reads and `extensions.missing` a frontend acts on cannot disagree. The raising code passes
what the requirement declared (`Member.permission`, `Partner.program`, `OperatorWith.permission`, ...),
never a retyped name. The GraphQL answer names the organization (`message(name)`, one query for the
whole response: `resolvers/refusals.py`); elsewhere, and before that, it is "this organization".
"""

from __future__ import annotations

from partner_portal.permissions.actor import MembershipInfo
from partner_portal.permissions.enums import PartnerPermission
from partner_portal.permissions.errors import Forbidden, Missing

_PARTNER_PERMISSIONS = frozenset(PartnerPermission)


class Refusal(Forbidden):
    """FORBIDDEN for lack of `missing` in the organization `organization_id` (None: no organization
    is involved); `because` adds what the requirement alone does not say."""

    def __init__(self, missing: Missing, organization_id: int | None = None, *, because: str | None = None) -> None:
        self.lacking = missing
        self.organization_id = organization_id
        self.because = because
        super().__init__(self.message(None), missing)

    def message(self, organization: str | None) -> str:
        """The message, naming the organization when its name is given."""
        text = sentence(self.lacking, organization)
        return f"{text} {self.because}" if self.because else text


def sentence(missing: Missing, organization: str | None = None) -> str:
    """What is missing, as a person reads it; `organization` is the name of the organization it is
    missing in (None: words that fit any)."""
    name = missing.name
    match missing.kind:
        case "ORGANIZATION_PERMISSION":
            return f"You need the permission {name} in {organization or 'this organization'} for this."
        case "MEMBERSHIP":
            return (
                f"You are not a member of {organization or 'this organization'}: only its members may do this "
                "(its service partner's staff in a management session, within the customer's grant)."
            )
        case "ADMINISTRATOR":
            return f"Only an administrator of {organization or 'this organization'} may do this."
        case "PARTNER_PERMISSION":
            return f"You need the partner permission {name} in {organization or 'the partner organization'} for this."
        case "PARTNER_STATUS":
            return f"{organization or 'Your organization'} is not a partner yet: request partner status first."
        case "PROGRAM":
            return f"{organization or 'Your organization'} is not in the {name} program."
        case "GRANT" if name is not None:
            return f"{_possessive(organization or 'This customer')} grant does not allow {name}."
        case "GRANT":
            return f"{_possessive(organization or 'This customer')} grant to its partner is not in force."
        case "OPERATOR_PERMISSION":
            return f"This is for the vendor's staff: you need the operator permission {name}."
        case "API_KEY_SCOPE":
            return f"This API key lacks the scope {name}."
        case "VERIFIED_EMAIL":
            return "Verify your email address first."
        case "SECOND_FACTOR":
            return "Confirm your sign-in with a second factor first."
        case "OUTSIDE_MANAGEMENT_SESSION":
            return "This is not possible in a management session."
        case _:
            return Forbidden.default_message


def lacking_permission(membership: MembershipInfo, permission: str) -> Missing:
    """What a membership without `permission` lacks: inside a management session, the customer's grant;
    else the partner or organization permission."""
    if membership.management_session_id is not None:
        return Missing("GRANT", permission)
    return needed_permission(permission)


def needed_permission(permission: str) -> Missing:
    """The partner or organization permission `permission`, as a `Missing`."""
    kind = "PARTNER_PERMISSION" if permission in _PARTNER_PERMISSIONS else "ORGANIZATION_PERMISSION"
    return Missing(kind, permission)


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"

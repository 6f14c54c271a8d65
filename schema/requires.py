"""Each root field's requirement (`permissions/requirements.py`), declared once on the field.

`Requires(requirement, "input.partner_id")` enforces the requirement before the resolver runs, for
the organization the named argument holds (a global id; absent: the actor's first organization),
and writes "Requires: ..." into the field's description. The resolver asks the same requirement
object and gets the answer given here (kept for the request). Where the organization is that of an
object the resolver loads first, `checked_on` names it ("the invitation's partner"): only `admit`
runs here, and the resolver enforces the same requirement on the loaded object's organization.
Before either, the field's ids are checked (`schema/id_arguments.py`): a crafted one is
BAD_USER_INPUT, not the refusal of a caller who may not ask.
"""

from __future__ import annotations

from typing import Any

from graphql import OperationType
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension
from strawberry.types.field import StrawberryField

from partner_portal.permissions.requirements import Requirement, forget_answers
from partner_portal.schema.common import Info, decode_id
from partner_portal.schema.id_arguments import IdArgument, id_arguments

REQUIRES = "Requires:"

# Root fields anybody may call: their answer is already limited to what the caller may see (node,
# the viewer), they are public catalogs, `reports` (each report declares its own), or they are how
# one signs in or answers a link from a mail. Every other root field declares a `Requires`.
PUBLIC_FIELDS = frozenset(
    {
        "node",
        "nodes",
        "viewer",
        "viewerApiKey",
        "partnerDirectory",
        "products",
        "exchangeRates",
        "reports",
        "register",
        "confirmRegistration",
        "login",
        "completeSignIn",
        "unlockAccount",
        "requestPasswordReset",
        "resetPassword",
        "acceptInvitation",
        "invitationPreview",
        "declineMembershipInvitation",
        "verifyEmail",
    }
)


class Requires(FieldExtension):
    """The field's requirement: enforced before its resolver, shown in its description."""

    def __init__(
        self, requirement: Requirement, organization: str | None = None, *, checked_on: str | None = None
    ) -> None:
        self.requirement = requirement
        self.organization = organization.split(".") if organization else []
        self.checked_on = checked_on
        self.ids: tuple[IdArgument, ...] | None = None

    def text(self) -> str:
        """What the description ends with."""
        return f"{REQUIRES} {self.requirement.describe(self.checked_on)}."

    def apply(self, field: StrawberryField) -> None:
        # Each schema built (one per hardening configuration) applies it again: once is enough.
        if self.ids is None:
            self.ids = id_arguments(field)
        if REQUIRES not in (field.description or ""):
            field.description = f"{field.description} {self.text()}" if field.description else self.text()

    async def resolve_async(self, next_: AsyncExtensionResolver, source: Any, info: Info, /, **kwargs: Any) -> Any:
        # positional-only: a field may have an argument named `source` (myCustomers)
        actor = info.context.actor
        for id_argument in self.ids or ():  # crafted ids are BAD_USER_INPUT, whoever asks
            id_argument.check(kwargs)
        if self.checked_on:
            await self.requirement.admit(actor)
        else:
            await self.requirement.enforce(actor, self._organization_id(kwargs))
        if info.operation.operation is not OperationType.MUTATION:
            return await next_(source, info, **kwargs)
        try:
            return await next_(source, info, **kwargs)
        finally:
            forget_answers(actor)  # the next mutation decides on what this one changed

    def _organization_id(self, kwargs: dict[str, Any]) -> int | None:
        value: Any = kwargs
        for name in self.organization:
            value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
            if value is None:
                return None
        return decode_id(value, "Organization") if self.organization else None


def declared(field: StrawberryField) -> Requires | None:
    """The field's `Requires`, if it declares one."""
    return next((extension for extension in field.extensions if isinstance(extension, Requires)), None)

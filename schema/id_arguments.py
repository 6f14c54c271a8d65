"""Which type of object each `ID` argument names, declared once, and its check at the edge.

The schema types every global id `ID`; what it must name comes from its name (`partner_id`: an
Organization), or from an exception for one field. `Requires` records a root field's id arguments
(and the ids in its input objects, in lists or not) when the schema is built and checks them before
the requirement: a crafted id is BAD_USER_INPUT whatever the caller may do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.relay import GlobalID
from strawberry.types.base import StrawberryContainer, get_object_definition
from strawberry.types.field import StrawberryField

from partner_portal.schema.common import decode_id

# The type of object an id names, by the argument's or input field's (Python) name.
ID_TYPES = {
    "partner_id": "Organization",
    "organization_id": "Organization",
    "customer_id": "Organization",
    "order_id": "CouponOrder",
    "subscription_id": "WebhookSubscription",
    "api_key_id": "ApiKey",
    "invitation_id": "Invitation",
    "membership_id": "Membership",
    "application_id": "PartnerApplication",
    "session_id": "ManagementSession",
    "product_id": "Product",
    "rule_id": "CommissionRule",
    "payout_id": "Payout",
    "payout_ids": "Payout",
    "link_id": "AffiliateLink",
    "plan_id": "Plan",
    "delivery_id": "WebhookDelivery",
    "tier_id": "Tier",
    "user_id": "User",
}
# (root field, name) where the name means another type than in ID_TYPES.
ID_TYPE_EXCEPTIONS = {
    ("revoke_membership_invitation", "invitation_id"): "MembershipInvitation",
    ("end_session", "session_id"): "SessionToken",
}


@dataclass(frozen=True, slots=True)
class IdArgument:
    """An id in a field's arguments: the names leading to it (`("input", "partner_id")`) and its type."""

    path: tuple[str, ...]
    type_name: str

    def check(self, arguments: dict[str, Any]) -> None:
        """BAD_USER_INPUT unless every id given at this place is well formed and of the type."""
        for value in _values(arguments, self.path):
            decode_id(value, self.type_name)


def id_arguments(field: StrawberryField) -> tuple[IdArgument, ...]:
    """The field's ids, each with the type of object it names; a name ID_TYPES does not know fails
    the schema's build."""
    found = []
    for argument in field.arguments:
        for path in _id_paths(argument.type, (argument.python_name,), frozenset()):
            type_name = ID_TYPE_EXCEPTIONS.get((field.python_name, path[-1])) or ID_TYPES.get(path[-1])
            if type_name is None:
                raise TypeError(f"{field.python_name}: say in ID_TYPES which type of object `{path[-1]}` names")
            found.append(IdArgument(path, type_name))
    return tuple(found)


def _id_paths(type_: Any, path: tuple[str, ...], seen: frozenset[type]) -> Iterator[tuple[str, ...]]:
    while isinstance(type_, StrawberryContainer):  # optional, list
        type_ = type_.of_type
    if type_ is GlobalID or type_ is strawberry.ID:
        yield path
        return
    definition = get_object_definition(type_)
    if definition is not None and definition.is_input and type_ not in seen:
        for field in definition.fields:
            yield from _id_paths(field.type, (*path, field.python_name), seen | {type_})


def _values(value: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if value is None or value is strawberry.UNSET:
        return
    if isinstance(value, list):
        for item in value:
            yield from _values(item, path)
    elif not path:
        yield value
    else:
        inner = value.get(path[0]) if isinstance(value, dict) else getattr(value, path[0], None)
        yield from _values(inner, path[1:])

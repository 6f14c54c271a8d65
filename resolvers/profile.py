"""The signed-in person's own profile: the display name (the address has its own, mailed way:
`email_verification.change_email`)."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from partner_portal.models.identity import User
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import audit
from partner_portal.resolvers.identity import USER_FIELDS
from partner_portal.resolvers.validation import clean_name


async def update_profile(actor: Actor, *, name: str) -> dict[str, Any]:
    """Set the signed-in user's display name (spaces collapsed, 1 to 200 characters); the user's row.
    Audited as `user.update_profile` with the name before and after, only when it changed."""
    user_id = await SIGNED_IN.enforce(actor)
    clean = clean_name(name)
    async with in_transaction():
        user = await User.filter(id=user_id).select_for_update().first().values(*USER_FIELDS)
        if user["name"] != clean:
            await User.filter(id=user_id).update(name=clean)
            changes = {"name": {"from": user["name"], "to": clean}}
            await audit.record(actor, "user.update_profile", "User", user_id, changes=changes)
            user["name"] = clean
    return user

"""GraphQL for the signed-in person's own profile."""

from __future__ import annotations

import strawberry

from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import profile
from partner_portal.schema.common import Info, Payload, run_mutation
from partner_portal.schema.identity import User
from partner_portal.schema.requires import Requires


@strawberry.input(description="The viewer's new profile.")
class UpdateProfileInput:
    name: str = strawberry.field(
        description="The display name: 1 to 200 characters after surrounding and repeated spaces are removed."
    )


@strawberry.type(description="The viewer with the changed profile.")
class UpdateProfilePayload(Payload):
    user: User | None = strawberry.field(default=None, description="The viewer, as changed.")


@strawberry.type
class ProfileMutation:
    @strawberry.mutation(
        description="Change the viewer's display name (REQUIRED or TOO_LONG on `name` when it is empty or "
        "longer than 200 characters). The sign-in address changes with `changeEmail`.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        change = profile.update_profile(info.context.actor, name=input.name)
        return await run_mutation(UpdateProfilePayload, change, user=User.from_row)

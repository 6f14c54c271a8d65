"""GraphQL for passwords: a reset by mailed link, and a change while signed in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import passwords
from partner_portal.resolvers.sessions import session_client
from partner_portal.schema.common import Info, Payload, run_mutation
from partner_portal.schema.identity import User, signed_in
from partner_portal.schema.requires import Requires


@strawberry.input(description="The address of an account whose password was forgotten.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The account's sign-in address.")


@strawberry.type(description="The request was taken; the answer does not say whether the address has an account.")
class RequestPasswordResetPayload(Payload):
    requested: bool = strawberry.field(
        default=False,
        description="True once the request is taken: if the address has an account with a password, a "
        "link to choose a new one was mailed to it (valid for `PASSWORD_RESET_TTL_MINUTES`); the same "
        "answer when it has none.",
    )


@strawberry.input(description="A new password, with the token of a mailed reset link.")
class ResetPasswordInput:
    token: str = strawberry.field(description="The `token` parameter of the link mailed by `requestPasswordReset`.")
    new_password: str = strawberry.field(description="10 to 1024 characters, not a common password.")


@strawberry.type(description="The new password, and a session for its user unless the account has two-factor sign-in.")
class ResetPasswordPayload(Payload):
    password_changed: bool = strawberry.field(
        default=False, description="True when the password was set; every earlier session of the user ended."
    )
    second_factor_required: bool = strawberry.field(
        default=False,
        description="True when the account has two-factor sign-in: no session was started; sign in with "
        "the new password and a code.",
    )
    user: User | None = strawberry.field(default=None, description="The signed-in user (null without a session).")
    token: str | None = strawberry.field(
        default=None, description="A session token: send it as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the session token expires.")


@strawberry.input(description="The current password and a new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password the account has now.")
    new_password: str = strawberry.field(description="10 to 1024 characters, not a common password.")


@strawberry.type(description="The changed password.")
class ChangePasswordPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The user whose password changed.")
    sessions_ended: int = strawberry.field(
        default=0, description="How many other sessions of the user ended; the one of this request stays."
    )


def _reset_fields(info: Info, reset: passwords.PasswordReset) -> dict[str, Any]:
    if reset.session is None:
        return {"password_changed": True, "second_factor_required": True}
    return {"password_changed": True, **signed_in(info, reset.session)}


@strawberry.type
class PasswordsMutation:
    @strawberry.mutation(
        description="Mail a link to choose a new password to the address, if it has an account with a "
        "password. The answer is the same whether or not it has; rated per client and per address."
    )
    async def request_password_reset(self, info: Info, input: RequestPasswordResetInput) -> RequestPasswordResetPayload:
        ctx = info.context
        change = passwords.request_password_reset(
            ctx.actor, ctx.settings, email=input.email, throttle_lookup=ctx.throttle_lookup, limits=ctx.mail_limits
        )
        return await run_mutation(RequestPasswordResetPayload, change, lambda _: {"requested": True})

    @strawberry.mutation(
        description="Set a new password with a mailed reset link (it works once) and end every session of "
        "the account; signs in, unless the account has two-factor sign-in. One password check or change "
        "per operation; rated like sign-ins."
    )
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> ResetPasswordPayload:
        ctx = info.context
        change = passwords.reset_password(
            ctx.actor,
            ctx.settings,
            token=input.token,
            new_password=input.new_password,
            client=ctx.client_address,
            session_client=session_client(ctx),
        )
        return await run_mutation(ResetPasswordPayload, change, lambda reset: _reset_fields(info, reset))

    @strawberry.mutation(
        description="Change the password, given the current one (a wrong one counts as a failed sign-in); "
        "ends every other session of the user and keeps this one. Only with a session token. One "
        "password check or change per operation; rated like sign-ins.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def change_password(self, info: Info, input: ChangePasswordInput) -> ChangePasswordPayload:
        ctx = info.context
        change = passwords.change_password(
            ctx.actor,
            ctx.settings,
            current_password=input.current_password,
            new_password=input.new_password,
            client=ctx.client_address,
        )
        return await run_mutation(
            ChangePasswordPayload,
            change,
            lambda changed: {"user": User.from_row(changed.user), "sessions_ended": changed.sessions_ended},
        )

"""GraphQL for two-factor sign-in: setting it up, signing in with it, turning it off, an operator's reset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.requirements import PROGRAM_MANAGER, SIGNED_IN
from partner_portal.resolvers import two_factor
from partner_portal.resolvers.sessions import session_client
from partner_portal.schema.common import Info, Payload, decode_id, run_mutation
from partner_portal.schema.identity import User, signed_in
from partner_portal.schema.requires import Requires

# --- inputs and payloads -----------------------------------------------------------------------------


@strawberry.input(description="The password again, to set up two-factor sign-in.")
class BeginTwoFactorSetupInput:
    password: str = strawberry.field(description="The account's password.")


@strawberry.type(description="A new secret for an authenticator app, shown this once.")
class BeginTwoFactorSetupPayload(Payload):
    secret: str | None = strawberry.field(
        default=None, description="The secret (base32), for typing into an authenticator app."
    )
    provisioning_uri: str | None = strawberry.field(
        default=None,
        description="The same secret as an `otpauth://totp/…` URI, the content of the QR code an authenticator "
        "app scans.",
    )


@strawberry.input(description="A first code of the authenticator app, to turn two-factor sign-in on.")
class ConfirmTwoFactorSetupInput:
    code: str = strawberry.field(description="The app's current six-digit code.")


@strawberry.type(description="Two-factor sign-in is on: the recovery codes, shown this once.")
class ConfirmTwoFactorSetupPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The viewer, with two-factor sign-in on.")
    recovery_codes: list[str] | None = strawberry.field(
        default=None,
        description="Ten single-use codes that stand in for the app when it is lost; keep them safe, they "
        "are not shown again.",
    )


@strawberry.input(description="A current code of the authenticator app, to replace the recovery codes.")
class RegenerateRecoveryCodesInput:
    code: str = strawberry.field(description="The app's current six-digit code.")


@strawberry.type(description="New recovery codes, shown this once; the old ones no longer work.")
class RegenerateRecoveryCodesPayload(Payload):
    recovery_codes: list[str] | None = strawberry.field(default=None, description="Ten single-use codes.")


@strawberry.input(description="The password and a second factor, to turn two-factor sign-in off.")
class DisableTwoFactorInput:
    password: str = strawberry.field(description="The account's password.")
    code: str = strawberry.field(description="A current code of the authenticator app, or a recovery code.")


@strawberry.type(description="Two-factor sign-in is off.")
class DisableTwoFactorPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The viewer, with two-factor sign-in off.")


@strawberry.input(description="The challenge of `login` and one second factor: a code of the app or a recovery code.")
class CompleteSignInInput:
    challenge: str = strawberry.field(description="`challenge` of the `login` payload.")
    code: str | None = strawberry.field(default=None, description="The authenticator app's current code.")
    recovery_code: str | None = strawberry.field(
        default=None, description="A recovery code instead of the app's code (each works once)."
    )


@strawberry.type(description="A session for the signed-in user, who proved a second factor.")
class CompleteSignInPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The signed-in user.")
    token: str | None = strawberry.field(
        default=None, description="A session token: send it as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the session token expires.")


@strawberry.input(description="The user whose two-factor sign-in to turn off.")
class ResetTwoFactorInput:
    user_id: GlobalID = strawberry.field(description="The user's id.")


@strawberry.type(description="The user, with two-factor sign-in off.")
class ResetTwoFactorPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The user.")


def _user(row: dict[str, Any]) -> User:
    return User.from_row(row)


# --- the mutations -----------------------------------------------------------------------------------


@strawberry.type
class TwoFactorMutation:
    @strawberry.mutation(
        description="Begin setting up two-factor sign-in: a new secret for an authenticator app, shown once; "
        "`confirmTwoFactorSetup` turns it on. Refused while it is on (TWO_FACTOR_ENABLED).",
        extensions=[Requires(SIGNED_IN)],
    )
    async def begin_two_factor_setup(self, info: Info, input: BeginTwoFactorSetupInput) -> BeginTwoFactorSetupPayload:
        ctx = info.context
        change = two_factor.begin_setup(ctx.actor, ctx.settings, password=input.password, client=ctx.client_address)
        return await run_mutation(
            BeginTwoFactorSetupPayload,
            change,
            lambda setup: {"secret": setup.secret, "provisioning_uri": setup.provisioning_uri},
        )

    @strawberry.mutation(
        description="Turn two-factor sign-in on with a first code of the app; this session counts as signed in "
        "with a second factor. Answers the recovery codes, shown once; the user is mailed a notice.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def confirm_two_factor_setup(
        self, info: Info, input: ConfirmTwoFactorSetupInput
    ) -> ConfirmTwoFactorSetupPayload:
        ctx = info.context
        change = two_factor.confirm_setup(ctx.actor, ctx.settings, code=input.code, client=ctx.client_address)
        return await run_mutation(
            ConfirmTwoFactorSetupPayload,
            change,
            lambda result: {"user": _user(result[0]), "recovery_codes": result[1]},
        )

    @strawberry.mutation(
        description="Replace the recovery codes (with a current code of the app); the old ones stop working.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def regenerate_recovery_codes(
        self, info: Info, input: RegenerateRecoveryCodesInput
    ) -> RegenerateRecoveryCodesPayload:
        ctx = info.context
        change = two_factor.regenerate_recovery_codes(
            ctx.actor, ctx.settings, code=input.code, client=ctx.client_address
        )
        return await run_mutation(RegenerateRecoveryCodesPayload, change, recovery_codes=list)

    @strawberry.mutation(
        description="Turn two-factor sign-in off, with the password and a code of the app or a recovery code; "
        "the user is mailed a notice.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def disable_two_factor(self, info: Info, input: DisableTwoFactorInput) -> DisableTwoFactorPayload:
        ctx = info.context
        change = two_factor.disable(
            ctx.actor, ctx.settings, password=input.password, code=input.code, client=ctx.client_address
        )
        return await run_mutation(DisableTwoFactorPayload, change, user=_user)

    @strawberry.mutation(
        description="Complete a sign-in that `login` answered with `secondFactorRequired`: the challenge and "
        "a code of the app or a recovery code give the session. A challenge works once, for 5 minutes, "
        "and not after 5 wrong codes; wrong codes also count towards the address's sign-in lock."
    )
    async def complete_sign_in(self, info: Info, input: CompleteSignInInput) -> CompleteSignInPayload:
        ctx = info.context
        change = two_factor.complete_sign_in(
            ctx.actor,
            ctx.settings,
            challenge=input.challenge,
            code=input.code,
            recovery_code=input.recovery_code,
            client=ctx.client_address,
            session_client=session_client(ctx),
        )
        return await run_mutation(CompleteSignInPayload, change, lambda issued: signed_in(info, issued))

    @strawberry.mutation(
        description="Turn off the two-factor sign-in of a user who lost every second factor (audited; the "
        "user is mailed a notice). They sign in with the password alone, and may set it up again.",
        extensions=[Requires(PROGRAM_MANAGER)],
    )
    async def reset_two_factor(self, info: Info, input: ResetTwoFactorInput) -> ResetTwoFactorPayload:
        ctx = info.context
        change = two_factor.reset(ctx.actor, ctx.settings, decode_id(input.user_id, "User"))
        return await run_mutation(ResetTwoFactorPayload, change, user=_user)

"""GraphQL for verified email addresses: the mailed link, a new link, and a change of address."""

from __future__ import annotations

import strawberry

from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import email_verification
from partner_portal.schema.common import Info, Payload, run_mutation
from partner_portal.schema.identity import User
from partner_portal.schema.requires import Requires


@strawberry.input(description="The token of a verification link.")
class VerifyEmailInput:
    token: str = strawberry.field(
        description="The `token` parameter of the link mailed after `register`, `changeEmail` or "
        "`resendVerificationEmail`."
    )


@strawberry.type(description="The account whose address the link verified.")
class VerifyEmailPayload(Payload):
    user: User | None = strawberry.field(
        default=None,
        description="The account, with the address the link was mailed to as its (verified) sign-in address.",
    )


@strawberry.type(description="Where a new verification link was mailed.")
class ResendVerificationEmailPayload(Payload):
    email: str | None = strawberry.field(
        default=None,
        description="The address mailed: the account's own while it is unverified, else the new address a "
        "pending `changeEmail` waits for.",
    )


@strawberry.input(description="A new sign-in address, with the password.")
class ChangeEmailInput:
    new_email: str = strawberry.field(description="The address to change to; it must not belong to another account.")
    password: str = strawberry.field(description="The account's password (at most 1024 characters).")


@strawberry.type(description="A link was mailed to the new address; the address changes when it is used.")
class ChangeEmailPayload(Payload):
    pending_email: str | None = strawberry.field(
        default=None,
        description="The new address, normalized, to which the link was mailed (valid for 48 hours). Until "
        "the link is used, the account keeps its address.",
    )


@strawberry.type
class EmailVerificationMutation:
    @strawberry.mutation(
        description="Verify an address with the link mailed to it, signed in or not (the link works once, for "
        "48 hours): the account's sign-in address becomes that address, verified. After `changeEmail`, the old "
        "address is told."
    )
    async def verify_email(self, info: Info, input: VerifyEmailInput) -> VerifyEmailPayload:
        ctx = info.context
        change = email_verification.verify_email(ctx.actor, ctx.settings, token=input.token)
        return await run_mutation(VerifyEmailPayload, change, user=User.from_row)

    @strawberry.mutation(
        description="Mail a new verification link (older ones stop working): to the account's address while "
        "it is unverified, else to the address a pending `changeEmail` waits for. Rated per account and "
        "address (`MAIL_VERIFICATION_RATE`).",
        extensions=[Requires(SIGNED_IN)],
    )
    async def resend_verification_email(self, info: Info) -> ResendVerificationEmailPayload:
        ctx = info.context
        change = email_verification.resend_verification_email(ctx.actor, ctx.settings, ctx.mail_limits)
        return await run_mutation(ResendVerificationEmailPayload, change, email=lambda address: address)

    @strawberry.mutation(
        description="Change the sign-in address, given the password (a wrong one counts as a failed sign-in): "
        "a link is mailed to the new address, and the address changes when it is used (`verifyEmail`). Only "
        "with a session token. One password check per operation; rated like sign-ins.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def change_email(self, info: Info, input: ChangeEmailInput) -> ChangeEmailPayload:
        ctx = info.context
        change = email_verification.change_email(
            ctx.actor,
            ctx.settings,
            ctx.mail_limits,
            new_email=input.new_email,
            password=input.password,
            client=ctx.client_address,
        )
        return await run_mutation(ChangeEmailPayload, change, pending_email=lambda address: address)

"""GraphQL for identity: users, sign-in, sessions, API keys."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.enums import ApiKeyScope
from partner_portal.permissions.requirements import PROGRAM_MANAGER, SIGNED_IN
from partner_portal.resolvers import email_verification, identity, two_factor
from partner_portal.resolvers.organizations import MAX_LISTED_MEMBERSHIPS
from partner_portal.resolvers.sessions import session_client
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    describe_enum,
    node_type,
    run_mutation,
)
from partner_portal.schema.guards.cost import bounded_list
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type

if TYPE_CHECKING:
    from partner_portal.schema.organizations import Membership

describe_enum(
    ApiKeyScope,
    "What an integrator's API key may do.",
    {
        "BILLING_WRITE": "Push billing events (`billing:write`).",
        "REPORTS_READ": "Read reports and the audit log (`reports:read`).",
        "WEBHOOKS_MANAGE": "Manage outbound webhook subscriptions (`webhooks:manage`).",
    },
)


@row_type(
    identity.USER_FIELDS,
    email_verified=lambda row: row["email_verified_at"] is not None,
    two_factor_enabled=lambda row: row["totp_enabled_at"] is not None,
)
@strawberry.type(description="A person who signs in.")
class User(Node, RowType):
    id: NodeID[int]
    email: str = strawberry.field(description="The sign-in address, in its normalized (lower-case) form.")
    email_verified: bool = strawberry.field(
        description="Whether the address was proved to reach this person (`verifyEmail`, an accepted "
        "invitation, the identity provider). Until it is, the account cannot apply for partner status "
        "nor act for a partner organization (its partner permissions, payouts included, are not in force)."
    )
    name: str = strawberry.field(description="The display name.")
    created_at: datetime = strawberry.field(description="When the account was created.")
    two_factor_enabled: bool = strawberry.field(
        description="Whether signing in asks for a second factor (a code of an authenticator app)."
    )

    @strawberry.field(
        description="How many unused recovery codes the viewer has: on the viewer's own account with "
        "two-factor sign-in on; null otherwise."
    )
    async def recovery_codes_left(self, info: Info) -> int | None:
        return await two_factor.recovery_codes_left(info.context.actor, self.id, self.two_factor_enabled)

    @bounded_list(
        MAX_LISTED_MEMBERSHIPS,
        "The user's memberships in organizations the viewer may see, oldest "
        "first; `organizations` pages through all of the viewer's.",
    )
    async def memberships(
        self, info: Info
    ) -> list[Annotated[Membership, strawberry.lazy("partner_portal.schema.organizations")]]:
        from partner_portal.schema.organizations import Membership

        rows = await info.context.loaders.memberships_of_user.load(self.id)
        return [Membership.from_row(row) for row in rows]


@node_type("User")
async def _fetch_user(context: Any, pk: int) -> User | None:
    row = await identity.get_user(context.actor, pk)
    return User.from_row(row) if row else None


@row_type(identity.API_KEY_FIELDS, scopes=lambda row: [ApiKeyScope(s) for s in row["scopes"]])
@strawberry.type(description="An integrator's API key. The secret itself is shown once, at creation.")
class ApiKey(Node, RowType):
    id: NodeID[int]
    name: str = strawberry.field(description="What the key is for.")
    prefix: str = strawberry.field(description="The first characters of the key, to recognize it.")
    scopes: list[ApiKeyScope] = strawberry.field(description="What the key may do.")
    created_at: datetime = strawberry.field(description="When the key was created.")
    revoked_at: datetime | None = strawberry.field(description="When the key was revoked, if it was.")
    last_used_at: datetime | None = strawberry.field(description="When the key was last used (to the minute).")


@node_type("ApiKey")
async def _fetch_api_key(context: Any, pk: int) -> ApiKey | None:
    row = await identity.get_api_key(context.actor, pk)
    return ApiKey.from_row(row) if row else None


# --- inputs and payloads -----------------------------------------------------------------


@strawberry.input(description="A new built-in account.")
class RegisterInput:
    email: str = strawberry.field(description="The sign-in address; unique regardless of case.")
    password: str = strawberry.field(description="10 to 1024 characters, not a common password.")
    name: str = strawberry.field(description="The display name.")


@strawberry.type(description="The new account and a session token for it, or that a link was mailed to the address.")
class RegisterPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The new account.")
    token: str | None = strawberry.field(
        default=None, description="A session token: send it as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the session token expires.")
    confirmation_mailed: bool = strawberry.field(
        default=False,
        description="True when the server confirms registrations by mail (`CONFIRM_REGISTRATIONS`): "
        "the address was mailed a link for `confirmRegistration` (or, if it has an account, "
        "a notice); there is no user or token yet.",
    )


@strawberry.input(description="The token of a registration link.")
class ConfirmRegistrationInput:
    token: str = strawberry.field(description="The `token` parameter of the link mailed by `register`.")


@strawberry.input(description="Credentials of a built-in account.")
class LoginInput:
    email: str = strawberry.field(description="The sign-in address.")
    password: str = strawberry.field(description="The password (at most 1024 characters).")


@strawberry.type(
    description="A session for the signed-in user; for an account with two-factor sign-in, a challenge "
    "that `completeSignIn` turns into one with a code."
)
class LoginPayload(Payload):
    user: User | None = strawberry.field(default=None, description="The signed-in user.")
    token: str | None = strawberry.field(
        default=None, description="A session token: send it as `Authorization: Bearer <token>`."
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When the session token expires.")
    second_factor_required: bool = strawberry.field(
        default=False,
        description="True when the password was right and the account asks for a second factor: there is "
        "no user or token yet; send `challenge` with a code to `completeSignIn`.",
    )
    challenge: str | None = strawberry.field(
        default=None, description="With `secondFactorRequired`: the sign-in to complete (single use, short-lived)."
    )
    challenge_expires_at: datetime | None = strawberry.field(
        default=None, description="With `secondFactorRequired`: until when `challenge` can be completed."
    )


@strawberry.input(description="The token of an unlock link.")
class UnlockAccountInput:
    token: str = strawberry.field(description="The `token` parameter of the link mailed to the account's owner.")


@strawberry.type(description="Whether the account was unlocked.")
class UnlockAccountPayload(Payload):
    unlocked: bool = strawberry.field(default=False, description="True when the lock was ended.")


@strawberry.type(description="The result of signing out.")
class LogoutPayload(Payload):
    sessions_ended: int = strawberry.field(default=0, description="How many sessions were ended.")


@strawberry.input(description="A new API key for an integrator.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for.")
    scopes: list[ApiKeyScope] = strawberry.field(description="What the key may do; at least one.")


@strawberry.type(description="The new API key, with its secret shown this once.")
class CreateApiKeyPayload(Payload):
    api_key: ApiKey | None = strawberry.field(default=None, description="The key's record.")
    secret: str | None = strawberry.field(default=None, description="The key itself; it cannot be shown again.")


@strawberry.input(description="The API key to revoke.")
class RevokeApiKeyInput:
    api_key_id: GlobalID = strawberry.field(description="The key's id.")


@strawberry.type(description="The revoked API key.")
class RevokeApiKeyPayload(Payload):
    api_key: ApiKey | None = strawberry.field(default=None, description="The key, now revoked.")


def signed_in(info: Info, issued: identity.IssuedSession) -> dict[str, Any]:
    """The payload fields of a sign-in; the rest of the operation (the payload's own fields
    included) answers as the signed-in user."""
    info.context.sign_in(issued.user["id"], issued.token_id, issued.user, issued.two_factor_at)
    return {"user": User.from_row(issued.user), "token": issued.token, "expires_at": issued.expires_at}


def _signed_in_or_challenged(
    info: Info, outcome: identity.IssuedSession | identity.SecondFactorRequired
) -> dict[str, Any]:
    if isinstance(outcome, identity.SecondFactorRequired):
        return {
            "second_factor_required": True,
            "challenge": outcome.challenge,
            "challenge_expires_at": outcome.expires_at,
        }
    return signed_in(info, outcome)


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The signed-in user, or null for anonymous requests and API keys.")
    def viewer(self, info: Info) -> User | None:
        row = info.context.actor.user_row  # read with the credentials
        return User.from_row(row) if row else None

    @strawberry.field(description="The API key of the request, for integrators to check their key.")
    async def viewer_api_key(self, info: Info) -> ApiKey | None:
        actor = info.context.actor
        if actor.api_key_id is None:
            return None
        row = await identity.get_own_api_key(actor)
        return ApiKey.from_row(row) if row else None

    @strawberry.field(description="Integrators' API keys.", extensions=[Requires(PROGRAM_MANAGER)])
    async def api_keys(self, info: Info, first: First = None, after: After = None) -> Connection[ApiKey]:
        page = await identity.list_api_keys(info.context.actor, first=first, after=after)
        return connection(page, ApiKey.from_row)


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        description="Create a built-in account and sign it in, its address unverified until the link "
        "mailed to it is used (`verifyEmail`); where registrations are confirmed by mail, mail the "
        "address a link instead (the answer is the same whether or not the address has an account)."
    )
    async def register(self, info: Info, input: RegisterInput) -> RegisterPayload:
        ctx = info.context
        change = email_verification.register(
            ctx.actor,
            ctx.settings,
            email=input.email,
            password=input.password,
            name=input.name,
            session_client=session_client(ctx),
        )
        return await run_mutation(
            RegisterPayload, change, lambda issued: signed_in(info, issued) if issued else {"confirmation_mailed": True}
        )

    @strawberry.mutation(
        description="Create the account of a mailed registration link and sign it in (the link works once)."
    )
    async def confirm_registration(self, info: Info, input: ConfirmRegistrationInput) -> RegisterPayload:
        ctx = info.context
        change = identity.confirm_registration(
            ctx.actor, ctx.settings, token=input.token, session_client=session_client(ctx)
        )
        return await run_mutation(RegisterPayload, change, partial(signed_in, info))

    @strawberry.mutation(
        description="Sign in with email and password; returns a session token. One sign-in or "
        "registration per operation; rated per client address and for everyone."
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        ctx = info.context
        change = identity.login(
            ctx.actor,
            ctx.settings,
            email=input.email,
            password=input.password,
            client=ctx.client_address,
            session_client=session_client(ctx),
        )
        return await run_mutation(LoginPayload, change, partial(_signed_in_or_challenged, info))

    @strawberry.mutation(
        description="End the lock of a sign-in address with the link mailed to its owner when "
        "it was locked (the link works once)."
    )
    async def unlock_account(self, info: Info, input: UnlockAccountInput) -> UnlockAccountPayload:
        ctx = info.context
        change = identity.unlock_account(ctx.actor, ctx.settings, token=input.token, client=ctx.client_address)
        return await run_mutation(UnlockAccountPayload, change, lambda _: {"unlocked": True})

    @strawberry.mutation(description="End the session this request was made with.", extensions=[Requires(SIGNED_IN)])
    async def logout(self, info: Info) -> LogoutPayload:
        await identity.logout(info.context.actor)
        return LogoutPayload(sessions_ended=1, errors=[])

    @strawberry.mutation(description="End every session of the signed-in user.", extensions=[Requires(SIGNED_IN)])
    async def logout_everywhere(self, info: Info) -> LogoutPayload:
        ended = await identity.logout_everywhere(info.context.actor)
        return LogoutPayload(sessions_ended=ended, errors=[])

    @strawberry.mutation(description="Create an API key for an integrator.", extensions=[Requires(PROGRAM_MANAGER)])
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        change = identity.create_api_key(info.context.actor, input.name, input.scopes)
        return await run_mutation(
            CreateApiKeyPayload, change, lambda issued: {"api_key": ApiKey.from_row(issued.row), "secret": issued.key}
        )

    @strawberry.mutation(description="Revoke an API key at once.", extensions=[Requires(PROGRAM_MANAGER)])
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        change = identity.revoke_api_key(info.context.actor, decode_id(input.api_key_id, "ApiKey"))
        return await run_mutation(RevokeApiKeyPayload, change, api_key=ApiKey.from_row)

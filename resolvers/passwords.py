"""Passwords: a reset by mailed link for who forgot theirs, a change for who knows it.

- `request_password_reset` answers alike whether or not the address has an account, and does the
  same look-ups either way; it is counted per client (`CODE_LOOKUP_RATE`) and per address
  (`MAIL_PASSWORD_RESET_RATE`: past it nothing is mailed, the answer is the same). An account that
  exists, is not deleted and has a password is mailed a single-use link (`PASSWORD_RESET_TTL_MINUTES`);
  a newer request replaces the older links. Accounts without a password (single sign-on only) are
  mailed nothing: they sign in through the identity provider, whose rules a password would bypass.
- `reset_password` with the link's token sets the new password, ends every session of the user, ends
  the address's sign-in lock, counts as proof of the address (the link came by mail) and signs in,
  unless the account has two-factor sign-in: then the new password and a code sign in.
- `change_password` checks the current password like a sign-in attempt (a wrong one counts towards
  the lockout) and ends every other session of the user; the one it came with stays.

Both password-setting mutations also end the user's open reset links and pending sign-in challenges.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from partner_portal.integrations.portal_links import PortalPage, portal_link
from partner_portal.models.clock import now
from partner_portal.models.identity import PasswordResetToken, SessionToken, SignInChallenge, User
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import Unauthenticated
from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import audit
from partner_portal.resolvers.errors import Problem, UserErrorCode, UserInputError, fail
from partner_portal.resolvers.identity import (
    USER_FIELDS,
    IssuedSession,
    check_password_counted,
    clear_sign_in_failures,
    hash_password,
    issue_session,
    password_problems,
    password_too_long,
    token_digest,
)
from partner_portal.resolvers.mail import MailLimits, queue_mail
from partner_portal.resolvers.sessions import SessionClient
from partner_portal.resolvers.validation import normalize_email
from partner_portal.settings import Settings

RESET_PREFIX = "ppw_"
MAX_TOKEN_LENGTH = 100
# The look-up scope of `request_password_reset` in the per-client throttle.
RESET_LOOKUP = "password-reset"

ThrottleLookup = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PasswordReset:
    """A reset password: the new session, or None where the account has two-factor sign-in."""

    session: IssuedSession | None


@dataclass(frozen=True, slots=True)
class ChangedPassword:
    user: dict[str, Any]  # the `USER_FIELDS` row
    sessions_ended: int


def _new_password_problems(password: str, user: dict[str, Any]) -> list[Problem]:
    """`password_problems` of the new password, told at the `newPassword` field."""
    return [
        Problem("new_password", problem.code, problem.message)
        for problem in password_problems(password, [user["email"], user["name"]])
    ]


async def _end_password_proofs(user_id: int) -> None:
    """After a new password: open reset links and pending sign-in challenges (a second factor asked
    after the old password) stop working."""
    await PasswordResetToken.filter(user_id=user_id, used_at=None).delete()
    await SignInChallenge.filter(user_id=user_id, used_at=None).delete()


async def request_password_reset(
    actor: Actor, settings: Settings, *, email: str, throttle_lookup: ThrottleLookup, limits: MailLimits | None
) -> None:
    """Mail a reset link if the address has an account with a password; the same answer, and the same
    look-ups, whether or not it has (only the writes of a mailed link differ)."""
    normalized = normalize_email(email)
    await throttle_lookup(RESET_LOOKUP)
    may_mail = limits is None or await limits.allow_password_reset(normalized)
    async with in_transaction():
        user = await User.filter(email=normalized, deleted_at=None).first().values("id", "language", "password_hash")
        user_id = user["id"] if user is not None and user["password_hash"] is not None and may_mail else None
        # Earlier links stop working; where nothing is mailed, the same statement finds nothing.
        await PasswordResetToken.filter(user_id=user_id).delete()
        if user_id is None:
            return
        token = RESET_PREFIX + secrets.token_urlsafe(32)
        moment = now()
        expires_at = moment + settings.password_reset_ttl
        await PasswordResetToken.create(
            token_hash=token_digest(token), user_id=user_id, email=normalized, created_at=moment, expires_at=expires_at
        )
        await queue_mail(
            to=normalized,
            template="password_reset",
            language=user["language"],
            context={
                "email": normalized,
                "link": portal_link(settings.public_url, PortalPage.RESET_PASSWORD, token=token),
                "expires_at": expires_at,
            },
        )
        await audit.record(actor, "user.password_reset_request", "User", user_id)


async def reset_password(
    actor: Actor,
    settings: Settings,
    *,
    token: str,
    new_password: str,
    client: str | None,
    session_client: SessionClient | None = None,
) -> PasswordReset:
    """Set the password of a mailed reset link (it works once) and end every session of the user; a
    new session unless the account has two-factor sign-in. `client` is the client's address, whose
    sign-in failures for the account end with its lock."""
    unknown = fail("token", UserErrorCode.INVALID_TOKEN, "This password reset link is not valid; ask for a new one.")
    used = fail("token", UserErrorCode.TOKEN_USED, "This password reset link was used already; ask for a new one.")
    if not token.startswith(RESET_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise unknown
    if too_long := password_too_long(new_password):
        raise fail("new_password", too_long.code, too_long.message)
    link = (
        await PasswordResetToken.filter(token_hash=token_digest(token))
        .first()
        .values("id", "email", "expires_at", "used_at", "user_id", "user__email", "user__name", "user__deleted_at")
    )
    if link is None or link["user__deleted_at"] is not None or link["user__email"] != link["email"]:
        raise unknown  # a link to an address the account no longer has does not prove it
    if link["used_at"] is not None:
        raise used
    if link["expires_at"] <= now():
        raise fail("token", UserErrorCode.TOKEN_EXPIRED, "This password reset link has expired; ask for a new one.")
    user_id = link["user_id"]
    if problems := _new_password_problems(new_password, {"email": link["email"], "name": link["user__name"]}):
        raise UserInputError(*problems)
    password_hash = await hash_password(settings, new_password)
    moment = now()
    async with in_transaction():
        # The conditional update is the guard: of two concurrent uses, one changes the row.
        if not await PasswordResetToken.filter(id=link["id"], used_at=None).update(used_at=moment):
            raise used
        if not await User.filter(id=user_id, email=link["email"], deleted_at=None).update(password_hash=password_hash):
            raise unknown
        await User.filter(id=user_id, email_verified_at=None).update(email_verified_at=moment)
        ended = await SessionToken.filter(user_id=user_id, revoked_at=None).update(revoked_at=moment)
        await _end_password_proofs(user_id)
        await clear_sign_in_failures(settings, link["email"], client)
        await audit.record(actor, "user.password_reset", "User", user_id, changes={"sessions_ended": ended})
        user = await User.filter(id=user_id).first().values(*dict.fromkeys((*USER_FIELDS, "totp_enabled_at")))
        if user["totp_enabled_at"] is not None:
            return PasswordReset(session=None)
        return PasswordReset(session=await issue_session(settings, user, client=session_client))


async def change_password(
    actor: Actor, settings: Settings, *, current_password: str, new_password: str, client: str | None
) -> ChangedPassword:
    """Set a new password given the current one, for a session's user; ends the user's other
    sessions. A wrong current password counts as a failed sign-in of the address from `client`."""
    user_id = await SIGNED_IN.enforce(actor)
    if actor.session_token_id is None:
        raise Unauthenticated("Only a session token's user can change the password; sign in with it.")
    too_long = [
        Problem(field, problem.code, problem.message)
        for field, password in (("current_password", current_password), ("new_password", new_password))
        if (problem := password_too_long(password))
    ]
    if too_long:
        raise UserInputError(*too_long)
    user = await User.filter(id=user_id).first().values(*USER_FIELDS, "password_hash")
    old_hash = user.pop("password_hash")
    if not await check_password_counted(settings, user["email"], old_hash, current_password, client):
        raise fail("current_password", UserErrorCode.INVALID_CREDENTIALS, "The current password is wrong.")
    if problems := _new_password_problems(new_password, user):
        raise UserInputError(*problems)
    password_hash = await hash_password(settings, new_password)
    moment = now()
    async with in_transaction():
        # Compared with the hash checked: of two concurrent changes, the second finds it changed.
        if not await User.filter(id=user_id, password_hash=old_hash).update(password_hash=password_hash):
            raise fail("current_password", UserErrorCode.INVALID_CREDENTIALS, "The current password is wrong.")
        ended = (
            await SessionToken.filter(user_id=user_id, revoked_at=None)
            .exclude(id=actor.session_token_id)
            .update(revoked_at=moment)
        )
        await _end_password_proofs(user_id)
        await audit.record(actor, "user.password_change", "User", user_id, changes={"sessions_ended": ended})
    return ChangedPassword(user=user, sessions_ended=ended)

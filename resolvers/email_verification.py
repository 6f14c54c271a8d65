"""Verified email addresses: the link mailed after registering or to a new address, and the change of
address it completes.

- `register` is `identity.register`; an account made at once (no `CONFIRM_REGISTRATIONS`) starts
  unverified and its address is mailed a link. A confirmed registration, an accepted invitation, the
  identity provider, a password reset and the demo verify an address on their own way.
- `verify_email` with the link's token (signed in or not) sets the account's address to the one the link
  was mailed to and marks it verified; the link works once, for `VERIFICATION_LINK_TTL`.
- `resend_verification_email` mails a new link: to the account's address while unverified, else to the
  address a pending change waits for.
- `change_email` checks the password (counted like a sign-in), and mails a link to the new address; the
  address changes only when that link is used, and the old address is then told.

A new link replaces the account's older ones. What an unverified account may not do is
`permissions/verified_email.py`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from partner_portal.integrations.portal_links import PortalPage, portal_link
from partner_portal.models.clock import now
from partner_portal.models.identity import EmailVerificationToken, User
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import Unauthenticated
from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import audit, identity
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.identity import USER_FIELDS, IssuedSession, token_digest
from partner_portal.resolvers.mail import MailLimits, queue_mail
from partner_portal.resolvers.sessions import SessionClient
from partner_portal.resolvers.validation import normalize_email
from partner_portal.settings import Settings

VERIFICATION_PREFIX = "ppv_"
VERIFICATION_LINK_TTL = timedelta(hours=48)
MAX_TOKEN_LENGTH = 100


async def register(
    actor: Actor,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str,
    session_client: SessionClient | None = None,
) -> IssuedSession | None:
    """`identity.register`; an account signed in at once is mailed a link to verify its address."""
    issued = await identity.register(
        actor, settings, email=email, password=password, name=name, session_client=session_client
    )
    if issued is not None:
        async with in_transaction():
            await _mail_link(settings, issued.user["id"], issued.user["email"], None, address_change=False)
    return issued


async def _mail_link(
    settings: Settings, user_id: int, email: str, language: str | None, *, address_change: bool
) -> None:
    """A new single-use link proving `email` for the user, in place of its older ones; call inside a transaction."""
    token = VERIFICATION_PREFIX + secrets.token_urlsafe(32)
    moment = now()
    expires_at = moment + VERIFICATION_LINK_TTL
    await EmailVerificationToken.filter(user_id=user_id, used_at=None).delete()
    await EmailVerificationToken.create(
        token_hash=token_digest(token), user_id=user_id, email=email, created_at=moment, expires_at=expires_at
    )
    await queue_mail(
        to=email,
        template="email_verification",
        language=language,
        context={
            "email": email,
            "link": portal_link(settings.public_url, PortalPage.VERIFY_EMAIL, token=token),
            "expires_at": expires_at,
            "address_change": address_change,
        },
    )


async def mark_verified(user_id: int, email: str) -> None:
    """The user's address is proved by another way (a link mailed to it was used): verified, if it still is `email`."""
    await User.filter(id=user_id, email=email, email_verified_at=None).update(email_verified_at=now())


async def verify_email(actor: Actor, settings: Settings, *, token: str) -> dict[str, Any]:
    """Give the account of the link the address it was mailed to, verified; the `USER_FIELDS` row."""
    unknown = fail("token", UserErrorCode.INVALID_TOKEN, "This verification link is not valid; ask for a new one.")
    used = fail("token", UserErrorCode.TOKEN_USED, "This verification link was used already.")
    if not token.startswith(VERIFICATION_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise unknown
    link = (
        await EmailVerificationToken.filter(token_hash=token_digest(token))
        .first()
        .values("id", "user_id", "email", "expires_at", "used_at", "user__email", "user__language", "user__deleted_at")
    )
    if link is None or link["user__deleted_at"] is not None:
        raise unknown
    if link["used_at"] is not None:
        raise used
    if link["expires_at"] <= now():
        raise fail("token", UserErrorCode.TOKEN_EXPIRED, "This verification link has expired; ask for a new one.")
    user_id, old_email, new_email = link["user_id"], link["user__email"], link["email"]
    taken = fail("token", UserErrorCode.EMAIL_TAKEN, "Another account uses this address now: choose another one.")
    moment = now()
    try:
        async with in_transaction():
            # The conditional update is the guard: of two concurrent uses, one changes the row.
            if not await EmailVerificationToken.filter(id=link["id"], used_at=None).update(used_at=moment):
                raise used
            if new_email != old_email and await User.filter(email=new_email).exclude(id=user_id).exists():
                raise taken
            await User.filter(id=user_id).update(email=new_email, email_verified_at=moment)
            await EmailVerificationToken.filter(user_id=user_id, used_at=None).delete()
            if new_email == old_email:
                await audit.record(actor, "user.verify_email", "User", user_id)
            else:
                await audit.record(
                    actor, "user.change_email", "User", user_id, changes={"email": {"from": old_email, "to": new_email}}
                )
                await queue_mail(
                    to=old_email,
                    template="email_changed",
                    language=link["user__language"],
                    context={
                        "old_email": old_email,
                        "new_email": new_email,
                        "changed_at": moment,
                        "link": portal_link(settings.public_url, PortalPage.SIGN_IN),
                    },
                )
    except IntegrityError as error:  # the address was taken meanwhile
        raise taken from error
    user = await User.filter(id=user_id).first().values(*USER_FIELDS)
    if actor.user_id == user_id:  # the rest of the operation sees the verified account
        actor.user_row = user
        actor.forget_memberships()
    return user


async def resend_verification_email(actor: Actor, settings: Settings, limits: MailLimits | None) -> str:
    """A new link for the signed-in user: to its address while unverified, else to the address a pending
    change waits for (ALREADY_VERIFIED when there is none). Returns the address mailed."""
    user_id = await SIGNED_IN.enforce(actor)
    user = await User.filter(id=user_id).first().values("email", "email_verified_at", "language")
    address, address_change = user["email"], False
    if user["email_verified_at"] is not None:
        pending = (
            await EmailVerificationToken.filter(user_id=user_id, used_at=None, expires_at__gt=now())
            .exclude(email=user["email"])
            .order_by("-id")
            .first()
            .values_list("email", flat=True)
        )
        if pending is None:
            raise fail(None, UserErrorCode.ALREADY_VERIFIED, "Your email address is verified already.")
        address, address_change = pending, True
    if limits is not None:
        await limits.take_verification(user_id, address)
    async with in_transaction():
        await _mail_link(settings, user_id, address, user["language"], address_change=address_change)
        await audit.record(actor, "user.resend_email_verification", "User", user_id)
    return address


async def change_email(
    actor: Actor, settings: Settings, limits: MailLimits | None, *, new_email: str, password: str, client: str | None
) -> str:
    """Mail a link to `new_email` that makes it the signed-in user's address; the password is checked
    like a sign-in from `client`. Returns the normalized new address."""
    user_id = await SIGNED_IN.enforce(actor)
    if actor.session_token_id is None:
        raise Unauthenticated("Only a session token's user can change the address; sign in with it.")
    if too_long := identity.password_too_long(password):
        raise fail("password", too_long.code, too_long.message)
    normalized = normalize_email(new_email, "new_email")
    user = await User.filter(id=user_id).first().values("email", "password_hash", "language")
    if user["password_hash"] is None:
        raise fail(
            "password",
            UserErrorCode.INVALID_CREDENTIALS,
            "Your account signs in through your identity provider and has no password: change the address there.",
        )
    if not await identity.check_password_counted(settings, user["email"], user["password_hash"], password, client):
        raise fail("password", UserErrorCode.INVALID_CREDENTIALS, "The password is wrong.")
    if normalized == user["email"]:
        raise fail("new_email", UserErrorCode.INVALID_VALUE, "This is your address already.")
    if await User.filter(email=normalized).exists():
        raise fail("new_email", UserErrorCode.EMAIL_TAKEN, "An account with this email address exists already.")
    if limits is not None:
        await limits.take_verification(user_id, normalized)
    async with in_transaction():
        await _mail_link(settings, user_id, normalized, user["language"], address_change=True)
        await audit.record(actor, "user.request_email_change", "User", user_id, changes={"email": normalized})
    return normalized

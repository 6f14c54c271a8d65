"""Two-factor sign-in: TOTP codes (RFC 6238, pyotp) of an authenticator app, and recovery codes.

Setting up: `begin_setup` (with the password) stores a new secret and shows it once; `confirm_setup`
(with a first code) turns it on, marks the session as proved and shows ten recovery codes once.
Signing in: `identity.login` answers an account with two-factor sign-in with a challenge, which
`complete_sign_in` and a code turn into a session. Losing it: a recovery code instead of a code;
all lost: an operator's `reset`.

The secret is stored encrypted (Fernet, its key derived from SECRET_KEY by HKDF for this purpose
only); recovery codes and challenges as SHA-256. A code of a time step used before is refused
(`User.totp_last_step`), and every code checked counts with the address's sign-in lockout.
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from partner_portal.integrations.portal_links import PortalPage, portal_link
from partner_portal.models.clock import now
from partner_portal.models.identity import RecoveryCode, SessionToken, SignInChallenge, User
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Via
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import PROGRAM_MANAGER, SIGNED_IN
from partner_portal.resolvers import audit, identity
from partner_portal.resolvers.errors import UserErrorCode, UserInputError, fail
from partner_portal.resolvers.mail import queue_mail
from partner_portal.resolvers.sessions import SessionClient
from partner_portal.settings import Settings

log = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
MAX_CHALLENGE_FAILURES = 5  # wrong codes on one challenge; then it is spent and the password is asked again
MAX_CODE_LENGTH = 64  # longer input is no code of ours: refused before any work
TOTP_DRIFT_STEPS = 1  # besides the current 30-second step, the one before and after (clock drift)
_KEY_PURPOSE = b"partner-portal: two-factor secrets"  # HKDF's info: this key serves nothing else
_USER_FIELDS = ("id", "email", "language", "password_hash", "totp_secret", "totp_enabled_at")


@dataclass(frozen=True, slots=True)
class Setup:
    """A new secret, to be shown once: as text and as the URI an authenticator app's QR code holds."""

    secret: str
    provisioning_uri: str


# --- the secret, the codes ----------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings.secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, stored: str) -> str | None:
    """The secret, or None when SECRET_KEY changed since it was stored (then no code matches)."""
    try:
        return _fernet(settings.secret_key).decrypt(stored.encode()).decode()
    except InvalidToken:
        log.error("A two-factor secret cannot be decrypted: SECRET_KEY changed? An operator can reset it.")
        return None


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (of 30 seconds) whose code `code` is, within the drift allowed; else None."""
    digits = code.replace(" ", "")
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now())
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def _recovery_digest(code: str) -> str:
    """Recovery codes are compared without case, spaces or hyphens (`a1b2c-3d4e5` = `A1B2C3D4E5`)."""
    return identity.token_digest("".join(code.split()).replace("-", "").lower())


def _new_recovery_codes() -> list[str]:
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODE_COUNT)]
    return [f"{code[:5]}-{code[5:]}" for code in codes]


async def _use_totp(settings: Settings, user: dict[str, Any], code: str) -> bool:
    """Whether `code` is the user's current code, of a later step than any used before; the step is
    then used (a conditional update: of two requests with one code, one wins)."""
    secret = decrypt_secret(settings, user["totp_secret"]) if user["totp_secret"] else None
    step = _matching_step(secret, code) if secret else None
    if step is None:
        return False
    unused = Q(totp_last_step=None) | Q(totp_last_step__lt=step)
    return bool(await User.filter(unused, id=user["id"]).update(totp_last_step=step))


async def _use_recovery_code(user_id: int, code: str) -> bool:
    """Whether `code` is one of the user's unused recovery codes; it is then used."""
    digest = _recovery_digest(code)
    return bool(await RecoveryCode.filter(user_id=user_id, code_hash=digest, used_at=None).update(used_at=now()))


async def _prove(
    settings: Settings, user: dict[str, Any], client: str | None, *, code: str | None, recovery_code: str | None
) -> str:
    """The factor `code` (TOTP) or `recovery_code` proves ("totp", "recovery_code"), or INVALID_CODE.
    Each check counts as an attempt of the address's sign-in lockout (`identity.login`)."""
    await identity.reserve_sign_in_attempt(settings, user["email"], client)
    factor = None
    if code is not None and len(code) <= MAX_CODE_LENGTH and await _use_totp(settings, user, code):
        factor = "totp"
    elif (
        recovery_code is not None
        and len(recovery_code) <= MAX_CODE_LENGTH
        and await _use_recovery_code(user["id"], recovery_code)
    ):
        factor = "recovery_code"
    await identity.end_sign_in_attempt(settings, user["email"], client, succeeded=factor is not None)
    if factor is None:
        raise fail(
            "recovery_code" if code is None else "code",
            UserErrorCode.INVALID_CODE,
            "The code is wrong or was used already; enter the current code of your authenticator app."
            if recovery_code is None
            else "The code is wrong or was used already.",
        )
    return factor


async def _check_password(settings: Settings, user: dict[str, Any], password: str, client: str | None) -> None:
    """The signed-in user's password again, counted like a sign-in; INVALID_CREDENTIALS when wrong."""
    if user["password_hash"] is None:
        raise fail(
            "password",
            UserErrorCode.INVALID_CREDENTIALS,
            "This account signs in through the identity provider and has no password here; the identity "
            "provider asks for its second factor.",
        )
    if too_long := identity.password_too_long(password):
        raise UserInputError(too_long)
    if not await identity.check_password_counted(settings, user["email"], user["password_hash"], password, client):
        raise fail("password", UserErrorCode.INVALID_CREDENTIALS, "The password is wrong.")


async def _own_account(actor: Actor) -> dict[str, Any]:
    user_id = await SIGNED_IN.enforce(actor)
    return await User.filter(id=user_id).first().values(*_USER_FIELDS)


def _require_enabled(user: dict[str, Any]) -> None:
    if user["totp_enabled_at"] is None:
        raise fail(None, UserErrorCode.TWO_FACTOR_NOT_ENABLED, "Two-factor sign-in is not on for this account.")


async def _replace_recovery_codes(user_id: int, moment: datetime) -> list[str]:
    """Inside the change's transaction: new codes, the old ones gone; the codes in clear, to show once."""
    codes = _new_recovery_codes()
    await RecoveryCode.filter(user_id=user_id).delete()
    await RecoveryCode.bulk_create(
        [RecoveryCode(user_id=user_id, code_hash=_recovery_digest(code), created_at=moment) for code in codes]
    )
    return codes


async def _turn_off(user_id: int) -> None:
    """Inside the change's transaction: no secret, no recovery codes, no open challenge, and no session
    of the user counts as proved any more."""
    await User.filter(id=user_id).update(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
    await RecoveryCode.filter(user_id=user_id).delete()
    await SignInChallenge.filter(user_id=user_id).delete()
    await SessionToken.filter(user_id=user_id).update(two_factor_at=None)


async def _refresh_viewer(actor: Actor, two_factor_at: datetime | None) -> dict[str, Any]:
    """After a change of the viewer's own two-factor state: the rest of the operation answers with it."""
    row = await User.filter(id=actor.user_id).first().values(*identity.USER_FIELDS)
    if actor.via is Via.SESSION:
        actor.two_factor_at = two_factor_at
    actor.user_row = row
    actor.forget_memberships()  # and the answers kept for the request
    return row


# --- setting up, changing, turning off ------------------------------------------------------------------


async def begin_setup(actor: Actor, settings: Settings, *, password: str, client: str | None) -> Setup:
    """A new secret for the signed-in user (replacing a set-up begun before), shown this once; two-factor
    sign-in is on once `confirm_setup` saw a first code of it."""
    user = await _own_account(actor)
    if user["totp_enabled_at"] is not None:
        raise fail(
            None,
            UserErrorCode.TWO_FACTOR_ENABLED,
            "Two-factor sign-in is on already: turn it off first to set up another authenticator app.",
        )
    await _check_password(settings, user, password, client)
    secret = pyotp.random_base32()
    async with in_transaction():
        await User.filter(id=user["id"], totp_enabled_at=None).update(
            totp_secret=encrypt_secret(settings, secret), totp_last_step=None
        )
        await audit.record(actor, "user.two_factor_setup_begin", "User", user["id"])
    uri = pyotp.TOTP(secret).provisioning_uri(name=user["email"], issuer_name=settings.two_factor_issuer)
    return Setup(secret, uri)


async def confirm_setup(
    actor: Actor, settings: Settings, *, code: str, client: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Turn two-factor sign-in on with a first code of the new secret; this session counts as proved.
    Answers the user's row and the recovery codes, shown this once; the user is mailed a notice."""
    user = await _own_account(actor)
    if user["totp_enabled_at"] is not None:
        raise fail(None, UserErrorCode.TWO_FACTOR_ENABLED, "Two-factor sign-in is on already.")
    if user["totp_secret"] is None:
        raise fail(None, UserErrorCode.TWO_FACTOR_NOT_ENABLED, "Begin the set-up first (beginTwoFactorSetup).")
    await _prove(settings, user, client, code=code, recovery_code=None)
    moment = now()
    async with in_transaction():
        if not await User.filter(id=user["id"], totp_enabled_at=None).update(totp_enabled_at=moment):
            raise fail(None, UserErrorCode.TWO_FACTOR_ENABLED, "Two-factor sign-in is on already.")
        codes = await _replace_recovery_codes(user["id"], moment)
        if actor.session_token_id is not None:
            await SessionToken.filter(id=actor.session_token_id).update(two_factor_at=moment)
        await audit.record(actor, "user.two_factor_enable", "User", user["id"])
        await _mail_change(settings, user, enabled=True, moment=moment)
    return await _refresh_viewer(actor, moment), codes


async def regenerate_recovery_codes(actor: Actor, settings: Settings, *, code: str, client: str | None) -> list[str]:
    """New recovery codes for a current code of the authenticator app; the old ones stop working."""
    user = await _own_account(actor)
    _require_enabled(user)
    await _prove(settings, user, client, code=code, recovery_code=None)
    async with in_transaction():
        codes = await _replace_recovery_codes(user["id"], now())
        await audit.record(actor, "user.recovery_codes_regenerate", "User", user["id"])
    return codes


async def disable(actor: Actor, settings: Settings, *, password: str, code: str, client: str | None) -> dict[str, Any]:
    """Turn two-factor sign-in off with the password and a code (of the app, or a recovery code); no
    session of the user counts as proved any more. The user is mailed a notice."""
    user = await _own_account(actor)
    _require_enabled(user)
    await _check_password(settings, user, password, client)
    await _prove(settings, user, client, code=code, recovery_code=code)
    moment = now()
    async with in_transaction():
        await _turn_off(user["id"])
        await audit.record(actor, "user.two_factor_disable", "User", user["id"])
        await _mail_change(settings, user, enabled=False, moment=moment)
    return await _refresh_viewer(actor, None)


async def reset(actor: Actor, settings: Settings, user_id: int) -> dict[str, Any]:
    """An operator turns off the two-factor sign-in of a user who lost every factor (audited; the user is
    mailed a notice). Their own account they turn off with `disable`."""
    await PROGRAM_MANAGER.enforce(actor)
    if user_id == actor.user_id:
        raise fail(
            "user_id", UserErrorCode.INVALID_VALUE, "Turn off your own two-factor sign-in with disableTwoFactor."
        )
    user = await (await scoping.visible_users(actor)).filter(id=user_id).first().values(*_USER_FIELDS)
    if user is None:
        raise NotFound()
    if user["totp_enabled_at"] is None and user["totp_secret"] is None:
        raise fail("user_id", UserErrorCode.TWO_FACTOR_NOT_ENABLED, "This user has no two-factor sign-in to reset.")
    moment = now()
    async with in_transaction():
        await _turn_off(user_id)
        was_enabled = user["totp_enabled_at"] is not None
        await audit.record(actor, "user.two_factor_reset", "User", user_id, changes={"was_enabled": was_enabled})
        await queue_mail(
            to=user["email"],
            template="two_factor_reset",
            language=user["language"],
            context={
                "email": user["email"],
                "reset_at": moment,
                "link": portal_link(settings.public_url, PortalPage.SIGN_IN),
            },
        )
    return await User.filter(id=user_id).first().values(*identity.USER_FIELDS)


async def _mail_change(settings: Settings, user: dict[str, Any], *, enabled: bool, moment: datetime) -> None:
    await queue_mail(
        to=user["email"],
        template="two_factor_changed",
        language=user["language"],
        context={
            "email": user["email"],
            "enabled": enabled,
            "changed_at": moment,
            "link": portal_link(settings.public_url, PortalPage.SIGN_IN),
        },
    )


# --- signing in ----------------------------------------------------------------------------------------------


async def complete_sign_in(
    actor: Actor,
    settings: Settings,
    *,
    challenge: str,
    code: str | None,
    recovery_code: str | None,
    client: str | None,
    session_client: SessionClient | None = None,
) -> identity.IssuedSession:
    """The session of a `login` challenge and a code of the authenticator app or a recovery code (one of
    the two). The challenge works once, for SIGN_IN_CHALLENGE_TTL, and dies after
    MAX_CHALLENGE_FAILURES wrong codes; each wrong code also counts with the address's lockout."""
    if (code is None) == (recovery_code is None):
        raise fail(None, UserErrorCode.REQUIRED, "Give either the code of your authenticator app or a recovery code.")
    invalid = fail(
        "challenge",
        UserErrorCode.INVALID_TOKEN,
        "This sign-in has expired, was completed or had too many wrong codes: sign in with your password again.",
    )
    if not challenge.startswith(identity.CHALLENGE_PREFIX) or len(challenge) > 100:
        raise invalid
    open_challenge = SignInChallenge.filter(
        token_hash=identity.token_digest(challenge),
        used_at=None,
        expires_at__gt=now(),
        failures__lt=MAX_CHALLENGE_FAILURES,
    )
    row = await open_challenge.first().values("id", "user_id")
    # Each try is counted before the code is looked at (a conditional update): concurrent guesses
    # cannot pass the limit.
    if row is None or not await open_challenge.filter(id=row["id"]).update(failures=F("failures") + 1):
        raise invalid
    user = await User.filter(id=row["user_id"]).first().values(*_USER_FIELDS)
    factor = await _prove(settings, user, client, code=code, recovery_code=recovery_code)
    moment = now()
    async with in_transaction():
        # The conditional update is the guard: of two concurrent completions, one changes the row.
        if not await SignInChallenge.filter(id=row["id"], used_at=None).update(used_at=moment):
            raise invalid
        session_user = await User.filter(id=user["id"]).first().values(*identity.USER_FIELDS)
        issued = await identity.issue_session(settings, session_user, client=session_client)
        await SessionToken.filter(id=issued.token_id).update(two_factor_at=moment)
        signed_in = Actor(via=Via.SESSION, user_id=user["id"])
        await audit.record(signed_in, "user.login", "User", user["id"], changes={"second_factor": factor})
    return dataclasses.replace(issued, two_factor_at=moment)


async def recovery_codes_left(actor: Actor, user_id: int, enabled: bool) -> int | None:
    """How many unused recovery codes the viewer has; None for others' accounts and without two-factor sign-in."""
    if actor.user_id != user_id or not enabled:
        return None
    return await RecoveryCode.filter(user_id=user_id, used_at=None).count()

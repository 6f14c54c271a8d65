"""Identity: accounts, passwords, sessions, single sign-on, API keys and operators."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction
from zxcvbn import zxcvbn

from partner_portal.integrations.oidc import InvalidToken, OidcVerifier
from partner_portal.integrations.portal_links import PortalPage, portal_link
from partner_portal.models.clock import now
from partner_portal.models.compiled import CompiledValues
from partner_portal.models.identity import (
    ApiKey,
    ClientLoginThrottle,
    LoginThrottle,
    Operator,
    PendingRegistration,
    SessionToken,
    SignInChallenge,
    UnlockToken,
    User,
)
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import ApiKeyScope, OperatorPermission, Via
from partner_portal.permissions.errors import NotFound, Unauthenticated
from partner_portal.permissions.requirements import PROGRAM_MANAGER, SIGNED_IN
from partner_portal.resolvers import audit
from partner_portal.resolvers.errors import Problem, UserErrorCode, UserInputError, fail
from partner_portal.resolvers.mail import queue_mail
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.sessions import SessionClient
from partner_portal.resolvers.validation import MAX_NAME_LENGTH, Checks, clean_name, normalize_email
from partner_portal.settings import Settings

T = TypeVar("T")

SESSION_PREFIX = "pps_"
API_KEY_PREFIX = "ppk_"
UNLOCK_PREFIX = "ppu_"
REGISTRATION_PREFIX = "ppr_"
REGISTRATION_LINK_TTL = timedelta(hours=24)
CHALLENGE_PREFIX = "ppc_"
SIGN_IN_CHALLENGE_TTL = timedelta(minutes=5)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
# zxcvbn judges at most this many characters (it refuses longer passwords: its matching grows fast).
STRENGTH_CHECKED_LENGTH = 72
# Timestamps of use are written at most this often, not on every request.
LAST_USED_GRANULARITY = timedelta(minutes=1)

USER_FIELDS = ("id", "email", "name", "created_at", "email_verified_at", "totp_enabled_at")
SESSION_AUTH_FIELDS = (
    "id",
    "user_id",
    "last_used_at",
    "two_factor_at",
    *(f"user__{field}" for field in USER_FIELDS if field != "id"),
    "user__memberships__id",
    "user__memberships__organization_id",
    "user__memberships__role",
    "user__memberships__permissions",
    "user__operator__id",
    "user__operator__permissions",
)
API_KEY_FIELDS = ("id", "name", "prefix", "scopes", "created_at", "revoked_at", "last_used_at")


# --- passwords and input -------------------------------------------------------------


@lru_cache(maxsize=4)
def password_hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    """argon2id (argon2-cffi's default type) with the deployment's cost."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _hasher(settings: Settings) -> PasswordHasher:
    return password_hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


@lru_cache(maxsize=4)
def _hashing_pool(workers: int) -> ThreadPoolExecutor:
    """The threads argon2 runs in: never on the event loop, and at most `PASSWORD_HASH_WORKERS`
    at once per process; more wait their turn (the sign-in rates bound how many)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")


async def _in_hashing_pool(settings: Settings, work: Callable[..., T], *args: object) -> T:
    pool = _hashing_pool(settings.password_hash_workers)
    return await asyncio.get_running_loop().run_in_executor(pool, work, *args)


async def hash_password(settings: Settings, password: str) -> str:
    return await _in_hashing_pool(settings, _hasher(settings).hash, password)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return password_hasher(time_cost, memory_kib).hash(secrets.token_hex(16))


def _matches(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(settings: Settings, stored_hash: str | None, password: str) -> bool:
    """Whether the password matches; without a stored hash (unknown address, single sign-on
    account) a dummy hash is checked, so that the answer takes as long."""
    if stored_hash is None:
        dummy = await _in_hashing_pool(settings, _dummy_hash, settings.argon2_time_cost, settings.argon2_memory_kib)
        await _in_hashing_pool(settings, _matches, _hasher(settings), dummy, password)
        return False
    return await _in_hashing_pool(settings, _matches, _hasher(settings), stored_hash, password)


def password_too_long(password: str) -> Problem | None:
    if len(password) > MAX_PASSWORD_LENGTH:
        return Problem("password", UserErrorCode.TOO_LONG, f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    return None


def password_problems(password: str, user_inputs: Iterable[str]) -> list[Problem]:
    """Too short, too long, or easy to guess (judged by zxcvbn on the first 72 characters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [
            Problem(
                "password",
                UserErrorCode.PASSWORD_TOO_SHORT,
                f"Use at least {MIN_PASSWORD_LENGTH} characters.",
            )
        ]
    if too_long := password_too_long(password):
        return [too_long]
    strength = zxcvbn(password[:STRENGTH_CHECKED_LENGTH], user_inputs=[i for i in user_inputs if i])
    if strength["score"] < 2:
        hint = strength["feedback"]["warning"] or "It is too easy to guess."
        return [Problem("password", UserErrorCode.PASSWORD_TOO_COMMON, f"Choose a less common password. {hint}")]
    return []


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- registration, sign-in, sessions ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    expires_at: datetime
    user: dict[str, Any]  # the `USER_FIELDS` row
    token_id: int
    two_factor_at: datetime | None = None  # when the session proved a second factor


async def issue_session(
    settings: Settings, user: dict[str, Any], *, client: SessionClient | None = None
) -> IssuedSession:
    """A new session token for `user` (its `USER_FIELDS` row), on the device `client` (the
    request's: `sessions.session_client(context)`; None outside a request)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    issued_at = now()
    expires_at = issued_at + settings.session_ttl
    row = await SessionToken.create(
        token_hash=token_digest(token),
        user_id=user["id"],
        created_at=issued_at,
        expires_at=expires_at,
        user_agent=client.user_agent if client else None,
        client_address=client.address if client else None,
    )
    return IssuedSession(token, expires_at, user, row.id)


def _registration_input(email: str, password: str, name: str) -> tuple[str, str]:
    """The normalized address and the clean name, or every problem of the input at once."""
    checks = Checks()
    checks.run("email", normalize_email, email)
    checks.run("name", clean_name, name)
    checks.add(*password_problems(password, [email, name]))
    values = checks.result()
    return values["email"], values["name"]


async def register(
    actor: Actor,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str,
    session_client: SessionClient | None = None,
) -> IssuedSession | None:
    """A built-in account, signed in at once. With `CONFIRM_REGISTRATIONS` (production) a link is
    mailed instead and None returned, alike whether or not the address has an account: the password
    is hashed either way, and an owner gets a notice in place of a link."""
    normalized, clean = _registration_input(email, password, name)
    password_hash = await hash_password(settings, password)
    if settings.registrations_by_mail:
        await _mail_registration_link(settings, normalized, clean, password_hash)
        return None
    return await _create_account(settings, normalized, clean, password_hash, session_client)


async def create_account(settings: Settings, *, email: str, password: str, name: str) -> IssuedSession:
    """An account signed in at once, without a mailed link, its address taken as verified: for the demo."""
    normalized, clean = _registration_input(email, password, name)
    return await _create_account(settings, normalized, clean, await hash_password(settings, password), verified=True)


async def _create_account(
    settings: Settings,
    email: str,
    name: str,
    password_hash: str,
    session_client: SessionClient | None = None,
    *,
    verified: bool = False,
) -> IssuedSession:
    """The account, signed in; `verified` when the address was proved on the way (a mailed link)."""
    email_taken = fail("email", UserErrorCode.EMAIL_TAKEN, "An account with this email address exists already.")
    if await User.filter(email=email).exists():
        raise email_taken
    try:
        async with in_transaction():
            user = await User.create(
                email=email, name=name, password_hash=password_hash, email_verified_at=now() if verified else None
            )
            user_row = {field: getattr(user, field) for field in USER_FIELDS}
            issued = await issue_session(settings, user_row, client=session_client)
            signed_in = Actor(via=Via.SESSION, user_id=user.id)
            await audit.record(signed_in, "user.register", "User", user.id, changes={"email": email})
    except IntegrityError as error:  # a concurrent registration won the race
        raise email_taken from error
    return issued


async def _mail_registration_link(settings: Settings, email: str, name: str, password_hash: str) -> None:
    """The link that creates the account, or to an existing account's owner a notice instead."""
    moment = now()
    async with in_transaction():
        owner_language = await User.filter(email=email).first().values_list("language", flat=True)
        if owner_language is not None:
            await queue_mail(
                to=email,
                template="registration_exists",
                language=owner_language,
                context={
                    "email": email,
                    "link": portal_link(settings.public_url, PortalPage.SIGN_IN),
                },
            )
            return
        token = REGISTRATION_PREFIX + secrets.token_urlsafe(32)
        expires_at = moment + REGISTRATION_LINK_TTL
        await PendingRegistration.create(
            token_hash=token_digest(token),
            email=email,
            name=name,
            password_hash=password_hash,
            created_at=moment,
            expires_at=expires_at,
        )
        await queue_mail(
            to=email,
            template="registration_confirm",
            language=None,
            context={
                "email": email,
                "link": portal_link(settings.public_url, PortalPage.CONFIRM_REGISTRATION, token=token),
                "expires_at": expires_at,
            },
        )


async def confirm_registration(
    actor: Actor, settings: Settings, *, token: str, session_client: SessionClient | None = None
) -> IssuedSession:
    """The account of a mailed registration link, signed in; the link works once."""
    invalid = fail(
        "token", UserErrorCode.INVALID_TOKEN, "This registration link is not valid, was used or has expired."
    )
    if not token.startswith(REGISTRATION_PREFIX) or len(token) > 100:
        raise invalid
    async with in_transaction():
        pending = (
            await PendingRegistration.filter(token_hash=token_digest(token), expires_at__gt=now())
            .first()
            .values("id", "email", "name", "password_hash")
        )
        # The delete is the guard: of two concurrent uses, one removes the row.
        if pending is None or not await PendingRegistration.filter(id=pending["id"]).delete():
            raise invalid
        await PendingRegistration.filter(email=pending["email"]).delete()  # other links for the address
        return await _create_account(
            settings, pending["email"], pending["name"], pending["password_hash"], session_client, verified=True
        )


# --- sign-in lockout ---------------------------------------------------------------------------
#
# Failures count twice: per address and client address (`LOGIN_MAX_FAILURES`, then locked for
# `LOGIN_LOCK_MINUTES`), so a guesser locks out its own connection and not the owner; and per
# address from all clients (`LOGIN_ACCOUNT_MAX_FAILURES`, then `LOGIN_ACCOUNT_LOCK_MINUTES`), the
# slower backoff that bounds guessing from many addresses. That lock mails the owner a single-use
# unlock link (`unlock_account`); it lasts its minutes, so at most one link a lock.
#
# Each attempt is counted as a failure before the password is checked (a conditional UPDATE, so
# concurrent guesses cannot pass the limit) and a success starts the counts afresh.


@dataclass(frozen=True, slots=True)
class _Counter:
    """One count of failed sign-ins: its row's model and key, how many it allows, the lock after."""

    model: type[ClientLoginThrottle] | type[LoginThrottle]
    key: dict[str, str]
    limit: int
    lock: timedelta
    refusal: str


def _counters(settings: Settings, email: str, client: str | None) -> tuple[_Counter, _Counter]:
    per_client = _Counter(
        ClientLoginThrottle,
        {"email": email, "client": (client or "unknown")[:64]},
        settings.login_max_failures,
        settings.login_lock,
        "Too many failed sign-ins for this address from your connection; try again in {} minute(s).",
    )
    account = _Counter(
        LoginThrottle,
        {"email": email},
        settings.login_account_max_failures,
        settings.login_account_lock,
        "Too many failed sign-ins for this address; try again in {} minute(s). If the account is yours, "
        "the link mailed to you unlocks it at once.",
    )
    return per_client, account


async def _reserve(counter: _Counter, moment: datetime) -> bool:
    """Count this attempt as a failure before the password is looked at; False when locked or
    when attempts in flight have taken what is left."""
    unlocked = Q(locked_until=None) | Q(locked_until__lte=moment)
    for _ in range(3):  # a sign-in that succeeds meanwhile deletes the row (`_clear`): make it again
        await counter.model.get_or_create(**counter.key)
        if await counter.model.filter(unlocked, failures__lt=counter.limit, **counter.key).update(
            failures=F("failures") + 1, last_failure_at=moment
        ):
            return True
        if await counter.model.filter(**counter.key).exists():
            return False
    return False


async def _locked_out(counter: _Counter, moment: datetime) -> UserInputError:
    locked_until = await counter.model.filter(**counter.key).first().values_list("locked_until", flat=True)
    until = locked_until if locked_until is not None and locked_until > moment else moment + counter.lock
    minutes = max(1, int((until - moment).total_seconds() // 60) + 1)
    return fail(None, UserErrorCode.TOO_MANY_ATTEMPTS, counter.refusal.format(minutes))


async def _reserve_attempt(per_client: _Counter, account: _Counter) -> None:
    """Take one attempt of both counts, or TOO_MANY_ATTEMPTS (and nothing taken)."""
    moment = now()
    if not await _reserve(per_client, moment):
        raise await _locked_out(per_client, moment)
    if not await _reserve(account, moment):
        await per_client.model.filter(failures__gt=0, **per_client.key).update(failures=F("failures") - 1)
        raise await _locked_out(account, moment)


async def _clear(*counters: _Counter) -> None:
    for counter in counters:
        await counter.model.filter(**counter.key).delete()


async def _lock_if_spent(counter: _Counter, moment: datetime) -> datetime | None:
    """Lock the count once its attempts are spent; when it is locked until, if this call locked it."""
    until = moment + counter.lock
    locked = await counter.model.filter(failures__gte=counter.limit, **counter.key).update(
        failures=0, locked_until=until
    )
    return until if locked else None


async def _count_failure(settings: Settings, per_client: _Counter, account: _Counter) -> None:
    """After a failed check (existing account or not, so nothing is revealed): lock what is spent."""
    moment = now()
    await _lock_if_spent(per_client, moment)
    async with in_transaction():
        locked_until = await _lock_if_spent(account, moment)
        if locked_until is not None:
            await _mail_unlock_link(settings, account.key["email"], locked_until)


async def _mail_unlock_link(settings: Settings, email: str, locked_until: datetime) -> None:
    """Inside the lock's transaction: a single-use unlock link to the owner, if the address has an account."""
    user = await User.filter(email=email).first().values("id", "language")
    if user is None:
        return
    token = UNLOCK_PREFIX + secrets.token_urlsafe(32)
    moment = now()
    expires_at = moment + settings.unlock_link_ttl
    await UnlockToken.create(
        token_hash=token_digest(token), user_id=user["id"], created_at=moment, expires_at=expires_at
    )
    link = portal_link(settings.public_url, PortalPage.UNLOCK_ACCOUNT, token=token)
    await queue_mail(
        to=email,
        template="account_locked",
        language=user["language"],
        context={
            "email": email,
            "link": link,
            "locked_until": locked_until,
            "expires_at": expires_at,
        },
    )


async def check_password_counted(
    settings: Settings, email: str, stored_hash: str | None, password: str, client: str | None
) -> bool:
    """Whether `password` matches `stored_hash` (the account of `email`), counted like a sign-in: a
    signed-in user confirming their password is no unlimited oracle. TOO_MANY_ATTEMPTS while the
    address is locked; a failure counts (and may lock it), a success starts the counts afresh."""
    per_client, account = _counters(settings, email, client)
    await _reserve_attempt(per_client, account)
    if not await verify_password(settings, stored_hash, password):
        await _count_failure(settings, per_client, account)
        return False
    await _clear(per_client, account)
    return True


async def clear_sign_in_failures(settings: Settings, email: str, client: str | None) -> None:
    """End the address's lock for all clients and the failures of this client (as an unlock link does)."""
    await _clear(*_counters(settings, email, client))


async def login(
    actor: Actor,
    settings: Settings,
    *,
    email: str,
    password: str,
    client: str | None,
    session_client: SessionClient | None = None,
) -> IssuedSession | SecondFactorRequired:
    """Unknown address and wrong password give the same answer in about the same time. `client`
    is the client's address, for the lockout; `session_client` the device the session is for. An
    account with two-factor sign-in gets a challenge instead of a session (`two_factor.complete_sign_in`)."""
    if too_long := password_too_long(password):
        raise UserInputError(too_long)
    invalid = fail(None, UserErrorCode.INVALID_CREDENTIALS, "The email address or the password is wrong.")
    try:
        normalized = normalize_email(email)
    except UserInputError as error:
        raise invalid from error
    per_client, account = _counters(settings, normalized, client)
    await _reserve_attempt(per_client, account)
    user = await User.filter(email=normalized).first().values(*USER_FIELDS, "password_hash")
    stored_hash = (user or {}).get("password_hash")
    if not await verify_password(settings, stored_hash, password):
        await _count_failure(settings, per_client, account)
        raise invalid
    rehashed = await hash_password(settings, password) if _hasher(settings).check_needs_rehash(stored_hash) else None
    async with in_transaction():
        if rehashed is not None:
            await User.filter(id=user["id"]).update(password_hash=rehashed)
        user.pop("password_hash")
        if user["totp_enabled_at"] is not None:  # the attempt counts until a code completes it
            return await _sign_in_challenge(user["id"])
        await _clear(per_client, account)
        issued = await issue_session(settings, user, client=session_client)
        await audit.record(Actor(via=Via.SESSION, user_id=user["id"]), "user.login", "User", user["id"])
    return issued


@dataclass(frozen=True, slots=True)
class SecondFactorRequired:
    """A correct password of an account with two-factor sign-in: no session yet, but a short-lived,
    single-use challenge that a code turns into one (`two_factor.complete_sign_in`)."""

    challenge: str
    expires_at: datetime


async def _sign_in_challenge(user_id: int) -> SecondFactorRequired:
    challenge = CHALLENGE_PREFIX + secrets.token_urlsafe(32)
    moment = now()
    expires_at = moment + SIGN_IN_CHALLENGE_TTL
    await SignInChallenge.create(
        token_hash=token_digest(challenge), user_id=user_id, created_at=moment, expires_at=expires_at
    )
    return SecondFactorRequired(challenge, expires_at)


async def reserve_sign_in_attempt(settings: Settings, email: str, client: str | None) -> None:
    """A later step of signing in (a second factor's code) counts like a password: one attempt of the
    address's counts, or TOO_MANY_ATTEMPTS."""
    await _reserve_attempt(*_counters(settings, email, client))


async def end_sign_in_attempt(settings: Settings, email: str, client: str | None, *, succeeded: bool) -> None:
    """After `reserve_sign_in_attempt`: a success starts the counts afresh, a failure locks what is spent."""
    per_client, account = _counters(settings, email, client)
    if succeeded:
        await _clear(per_client, account)
    else:
        await _count_failure(settings, per_client, account)


async def unlock_account(actor: Actor, settings: Settings, *, token: str, client: str | None) -> None:
    """With the link mailed at a lock: ends the address's lock for all clients and the failures
    of this client; the link works once. Someone still guessing locks it again after
    `LOGIN_ACCOUNT_MAX_FAILURES` more failures (and a new link is mailed)."""
    invalid = fail("token", UserErrorCode.INVALID_TOKEN, "This unlock link is not valid, was used or has expired.")
    if not token.startswith(UNLOCK_PREFIX) or len(token) > 100:
        raise invalid
    moment = now()
    async with in_transaction():
        row = (
            await UnlockToken.filter(token_hash=token_digest(token), used_at=None, expires_at__gt=moment)
            .first()
            .values("id", "user_id", "user__email")
        )
        # The conditional update is the guard: of two concurrent uses, one changes the row.
        if row is None or not await UnlockToken.filter(id=row["id"], used_at=None).update(used_at=moment):
            raise invalid
        await _clear(*_counters(settings, row["user__email"], client))
        await audit.record(actor, "user.unlock", "User", row["user_id"])


async def logout(actor: Actor) -> None:
    """End the session the request came with."""
    user_id = await SIGNED_IN.enforce(actor)
    if actor.session_token_id is None:
        raise Unauthenticated("Only a session token can be signed out; this request used another credential.")
    async with in_transaction():
        await SessionToken.filter(id=actor.session_token_id, revoked_at=None).update(revoked_at=now())
        await audit.record(actor, "user.logout", "User", user_id)


async def logout_everywhere(actor: Actor) -> int:
    """End every session of the signed-in user; returns how many were open."""
    user_id = await SIGNED_IN.enforce(actor)
    async with in_transaction():
        ended = await SessionToken.filter(user_id=user_id, revoked_at=None).update(revoked_at=now())
        await audit.record(actor, "user.logout_everywhere", "User", user_id, changes={"sessions": ended})
    return ended


# --- authentication of a request -----------------------------------------------------------


# The session query of every request, built once (`models/compiled.py`).
_SESSION_LOOKUP = CompiledValues(
    SessionToken,
    SESSION_AUTH_FIELDS,
    lambda digest, moment: SessionToken.filter(token_hash=digest, revoked_at=None, expires_at__gt=moment).values(
        *SESSION_AUTH_FIELDS
    ),
    stand_ins=("\x00stand-in digest", datetime(1970, 1, 2, tzinfo=UTC)),
)


class Authenticator:
    """Turns the credentials of a request into an `Actor` (anonymous when there are none)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.oidc = OidcVerifier(settings) if settings.oidc_enabled else None

    def _actor(self, **values: Any) -> Actor:
        return Actor(
            _load_memberships=scoping.load_memberships,
            _load_operator=scoping.load_operator_permissions,
            _load_delegations=partial(scoping.load_delegations, idle=self.settings.management_session_idle),
            two_factor_required=frozenset(self.settings.require_two_factor),
            **values,
        )

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Actor:
        credential = api_key
        if credential is None and authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                credential = value.strip()
            else:
                return self._actor(rejected_credentials="Use 'Authorization: Bearer <token>'.")
        if not credential:
            return self._actor()
        if credential.startswith(API_KEY_PREFIX):
            return await self._from_api_key(credential)
        if credential.startswith(SESSION_PREFIX):
            return await self._from_session(credential)
        if credential.count(".") == 2 and self.oidc is not None:
            return await self._from_jwt(credential)
        return self._actor(rejected_credentials="The credentials are not recognized; sign in again.")

    async def _from_session(self, token: str) -> Actor:
        """One indexed query reads the token, its user, the user's memberships and operator
        permissions (one row per membership), which most requests need anyway; `last_used_at`
        is written at most once a minute."""
        moment = now()
        rows = await _SESSION_LOOKUP.rows(token_digest(token), moment)
        if not rows:
            return self._actor(rejected_credentials="Your session has expired or was ended; sign in again.")
        row = rows[0]
        if row["last_used_at"] is None or moment - row["last_used_at"] > LAST_USED_GRANULARITY:
            await SessionToken.filter(id=row["id"]).update(last_used_at=moment)
        memberships = [
            {
                "id": r["user__memberships__id"],
                "organization_id": r["user__memberships__organization_id"],
                "role": r["user__memberships__role"],
                "permissions": r["user__memberships__permissions"],
            }
            for r in rows
            if r["user__memberships__id"] is not None
        ]
        operator = row["user__operator__permissions"] if row["user__operator__id"] is not None else None
        return self._actor(
            via=Via.SESSION,
            user_id=row["user_id"],
            session_token_id=row["id"],
            two_factor_at=row["two_factor_at"],
            user_row={field: row["user_id" if field == "id" else f"user__{field}"] for field in USER_FIELDS},
            _memberships=scoping.memberships_from_rows(
                memberships, email_verified=row["user__email_verified_at"] is not None
            ),
            _operator=scoping.operator_permissions_from(operator),
        )

    async def _from_api_key(self, key: str) -> Actor:
        moment = now()
        row = (
            await ApiKey.filter(key_hash=token_digest(key), revoked_at=None)
            .first()
            .values("id", "scopes", "last_used_at")
        )
        if row is None:
            return self._actor(rejected_credentials="This API key is unknown or was revoked.")
        if row["last_used_at"] is None or moment - row["last_used_at"] > LAST_USED_GRANULARITY:
            await ApiKey.filter(id=row["id"]).update(last_used_at=moment)
        scopes = frozenset(ApiKeyScope(s) for s in row["scopes"])
        return self._actor(via=Via.API_KEY, api_key_id=row["id"], scopes=scopes)

    async def _from_jwt(self, token: str) -> Actor:
        assert self.oidc is not None
        try:
            identity = await self.oidc.verify(token)
        except InvalidToken:
            return self._actor(rejected_credentials="The identity provider's token is not valid.")
        user_row = await user_for_oidc_identity(
            identity.issuer, identity.subject, identity.email, identity.name, identity.email_verified
        )
        if user_row is None:
            return self._actor(rejected_credentials="The identity provider's token carries no usable email address.")
        return self._actor(via=Via.JWT, user_id=user_row["id"], user_row=user_row)


async def user_for_oidc_identity(
    issuer: str, subject: str, email: str | None, name: str | None, email_verified: bool
) -> dict[str, Any] | None:
    """The user (its `USER_FIELDS`) matched by issuer+subject, created on first sight from the
    token's email.

    An existing built-in account with the same address is linked only when the provider
    says the address is verified; otherwise the token is refused (None). The account's address counts
    as verified (`email_verified_at`) whenever the provider says it is. Linking an account whose
    address was never verified ends its password, second factor and sessions: someone else may have
    registered the address first.
    """
    row = await User.filter(oidc_issuer=issuer, oidc_subject=subject).first().values(*USER_FIELDS)
    if row is not None:
        if email_verified and row["email_verified_at"] is None and email and email.strip().lower() == row["email"]:
            row["email_verified_at"] = now()  # the provider vouches for the address the account has
            await User.filter(id=row["id"]).update(email_verified_at=row["email_verified_at"])
        return row
    if not email:
        return None
    try:
        normalized = normalize_email(email)
    except UserInputError:
        return None
    async with in_transaction():
        existing = await User.filter(email=normalized).first()
        if existing is not None:
            if not email_verified or existing.oidc_subject is not None:
                return None
            existing.oidc_issuer, existing.oidc_subject = issuer, subject
            fields = ["oidc_issuer", "oidc_subject", "email_verified_at"]
            if existing.email_verified_at is None:
                # The address was never proved: whoever registered it need not be the person the
                # provider vouches for, so their password, second factor and sessions go.
                existing.password_hash = existing.totp_secret = existing.totp_enabled_at = None
                fields += ["password_hash", "totp_secret", "totp_enabled_at"]
                await SessionToken.filter(user_id=existing.id, revoked_at=None).update(revoked_at=now())
            existing.email_verified_at = existing.email_verified_at or now()
            await existing.save(update_fields=fields)
            user, action = existing, "user.link_sso"
        else:
            user = await User.create(
                email=normalized,
                name=(name or normalized.split("@")[0])[:MAX_NAME_LENGTH],
                oidc_issuer=issuer,
                oidc_subject=subject,
                email_verified_at=now() if email_verified else None,
            )
            action = "user.register_sso"
        await audit.record(Actor(via=Via.JWT, user_id=user.id), action, "User", user.id, changes={"issuer": issuer})
    return {field: getattr(user, field) for field in USER_FIELDS}


# --- API keys and operators ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    key: str
    row: dict[str, Any]


def _clean_scopes(scopes: Iterable[ApiKeyScope]) -> list[str]:
    cleaned = sorted({ApiKeyScope(s).value for s in scopes})
    if not cleaned:
        raise fail("scopes", UserErrorCode.EMPTY_SCOPES, "Give the key at least one scope.")
    return cleaned


async def issue_api_key(actor: Actor, name: str, scopes: Iterable[ApiKeyScope]) -> IssuedApiKey:
    """Create a key without a policy check: for `create_api_key` and the trusted CLI."""
    clean = clean_name(name)
    scope_values = _clean_scopes(scopes)
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    async with in_transaction():
        row = await ApiKey.create(
            name=clean,
            prefix=key[: len(API_KEY_PREFIX) + 6],
            key_hash=token_digest(key),
            scopes=scope_values,
            created_by_id=actor.user_id,
            created_at=now(),
        )
        await audit.record(actor, "api_key.create", "ApiKey", row.id, changes={"name": clean, "scopes": scope_values})
    return IssuedApiKey(key, {field: getattr(row, field) for field in API_KEY_FIELDS})


async def create_api_key(actor: Actor, name: str, scopes: Iterable[ApiKeyScope]) -> IssuedApiKey:
    await PROGRAM_MANAGER.enforce(actor)
    return await issue_api_key(actor, name, scopes)


async def revoke_api_key(actor: Actor, api_key_id: int) -> dict[str, Any]:
    await PROGRAM_MANAGER.enforce(actor)
    if await get_api_key(actor, api_key_id) is None:
        raise NotFound()
    async with in_transaction():  # querysets made outside would wait for the transaction's connection
        if await ApiKey.filter(id=api_key_id, revoked_at=None).update(revoked_at=now()):
            await audit.record(actor, "api_key.revoke", "ApiKey", api_key_id)
    return await get_api_key(actor, api_key_id)


async def list_api_keys(actor: Actor, *, first: int | None, after: str | None) -> Page:
    await PROGRAM_MANAGER.enforce(actor)
    queryset = await scoping.visible_api_keys(actor)
    return await paginate(queryset, fields=API_KEY_FIELDS, first=first, after=after, order=("-id",))


async def make_operator(
    actor: Actor,
    email: str,
    permissions: Iterable[OperatorPermission],
    *,
    name: str | None = None,
    password: str | None = None,
    settings: Settings,
) -> int:
    """Create (or promote) an operator account; for the trusted CLI and the demo. A new account's
    address counts as verified (the vendor's staff named it); a promoted one keeps its state."""
    normalized = normalize_email(email)
    async with in_transaction():
        user = await User.filter(email=normalized).first()
        if user is None:
            if password is not None:
                problems = password_problems(password, [email])
                if problems:
                    raise UserInputError(*problems)
            user = await User.create(
                email=normalized,
                name=clean_name(name or normalized.split("@")[0]),
                password_hash=await hash_password(settings, password) if password else None,
                email_verified_at=now(),
            )
        perms = sorted({OperatorPermission(p).value for p in permissions})
        await Operator.update_or_create(defaults={"permissions": perms}, user_id=user.id)
        await audit.record(actor, "operator.grant", "User", user.id, changes={"permissions": perms})
    return user.id


async def get_user(actor: Actor, user_id: int) -> dict[str, Any] | None:
    return await (await scoping.visible_users(actor)).filter(id=user_id).first().values(*USER_FIELDS)


async def get_api_key(actor: Actor, api_key_id: int) -> dict[str, Any] | None:
    return await (await scoping.visible_api_keys(actor)).filter(id=api_key_id).first().values(*API_KEY_FIELDS)


async def get_own_api_key(actor: Actor) -> dict[str, Any] | None:
    """An integrator's own key, whatever its scopes."""
    if actor.api_key_id is None:
        return None
    return await (await scoping.visible_api_keys(actor)).filter(id=actor.api_key_id).first().values(*API_KEY_FIELDS)

"""My data: what the portal holds about the signed-in user (the export), and deleting the account.

Deleting removes what serves only the person (sessions, links, recovery codes, memberships, pending
registrations, sign-in counts of the address) and pseudonymizes what the vendor must keep: the
`users` row stays, because commissions, payouts, coupon orders, applications and the audit log refer
to it, but it names nobody any more. Where the address or the name appears inside kept records (audit
details, mails, invitations, partner applications), it is replaced by the pseudonym. The README
section "What happens to your data" says what is kept and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from partner_portal.models.audit import AuditEvent
from partner_portal.models.clock import now
from partner_portal.models.customers import ManagementSession
from partner_portal.models.enums import InvitationStatus, MembershipInvitationStatus
from partner_portal.models.identity import (
    ApiKey,
    ClientLoginThrottle,
    EmailVerificationToken,
    LoginThrottle,
    Operator,
    PasswordResetToken,
    PendingRegistration,
    RecoveryCode,
    SessionToken,
    SignInChallenge,
    UnlockToken,
    User,
)
from partner_portal.models.invitations import Invitation
from partner_portal.models.organizations import Membership, MembershipInvitation, Organization
from partner_portal.models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from partner_portal.models.partners import PartnerApplication
from partner_portal.models.tortoise_internals import table
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Role
from partner_portal.permissions.errors import Forbidden, Missing, Unauthenticated
from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import audit
from partner_portal.resolvers.errors import Problem, UserErrorCode, UserInputError
from partner_portal.resolvers.identity import API_KEY_FIELDS, password_too_long, verify_password
from partner_portal.resolvers.sessions import SESSION_FIELDS
from partner_portal.resolvers.sql import query_dicts
from partner_portal.resolvers.validation import normalize_email
from partner_portal.settings import Settings

# Rows per section of an export, newest first; each section also tells how many rows it holds.
EXPORT_LIMIT = 1000
DELETED_NAME = "Deleted user"
CONFIRMATION = "DELETE"
# In the audit events about the account (`target` = the user), the values under these keys are the
# user's name or address, replaced whole (`{"email": {"from": …, "to": …}}`, an address no longer
# known included); elsewhere the user's addresses are replaced where they appear.
_NAME_KEYS = frozenset({"name", "contact_name"})
_EMAIL_KEYS = frozenset({"email", "contact_email"})
_MAILS_ONLY = f""" AND "kind" = '{OutboxKind.EMAIL.value}'"""  # of the outbox, not its webhooks


def pseudonym_email(user_id: int) -> str:
    """The address a deleted account keeps: unique, and undeliverable (`.invalid`, RFC 2606)."""
    return f"deleted-{user_id}@invalid"


# --- the export ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    """Up to `EXPORT_LIMIT` rows of one kind, newest first, and how many there are in all."""

    rows: list[dict[str, Any]]
    total: int


@dataclass(frozen=True, slots=True)
class DataExport:
    """Everything the portal holds about one user, as rows; `schema/my_data.py` makes the document."""

    exported_at: datetime
    account: dict[str, Any]
    sign_in_failures: dict[str, Any] | None
    operator: dict[str, Any] | None
    recovery_codes: dict[str, int]
    memberships: Section
    sessions: Section
    management_sessions: Section
    links: Section
    api_keys: Section
    membership_invitations: Section
    customer_invitations: Section
    partner_applications: Section
    mails: Section
    audit_events: Section


async def _section(queryset: QuerySet[Any], *fields: str) -> Section:
    rows = await queryset.order_by("-id").limit(EXPORT_LIMIT).values(*fields)
    total = len(rows) if len(rows) < EXPORT_LIMIT else await queryset.count()
    return Section(rows, total)


async def _addresses(user_id: int, email: str) -> tuple[str, ...]:
    """The user's address and the ones a pending change of address would verify."""
    others = await EmailVerificationToken.filter(user_id=user_id).values_list("email", flat=True)
    return tuple(dict.fromkeys([email, *(address.lower() for address in others)]))


async def _mentioning(model: type[Model], column: str, addresses: Iterable[str], condition: str = "") -> list[int]:
    """Ids of the rows whose JSON `column` mentions one of the addresses, as the database stores
    it (plain, or with JSON's escapes); a candidate list the caller filters exactly."""
    patterns = sorted({f"%{form}%" for address in addresses for form in (address, json.dumps(address)[1:-1])})
    mentions = " OR ".join(f'LOWER(CAST("{column}" AS TEXT)) LIKE %s' for _ in patterns)
    sql = f'SELECT "id" FROM "{table(model)}" WHERE ({mentions}){condition}'
    return [row["id"] for row in await query_dicts(sql, [pattern.lower() for pattern in patterns])]


async def _mails_to(addresses: tuple[str, ...]) -> list[int]:
    """Ids of the mails addressed to one of the addresses."""
    candidates = await _mentioning(OutboxMessage, "payload", addresses, _MAILS_ONLY)
    rows = await OutboxMessage.filter(id__in=candidates).values("id", "payload")
    return [row["id"] for row in rows if str(row["payload"].get("to", "")).lower() in addresses]


def _about(user_id: int) -> Q:
    """Audit events about the account itself (its registration, sign-ins, operator grants...)."""
    return Q(target_type="User", target_id=str(user_id))


async def export_data(actor: Actor) -> DataExport:
    """What the portal holds about the signed-in user, each kind newest first (`EXPORT_LIMIT` rows)."""
    user_id = await SIGNED_IN.enforce(actor)
    user = (
        await User.filter(id=user_id)
        .first()
        .values(
            "id",
            "email",
            "name",
            "language",
            "created_at",
            "email_verified_at",
            "totp_enabled_at",
            "password_hash",
            "oidc_issuer",
            "oidc_subject",
        )
    )
    if user is None:  # deleted by another request meanwhile
        raise Unauthenticated()
    user["has_password"] = user.pop("password_hash") is not None
    addresses = await _addresses(user_id, user["email"])
    recovery = RecoveryCode.filter(user_id=user_id)
    links: list[dict[str, Any]] = []
    for kind, model in (
        ("PASSWORD_RESET", PasswordResetToken),
        ("EMAIL_VERIFICATION", EmailVerificationToken),
        ("UNLOCK", UnlockToken),
    ):
        fields = ("created_at", "expires_at", "used_at", *(("email",) if model is EmailVerificationToken else ()))
        rows = await model.filter(user_id=user_id).order_by("-id").limit(EXPORT_LIMIT).values(*fields)
        links += [{"kind": kind, **row} for row in rows]
    links.sort(key=lambda row: row["created_at"], reverse=True)
    mails = await _mails_to(addresses)
    return DataExport(
        exported_at=now(),
        account=user,
        sign_in_failures=await LoginThrottle.filter(email=user["email"])
        .first()
        .values("failures", "locked_until", "last_failure_at"),
        operator=await Operator.filter(user_id=user_id).first().values("permissions", "created_at"),
        recovery_codes={
            "total": await recovery.count(),
            "unused": await recovery.filter(used_at=None).count(),
        },
        memberships=await _section(
            Membership.filter(user_id=user_id),
            "id",
            "organization_id",
            "organization__name",
            "role",
            "permissions",
            "created_at",
        ),
        sessions=await _section(SessionToken.filter(user_id=user_id), *SESSION_FIELDS),
        management_sessions=await _section(
            ManagementSession.filter(user_id=user_id),
            "id",
            "partner_id",
            "partner__name",
            "customer_id",
            "customer__name",
            "started_at",
            "last_activity_at",
            "ended_at",
        ),
        links=Section(links[:EXPORT_LIMIT], len(links)),
        api_keys=await _section(ApiKey.filter(created_by_id=user_id), *API_KEY_FIELDS),
        membership_invitations=await _section(
            MembershipInvitation.filter(email__in=addresses),
            "id",
            "organization_id",
            "organization__name",
            "email",
            "role",
            "status",
            "created_at",
            "expires_at",
            "decided_at",
        ),
        customer_invitations=await _section(
            Invitation.filter(email__in=addresses),
            "id",
            "partner_id",
            "partner__name",
            "email",
            "organization_name",
            "message",
            "status",
            "created_at",
            "expires_at",
            "accepted_at",
        ),
        partner_applications=await _section(
            PartnerApplication.filter(Q(submitted_by_id=user_id) | Q(contact_email__in=addresses)),
            "id",
            "organization_id",
            "organization__name",
            "status",
            "legal_name",
            "contact_name",
            "contact_email",
            "contact_phone",
            "created_at",
            "decided_at",
        ),
        mails=await _section(OutboxMessage.filter(id__in=mails), "id", "payload", "status", "created_at", "sent_at"),
        audit_events=await _section(
            AuditEvent.filter(Q(actor_user_id=user_id) | _about(user_id)),
            "id",
            "organization_id",
            "actor_user_id",
            "via",
            "action",
            "target_type",
            "target_id",
            "changes",
            "created_at",
        ),
    )


# --- deleting the account ---------------------------------------------------------------------------


def _mentions(addresses: tuple[str, ...]) -> re.Pattern[str]:
    """The addresses as whole addresses: not `ann@example.com` inside `joann@example.com` or
    `ann@example.com.au`, but before a full stop that ends a sentence."""
    alternatives = "|".join(re.escape(address) for address in addresses)
    return re.compile(rf"(?<![\w.!#$%&'*+/=?^`{{|}}~-])(?:{alternatives})(?![\w-]|\.[\w-])", re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str], placeholder: str, replacement: str | None = None) -> Any:
    """`value` (JSON) with every mention of the addresses replaced by the placeholder; with a
    `replacement`, every string replaced whole."""
    if isinstance(value, dict):
        return {key: _scrub(item, pattern, placeholder, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, pattern, placeholder, replacement) for item in value]
    if isinstance(value, str):
        return replacement if replacement is not None else pattern.sub(placeholder, value)
    return value


def _scrub_about_user(changes: dict[str, Any], pattern: re.Pattern[str], placeholder: str) -> dict[str, Any]:
    """The changes of an event about the account, its names and addresses replaced whole."""

    def replacement(key: str) -> str | None:
        return DELETED_NAME if key in _NAME_KEYS else placeholder if key in _EMAIL_KEYS else None

    return {key: _scrub(item, pattern, placeholder, replacement(key)) for key, item in changes.items()}


async def _pseudonymize_audit(user_id: int, pattern: re.Pattern[str], addresses: tuple[str, ...]) -> None:
    """The events about the account lose its names and addresses, the others its addresses."""
    placeholder = pseudonym_email(user_id)
    about = await AuditEvent.filter(_about(user_id)).values("id", "changes")
    about_ids = {row["id"] for row in about}
    mentioning = set(await _mentioning(AuditEvent, "changes", addresses)) - about_ids
    for row in [*about, *await AuditEvent.filter(id__in=mentioning).values("id", "changes")]:
        if row["id"] in about_ids:
            scrubbed = _scrub_about_user(row["changes"], pattern, placeholder)
        else:
            scrubbed = _scrub(row["changes"], pattern, placeholder)
        if scrubbed != row["changes"]:
            await AuditEvent.filter(id=row["id"]).update(changes=scrubbed)


async def _pseudonymize_mails(user_id: int, pattern: re.Pattern[str], addresses: tuple[str, ...]) -> None:
    """Mails to the user lose their text (nothing still waiting is sent); other mails that
    mention the address get the pseudonym in its place."""
    placeholder = pseudonym_email(user_id)
    candidates = await _mentioning(OutboxMessage, "payload", addresses, _MAILS_ONLY)
    for row in await OutboxMessage.filter(id__in=candidates).values("id", "payload", "status"):
        payload = row["payload"]
        if str(payload.get("to", "")).lower() in addresses:
            cleared = {**payload, "to": placeholder, "subject": "", "text": "", "html": None}
            values: dict[str, Any] = {"payload": cleared, "note": "The recipient's account was deleted."}
            if row["status"] == OutboxStatus.PENDING:
                values |= {"status": OutboxStatus.FAILED, "last_error": "The recipient's account was deleted."}
            await OutboxMessage.filter(id=row["id"]).update(**values)
        elif (scrubbed := _scrub(payload, pattern, placeholder)) != payload:
            await OutboxMessage.filter(id=row["id"]).update(payload=scrubbed)


async def _close_invitations(actor: Actor, user_id: int, addresses: tuple[str, ...]) -> None:
    """Open invitations to the user's addresses are answered (declined, or for a customer invitation
    revoked: it has no declined state), and every invitation to them keeps the pseudonym instead."""
    moment = now()
    for invitation_id, organization_id in await MembershipInvitation.filter(
        email__in=addresses, status=MembershipInvitationStatus.OPEN
    ).values_list("id", "organization_id"):
        await MembershipInvitation.filter(id=invitation_id).update(
            status=MembershipInvitationStatus.DECLINED, decided_at=moment
        )
        await audit.record(
            actor,
            "membership_invitation.decline",
            "MembershipInvitation",
            invitation_id,
            organization_id=organization_id,
            changes={"account_deleted": True},
        )
    for invitation_id, partner_id in await Invitation.filter(
        email__in=addresses, status=InvitationStatus.OPEN
    ).values_list("id", "partner_id"):
        await Invitation.filter(id=invitation_id).update(status=InvitationStatus.REVOKED)
        await audit.record(
            actor,
            "invitation.revoke",
            "Invitation",
            invitation_id,
            organization_id=partner_id,
            changes={"account_deleted": True},
        )
    await MembershipInvitation.filter(email__in=addresses).update(email=pseudonym_email(user_id))
    await Invitation.filter(email__in=addresses).update(email=pseudonym_email(user_id))


async def _obligations(user_id: int) -> list[Problem]:
    """What keeps the account: an operator role, or organizations it is the only administrator of
    while others are members (they would be left without one). Locks the organizations, so that
    no one leaves or is made administrator meanwhile (PostgreSQL; SQLite has one writer anyway)."""
    if await Operator.filter(user_id=user_id).exists():
        return [
            Problem(
                None,
                UserErrorCode.OPERATOR_ACCOUNT,
                "Operator accounts belong to the vendor: ask for your operator role to be withdrawn "
                "(`partner-portal remove-operator`) first.",
            )
        ]
    administered = await Membership.filter(user_id=user_id, role=Role.ADMINISTRATOR).values_list(
        "organization_id", flat=True
    )
    problems = []
    for organization in await Organization.filter(id__in=administered).select_for_update().order_by("id"):
        others = Membership.filter(organization_id=organization.id).exclude(user_id=user_id)
        if await others.exists() and not await others.filter(role=Role.ADMINISTRATOR).exists():
            problems.append(
                Problem(
                    None,
                    UserErrorCode.LAST_ADMINISTRATOR,
                    f"You are the only administrator of {organization.name}, which has other members: "
                    "make one of them administrator first.",
                )
            )
    return problems


async def _check_identity(
    actor: Actor, settings: Settings, user: dict[str, Any], password: str | None, confirmation: str
) -> None:
    """The person at the keyboard is the account's owner: the word typed, the password (for a
    built-in account), and a session that proved the second factor where one is set up."""
    problems = []
    if confirmation.strip() != CONFIRMATION:
        problems.append(Problem("confirmation", UserErrorCode.INVALID_VALUE, f"Type {CONFIRMATION} to confirm."))
    if user["password_hash"] is not None:
        if not password:
            problems.append(Problem("password", UserErrorCode.REQUIRED, "Enter your password to confirm."))
        elif too_long := password_too_long(password):
            problems.append(too_long)
        elif not await verify_password(settings, user["password_hash"], password):
            problems.append(Problem("password", UserErrorCode.INVALID_CREDENTIALS, "The password is wrong."))
    if problems:
        raise UserInputError(*problems)
    if user["totp_enabled_at"] is not None and actor.session_token_id is not None:
        proved = await SessionToken.filter(id=actor.session_token_id).first().values_list("two_factor_at", flat=True)
        if proved is None:
            raise Forbidden(
                "Sign in again with your second factor to delete the account.", missing=Missing("SECOND_FACTOR")
            )


async def delete_account(actor: Actor, settings: Settings, *, password: str | None, confirmation: str) -> datetime:
    """Delete the signed-in user's account where nothing keeps it (`_obligations`): one transaction
    removes what serves only the person and pseudonymizes what must be kept. Returns the moment."""
    user_id = await SIGNED_IN.enforce(actor)
    user = await User.filter(id=user_id, deleted_at=None).first().values("email", "password_hash", "totp_enabled_at")
    if user is None:
        raise Unauthenticated()
    await _check_identity(actor, settings, user, password, confirmation)
    moment = now()
    async with in_transaction():
        if not await User.filter(id=user_id, deleted_at=None).select_for_update().exists():
            raise Unauthenticated()  # a concurrent deletion won
        if problems := await _obligations(user_id):
            raise UserInputError(*problems)
        addresses = await _addresses(user_id, user["email"])
        pattern = _mentions(addresses)
        await _pseudonymize_audit(user_id, pattern, addresses)
        await _pseudonymize_mails(user_id, pattern, addresses)
        await _close_invitations(actor, user_id, addresses)
        await PartnerApplication.filter(contact_email__in=addresses).update(
            contact_name=DELETED_NAME, contact_email=pseudonym_email(user_id), contact_phone=None
        )
        for membership_id, organization_id, role in await Membership.filter(user_id=user_id).values_list(
            "id", "organization_id", "role"
        ):
            await Membership.filter(id=membership_id).delete()
            await audit.record(
                actor,
                "membership.leave",
                "Membership",
                membership_id,
                organization_id=organization_id,
                changes={"user_id": user_id, "role": role, "account_deleted": True},
            )
        await ManagementSession.filter(user_id=user_id, ended_at=None).update(ended_at=moment)
        for model in (
            SessionToken,
            UnlockToken,
            PasswordResetToken,
            EmailVerificationToken,
            RecoveryCode,
            SignInChallenge,
        ):
            await model.filter(user_id=user_id).delete()
        for throttle in (PendingRegistration, LoginThrottle, ClientLoginThrottle):
            await throttle.filter(email__in=addresses).delete()
        await User.filter(id=user_id).update(
            email=pseudonym_email(user_id),
            name=DELETED_NAME,
            password_hash=None,
            oidc_issuer=None,
            oidc_subject=None,
            language="en",
            email_verified_at=None,
            totp_secret=None,
            totp_enabled_at=None,
            totp_last_step=None,
            deleted_at=moment,
        )
        await audit.record(actor, "user.delete", "User", user_id)
    actor.forget_memberships()
    return moment


async def remove_operator(actor: Actor, email: str) -> bool:
    """Withdraw a user's operator role (for the trusted CLI); whether the address had one."""
    normalized = normalize_email(email)
    async with in_transaction():
        user_id = await User.filter(email=normalized).first().values_list("id", flat=True)
        if user_id is None or not await Operator.filter(user_id=user_id).delete():
            return False
        await audit.record(actor, "operator.revoke", "User", user_id)
    return True

"""Invitations: partners invite prospective customers by email; accepting one creates the
user, the organization and the customer relationship in one transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from partner_portal.integrations.portal_links import PortalPage, portal_link
from partner_portal.models.clock import now
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.enums import InvitationStatus, RelationshipSource
from partner_portal.models.identity import User
from partner_portal.models.invitations import Invitation
from partner_portal.models.organizations import Membership, Organization
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions import policy, scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Role, Via
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import CUSTOMER_INVITATIONS, CUSTOMER_INVITER
from partner_portal.resolvers import audit, webhooks
from partner_portal.resolvers.email_verification import mark_verified
from partner_portal.resolvers.errors import UserErrorCode, fail
from partner_portal.resolvers.identity import (
    USER_FIELDS,
    IssuedSession,
    hash_password,
    issue_session,
    password_problems,
    token_digest,
)
from partner_portal.resolvers.mail import DEFAULT_LANGUAGE, MailLimits, queue_mail
from partner_portal.resolvers.organizations import (
    ORGANIZATION_FIELDS,
    customer_names,
    end_lapsed_grant_memberships,
    expire_membership_invitations,
    search_key,
)
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.partners import notify_administrators
from partner_portal.resolvers.sessions import SessionClient
from partner_portal.resolvers.validation import Checks, clean_language, clean_name, clean_text, collect, normalize_email
from partner_portal.settings import Settings

INVITATION_PREFIX = "ppi_"
INVITATION_FIELDS = (
    "id",
    "partner_id",
    "email",
    "organization_name",
    "message",
    "language",
    "status",
    "expires_at",
    "created_at",
    "accepted_at",
    "customer_id",
)


def effective_status(row: dict[str, Any]) -> InvitationStatus:
    """An open invitation past its expiry is EXPIRED even before the expiry job has run."""
    status = row["status"]
    if status is InvitationStatus.OPEN and row["expires_at"] <= now():
        return InvitationStatus.EXPIRED
    return status


def _link(settings: Settings, token: str) -> str:
    return portal_link(settings.public_url, PortalPage.ACCEPT_INVITATION, token=token)


async def _send(settings: Settings, invitation: dict[str, Any], token: str, partner_name: str) -> None:
    await queue_mail(
        to=invitation["email"],
        template="invitation",
        language=invitation["language"],
        context={
            "partner_name": partner_name,
            "organization_name": invitation["organization_name"],
            "message": invitation["message"],
            "link": _link(settings, token),
            "expires_at": invitation["expires_at"],
        },
    )


def _new_token() -> str:
    return INVITATION_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    """The invitation and its link token (which only the mail carries to the invitee)."""

    row: dict[str, Any]
    token: str


async def invite_customer(
    actor: Actor,
    settings: Settings,
    partner_id: int | None,
    *,
    email: str,
    organization_name: str,
    message: str | None,
    language: str | None,
    limits: MailLimits | None = None,
) -> IssuedInvitation:
    """CREATE_CUSTOMER_ORGANIZATIONS holders of a service partner invite a customer by email
    (within the partner's and the address's invitation rates)."""
    membership, _ = await CUSTOMER_INVITER.enforce(actor, partner_id)
    values = collect(
        {
            "email": lambda: normalize_email(email),
            "organization_name": lambda: clean_name(organization_name, "organization_name"),
            "message": lambda: clean_text(message, "message"),
            "language": lambda: clean_language(language or DEFAULT_LANGUAGE),
        }
    )
    partner_org = membership.organization_id
    if await Membership.filter(organization_id=partner_org, user__email=values["email"]).exists():
        raise fail("email", UserErrorCode.SELF_REFERRAL, "A partner cannot invite its own members as a customer.")
    token = _new_token()
    moment = now()
    if await Invitation.filter(
        partner_id=partner_org, email=values["email"], status=InvitationStatus.OPEN, expires_at__gt=moment
    ).exists():
        raise fail("email", UserErrorCode.ALREADY_INVITED, "This address has an open invitation: resend it.")
    if limits is not None:
        await limits.take_invitation(partner_org, values["email"])
    async with in_transaction():
        invitation = await Invitation.create(
            partner_id=partner_org,
            token_hash=token_digest(token),
            status=InvitationStatus.OPEN,
            expires_at=moment + settings.invitation_ttl,
            created_by_id=actor.user_id,
            created_at=moment,
            **values,
        )
        row = {field: getattr(invitation, field) for field in INVITATION_FIELDS}
        partner_name = await Organization.filter(id=partner_org).first().values_list("name", flat=True)
        await _send(settings, row, token, partner_name)
        await audit.record(
            actor,
            "invitation.create",
            "Invitation",
            invitation.id,
            acting=membership,
            changes={"email": values["email"], "organization_name": values["organization_name"]},
        )
    return IssuedInvitation(row, token)


async def _own_invitation(actor: Actor, invitation_id: int) -> tuple[Any, Invitation]:
    await CUSTOMER_INVITATIONS.admit(actor)  # anonymous callers are UNAUTHENTICATED, not NOT_FOUND
    invitation = await Invitation.get_or_none(id=invitation_id)
    if invitation is None or await policy.membership_in(actor, invitation.partner_id) is None:
        raise NotFound()
    membership, _ = await CUSTOMER_INVITATIONS.enforce(actor, invitation.partner_id)
    return membership, invitation


async def resend_invitation(
    actor: Actor, settings: Settings, invitation_id: int, limits: MailLimits | None = None
) -> dict[str, Any]:
    """A new link with a renewed expiry (the previous link stops working); counts as an invitation."""
    membership, invitation = await _own_invitation(actor, invitation_id)
    if limits is not None:
        await limits.take_invitation(invitation.partner_id, invitation.email)
    token = _new_token()
    moment = now()
    async with in_transaction():
        # Renewing an expired invitation must not make a second open one to the same address.
        closed = invitation.status in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED)
        if (
            not closed
            and await Invitation.filter(
                partner_id=invitation.partner_id,
                email=invitation.email,
                status=InvitationStatus.OPEN,
                expires_at__gt=moment,
            )
            .exclude(id=invitation_id)
            .exists()
        ):
            raise fail(
                None, UserErrorCode.ALREADY_INVITED, "This address has a newer open invitation: resend that one."
            )
        updated = await Invitation.filter(id=invitation_id, status=InvitationStatus.OPEN).update(
            token_hash=token_digest(token), expires_at=moment + settings.invitation_ttl
        ) or await Invitation.filter(id=invitation_id, status=InvitationStatus.EXPIRED).update(
            token_hash=token_digest(token), expires_at=moment + settings.invitation_ttl, status=InvitationStatus.OPEN
        )
        if not updated:
            raise fail(None, UserErrorCode.INVITATION_CLOSED, "Accepted or revoked invitations cannot be resent.")
        row = await Invitation.filter(id=invitation_id).first().values(*INVITATION_FIELDS)
        partner_name = await Organization.filter(id=invitation.partner_id).first().values_list("name", flat=True)
        await _send(settings, row, token, partner_name)
        await audit.record(
            actor,
            "invitation.resend",
            "Invitation",
            invitation_id,
            acting=membership,
            changes={"expires_at": row["expires_at"].isoformat()},
        )
    return row


async def revoke_invitation(actor: Actor, invitation_id: int) -> dict[str, Any]:
    membership, _ = await _own_invitation(actor, invitation_id)
    async with in_transaction():
        revoked = await Invitation.filter(
            id=invitation_id, status__in=[InvitationStatus.OPEN, InvitationStatus.EXPIRED]
        ).update(status=InvitationStatus.REVOKED)
        if not revoked:
            raise fail(None, UserErrorCode.INVITATION_CLOSED, "Accepted or revoked invitations cannot be revoked.")
        await audit.record(actor, "invitation.revoke", "Invitation", invitation_id, acting=membership)
    return await Invitation.filter(id=invitation_id).first().values(*INVITATION_FIELDS)


async def list_invitations(
    actor: Actor, partner_id: int | None, *, status: InvitationStatus | None, first: int | None, after: str | None
) -> Page:
    membership, _ = await CUSTOMER_INVITATIONS.enforce(actor, partner_id)
    queryset = (await scoping.visible_invitations(actor)).filter(partner_id=membership.organization_id)
    moment = now()
    if status is InvitationStatus.OPEN:
        queryset = queryset.filter(status=InvitationStatus.OPEN, expires_at__gt=moment)
    elif status is InvitationStatus.EXPIRED:
        queryset = queryset.filter(status__in=[InvitationStatus.OPEN, InvitationStatus.EXPIRED], expires_at__lte=moment)
    elif status is not None:
        queryset = queryset.filter(status=status)
    return await paginate(queryset, fields=INVITATION_FIELDS, first=first, after=after, order=("-id",))


async def get_invitation(actor: Actor, invitation_id: int) -> dict[str, Any] | None:
    """For `node(id:)`: an invitation the actor sees (`scoping.visible_invitations`)."""
    return await (await scoping.visible_invitations(actor)).filter(id=invitation_id).first().values(*INVITATION_FIELDS)


# --- accepting ---------------------------------------------------------------------------------


async def preview_invitation(token: str) -> dict[str, Any] | None:
    """What the holder of an invitation link may see (the link is the permission): whose invitation,
    to which address, for which organization, until when; None for a token that is none."""
    if not token.startswith(INVITATION_PREFIX) or len(token) > 100:
        return None
    row = (
        await Invitation.filter(token_hash=token_digest(token))
        .first()
        .values("email", "organization_name", "message", "status", "expires_at", partner_name="partner__name")
    )
    if row is not None:
        row["status"] = effective_status(row)
    return row


async def _open_invitation(token: str) -> Invitation:
    """The invitation behind a token, or a distinct error for each way it is unusable."""
    invalid = fail("token", UserErrorCode.INVALID_TOKEN, "This invitation link is not valid.")
    if not token.startswith(INVITATION_PREFIX) or len(token) > 100:
        raise invalid
    invitation = await Invitation.filter(token_hash=token_digest(token)).first()
    if invitation is None:
        raise invalid
    status = effective_status({"status": invitation.status, "expires_at": invitation.expires_at})
    if status is InvitationStatus.EXPIRED:
        raise fail(
            "token", UserErrorCode.INVITATION_EXPIRED, "This invitation has expired: ask your partner to resend it."
        )
    if status is InvitationStatus.REVOKED:
        raise fail("token", UserErrorCode.INVITATION_REVOKED, "This invitation was withdrawn by the partner.")
    if status is InvitationStatus.ACCEPTED:
        raise fail("token", UserErrorCode.INVITATION_USED, "This invitation was accepted already: sign in instead.")
    return invitation


async def accept_invitation(
    actor: Actor,
    settings: Settings,
    *,
    token: str,
    name: str | None,
    password: str | None,
    organization_name: str | None,
    session_client: SessionClient | None = None,
) -> tuple[dict[str, Any], IssuedSession | None]:
    """Creates (or uses the signed-in) user, the organization with that user as administrator,
    and the INVITATION relationship. Returns the organization and, for a new user, a session."""
    invitation = await _open_invitation(token)
    org_name = clean_name(organization_name, "organization_name") if organization_name else invitation.organization_name
    new_user = actor.user_id is None
    if not new_user and await Membership.filter(organization_id=invitation.partner_id, user_id=actor.user_id).exists():
        raise fail("token", UserErrorCode.SELF_REFERRAL, "Members of the inviting partner cannot accept it.")
    password_hash = None
    if new_user:
        checks = Checks()
        checks.run("name", clean_name, name or "")
        checks.add(*password_problems(password or "", [invitation.email, name or ""]))
        user_name = checks.result()["name"]
        if await User.filter(email=invitation.email).exists():
            # A concurrent accept of this very link may have made the account meanwhile: then
            # the link is used (INVITATION_USED), not the address taken by someone else.
            await _open_invitation(token)
            raise fail(
                "token",
                UserErrorCode.EMAIL_TAKEN,
                "An account with this email address exists: sign in, then open the link again.",
            )
        password_hash = await hash_password(settings, password or "")
    moment = now()
    session = None
    try:
        async with in_transaction():
            # The conditional update is the guard: of two concurrent accepts, one changes the row.
            claimed = await Invitation.filter(
                id=invitation.id, status=InvitationStatus.OPEN, expires_at__gt=moment
            ).update(status=InvitationStatus.ACCEPTED, accepted_at=moment)
            if not claimed:
                raise fail("token", UserErrorCode.INVITATION_USED, "This invitation was accepted already.")
            if new_user:
                user = await User.create(
                    email=invitation.email,
                    name=user_name,
                    password_hash=password_hash,
                    language=invitation.language,
                    email_verified_at=moment,  # the link came to this address
                )
                user_id = user.id
                actor = Actor(via=Via.SESSION, user_id=user_id)
            else:
                user_id = actor.user_id
                await mark_verified(user_id, invitation.email)  # if it is the signed-in user's address
            organization = await Organization.create(
                name=org_name, search_name=search_key(org_name), language=invitation.language
            )
            membership = await Membership.create(
                organization_id=organization.id, user_id=user_id, role=Role.ADMINISTRATOR, permissions=[]
            )
            await Invitation.filter(id=invitation.id).update(customer_id=organization.id)
            relationship = await CustomerRelationship.create(
                customer_id=organization.id,
                partner_id=invitation.partner_id,
                source=RelationshipSource.INVITATION,
                started_at=moment,
                **customer_names(org_name),
            )
            for action, target, target_id in (
                ("invitation.accept", "Invitation", invitation.id),
                ("organization.create", "Organization", organization.id),
                ("membership.create", "Membership", membership.id),
                ("service_partner.link", "CustomerRelationship", relationship.id),
            ):
                await audit.record(
                    actor,
                    action,
                    target,
                    target_id,
                    organization_id=organization.id,
                    changes={"source": RelationshipSource.INVITATION.value}
                    if target == "CustomerRelationship"
                    else None,
                )
            partner_name = await Organization.filter(id=invitation.partner_id).first().values_list("name", flat=True)
            await notify_administrators(
                invitation.partner_id,
                "service_partner_changed",
                {
                    "customer_name": org_name,
                    "partner_name": partner_name,
                    "change": "linked",
                    "audience": "partner",
                },
            )
            await webhooks.publish(
                WebhookEventType.CUSTOMER_LINKED,
                webhooks.relationship_data(
                    relationship.id, organization.id, invitation.partner_id, source=RelationshipSource.INVITATION.value
                ),
            )
            if new_user:
                user_row = {field: getattr(user, field) for field in USER_FIELDS}
                session = await issue_session(settings, user_row, client=session_client)
    except IntegrityError as error:  # the address was registered meanwhile
        raise fail(
            "token", UserErrorCode.EMAIL_TAKEN, "An account with this email address exists: sign in first."
        ) from error
    actor.forget_memberships()
    row = {field: getattr(organization, field) for field in ORGANIZATION_FIELDS}
    return row, session


async def expire_invitations(settings: Settings) -> str:
    """The invitation expiry job (idempotent): OPEN customer and membership invitations past expiry
    become EXPIRED, and the memberships a service partner's staff invited end once its grant expired."""
    expired = await Invitation.filter(status=InvitationStatus.OPEN, expires_at__lte=now()).update(
        status=InvitationStatus.EXPIRED
    )
    expired += await expire_membership_invitations()
    ended = await end_lapsed_grant_memberships()
    return f"{expired} invitation(s) expired" + (f", {ended} membership(s) ended with their grant" if ended else "")

"""Writing and reading the audit log. `record` runs inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from partner_portal.models.audit import AuditEvent
from partner_portal.models.clock import now
from partner_portal.models.customers import ManagementSession
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.requirements import AUDIT_READER
from partner_portal.resolvers.pagination import Page, paginate

AUDIT_FIELDS = (
    "id",
    "organization_id",
    "management_session_id",
    "partner_organization_id",
    "actor_user_id",
    "api_key_id",
    "via",
    "action",
    "target_type",
    "target_id",
    "changes",
    "created_at",
)


async def record(
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | str,
    *,
    organization_id: int | None = None,
    acting: MembershipInfo | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Append one event; call it inside the transaction of the change it describes.

    `acting` is the membership the change was made through; when it is a management
    session, the event names the session and the partner, and the session stays active.
    """
    session_id = acting.management_session_id if acting else None
    if organization_id is None and acting is not None:
        organization_id = acting.organization_id
    if session_id is not None:
        await ManagementSession.filter(id=session_id).update(last_activity_at=now())
    await AuditEvent.create(
        organization_id=organization_id,
        management_session_id=session_id,
        partner_organization_id=acting.partner_organization_id if acting else None,
        actor_user_id=actor.user_id,
        api_key_id=actor.api_key_id,
        via=actor.via.value,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        changes=changes or {},
        created_at=now(),
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"from": old, "to": new}} for the fields whose value changed."""
    return {key: {"from": before.get(key), "to": value} for key, value in after.items() if before.get(key) != value}


async def list_events(actor: Actor, *, organization_id: int | None, first: int | None, after: str | None) -> Page:
    """Newest first. Administrators see their organizations' events, operators all."""
    await AUDIT_READER.enforce(actor, organization_id)
    queryset = await scoping.visible_audit_events(actor)
    if organization_id is not None:
        queryset = queryset.filter(organization_id=organization_id)
    return await paginate(queryset, fields=AUDIT_FIELDS, first=first, after=after, order=("-id",))


async def get_event(actor: Actor, event_id: int) -> dict[str, Any] | None:
    return await (await scoping.visible_audit_events(actor)).filter(id=event_id).first().values(*AUDIT_FIELDS)

"""GraphQL for "my data": the export of what the portal holds about the viewer, and deleting the account.

The export is one JSON document (`viewerDataExport`) a frontend offers as a download: a section per
kind of record, each with its `purpose`, with the same global ids and ISO 8601 times (UTC) as the
rest of the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import my_data
from partner_portal.schema.common import Info, Payload, global_id, run_mutation
from partner_portal.schema.requires import Requires

EXPORT_FORMAT = "partner-portal/data-export/1"

PURPOSES = {
    "account": "Your account: the sign-in address we write to, the name others see, the language of mails. "
    "Kept while the account exists.",
    "signInFailures": "Failed sign-ins for your address, counted to lock out guessing; ended by a successful sign-in.",
    "operator": "Your permissions as the vendor's staff, if you are an operator.",
    "recoveryCodes": "How many recovery codes for two-factor sign-in you have (only their fingerprints are stored).",
    "memberships": "The organizations you belong to, with your role and permissions.",
    "sessions": "Your sign-ins: the device (User-Agent) and address each began from, to show and end them. "
    "The token itself is stored only as a fingerprint.",
    "managementSessions": "The sessions you opened as partner staff on customers' organizations; the "
    "customer sees what you did in them.",
    "links": "Single-use links mailed to you (password reset, address verification, unlock); stored only "
    "as fingerprints, with when they were made and used.",
    "apiKeys": "The integrators' API keys you created (the vendor's; they stay after your account is deleted).",
    "membershipInvitations": "Invitations to join an organization sent to your address.",
    "customerInvitations": "Invitations from partners to your address to become their customer.",
    "partnerApplications": "Partner applications you submitted or that name you as the contact.",
    "mails": "Mails the portal sent or will send to you (subject and status; the text is in your mailbox).",
    "auditEvents": "The audit log's record of what you did, and of what was done to your account (with its "
    "details); what you did for an organization is also in its audit log. Kept for accountability.",
}


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def _id(type_name: str, pk: int | str | None) -> str | None:
    return None if pk is None else str(global_id(type_name, pk))


def _value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _organization(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {"id": _id("Organization", row[f"{key}_id"]), "name": row[f"{key}__name"]}


def _record(name: str, data: dict[str, Any] | None) -> dict[str, Any]:
    return {"purpose": PURPOSES[name], "data": data}


def _list(name: str, section: my_data.Section, item: Any) -> dict[str, Any]:
    return {"purpose": PURPOSES[name], "total": section.total, "items": [item(row) for row in section.rows]}


def _audit_event(user_id: int, row: dict[str, Any]) -> dict[str, Any]:
    about_you = row["target_type"] == "User" and row["target_id"] == str(user_id)
    return {
        "id": _id("AuditEvent", row["id"]),
        "action": row["action"],
        "via": _value(row["via"]),
        "byYou": row["actor_user_id"] == user_id,
        "organizationId": _id("Organization", row["organization_id"]),
        "targetId": _id(row["target_type"], row["target_id"]),
        # other events' details may name other people: their organization's audit log has them
        "changes": row["changes"] if about_you else None,
        "createdAt": _time(row["created_at"]),
    }


def export_document(export: my_data.DataExport) -> dict[str, Any]:
    """The export as the JSON document the API answers."""
    account = export.account
    user_id = account["id"]
    failures = export.sign_in_failures
    operator = export.operator
    return {
        "format": EXPORT_FORMAT,
        "exportedAt": _time(export.exported_at),
        "account": _record(
            "account",
            {
                "id": _id("User", user_id),
                "email": account["email"],
                "name": account["name"],
                "language": account["language"],
                "createdAt": _time(account["created_at"]),
                "emailVerifiedAt": _time(account["email_verified_at"]),
                "twoFactorEnabledAt": _time(account["totp_enabled_at"]),
                "hasPassword": account["has_password"],
                "singleSignOn": (
                    {"issuer": account["oidc_issuer"], "subject": account["oidc_subject"]}
                    if account["oidc_subject"] is not None
                    else None
                ),
            },
        ),
        "signInFailures": _record(
            "signInFailures",
            failures
            and {
                "failures": failures["failures"],
                "lockedUntil": _time(failures["locked_until"]),
                "lastFailureAt": _time(failures["last_failure_at"]),
            },
        ),
        "operator": _record(
            "operator",
            operator and {"permissions": operator["permissions"], "since": _time(operator["created_at"])},
        ),
        "recoveryCodes": _record("recoveryCodes", export.recovery_codes),
        "memberships": _list(
            "memberships",
            export.memberships,
            lambda row: {
                "id": _id("Membership", row["id"]),
                "organization": _organization(row, "organization"),
                "role": _value(row["role"]),
                "permissions": row["permissions"],
                "createdAt": _time(row["created_at"]),
            },
        ),
        "sessions": _list(
            "sessions",
            export.sessions,
            lambda row: {
                "id": _id("SessionToken", row["id"]),
                "createdAt": _time(row["created_at"]),
                "lastUsedAt": _time(row["last_used_at"]),
                "expiresAt": _time(row["expires_at"]),
                "endedAt": _time(row["revoked_at"]),
                "userAgent": row["user_agent"],
                "clientAddress": row["client_address"],
                "secondFactorAt": _time(row["two_factor_at"]),
            },
        ),
        "managementSessions": _list(
            "managementSessions",
            export.management_sessions,
            lambda row: {
                "id": _id("ManagementSession", row["id"]),
                "partner": _organization(row, "partner"),
                "customer": _organization(row, "customer"),
                "startedAt": _time(row["started_at"]),
                "lastActivityAt": _time(row["last_activity_at"]),
                "endedAt": _time(row["ended_at"]),
            },
        ),
        "links": _list(
            "links",
            export.links,
            lambda row: {
                "kind": row["kind"],
                "email": row.get("email"),
                "createdAt": _time(row["created_at"]),
                "expiresAt": _time(row["expires_at"]),
                "usedAt": _time(row["used_at"]),
            },
        ),
        "apiKeys": _list(
            "apiKeys",
            export.api_keys,
            lambda row: {
                "id": _id("ApiKey", row["id"]),
                "name": row["name"],
                "prefix": row["prefix"],
                "scopes": row["scopes"],
                "createdAt": _time(row["created_at"]),
                "revokedAt": _time(row["revoked_at"]),
                "lastUsedAt": _time(row["last_used_at"]),
            },
        ),
        "membershipInvitations": _list(
            "membershipInvitations",
            export.membership_invitations,
            lambda row: {
                "id": _id("MembershipInvitation", row["id"]),
                "organization": _organization(row, "organization"),
                "email": row["email"],
                "role": _value(row["role"]),
                "status": _value(row["status"]),
                "createdAt": _time(row["created_at"]),
                "expiresAt": _time(row["expires_at"]),
                "decidedAt": _time(row["decided_at"]),
            },
        ),
        "customerInvitations": _list(
            "customerInvitations",
            export.customer_invitations,
            lambda row: {
                "id": _id("Invitation", row["id"]),
                "partner": _organization(row, "partner"),
                "email": row["email"],
                "organizationName": row["organization_name"],
                "message": row["message"],
                "status": _value(row["status"]),
                "createdAt": _time(row["created_at"]),
                "expiresAt": _time(row["expires_at"]),
                "acceptedAt": _time(row["accepted_at"]),
            },
        ),
        "partnerApplications": _list(
            "partnerApplications",
            export.partner_applications,
            lambda row: {
                "id": _id("PartnerApplication", row["id"]),
                "organization": _organization(row, "organization"),
                "status": _value(row["status"]),
                "legalName": row["legal_name"],
                "contactName": row["contact_name"],
                "contactEmail": row["contact_email"],
                "contactPhone": row["contact_phone"],
                "createdAt": _time(row["created_at"]),
                "decidedAt": _time(row["decided_at"]),
            },
        ),
        "mails": _list(
            "mails",
            export.mails,
            lambda row: {
                "id": _id("OutboxMessage", row["id"]),
                "template": row["payload"].get("template"),
                "subject": row["payload"].get("subject"),
                "status": _value(row["status"]),
                "createdAt": _time(row["created_at"]),
                "sentAt": _time(row["sent_at"]),
            },
        ),
        "auditEvents": _list("auditEvents", export.audit_events, lambda row: _audit_event(user_id, row)),
    }


@strawberry.input(description="The confirmation of deleting the viewer's account.")
class DeleteAccountInput:
    confirmation: str = strawberry.field(description=f'The word "{my_data.CONFIRMATION}", typed by the person.')
    password: str | None = strawberry.field(
        default=None,
        description="The account's password: required for an account with one; single-sign-on accounts have none.",
    )


@strawberry.type(description="When the account was deleted, or why it was not.")
class DeleteAccountPayload(Payload):
    deleted_at: datetime | None = strawberry.field(
        default=None,
        description="When the account was deleted: its sessions are ended and it cannot sign in again; null "
        "when it was not deleted.",
    )


@strawberry.type
class MyDataQuery:
    @strawberry.field(
        description="Everything the portal holds about the viewer, as one JSON document to download: a section "
        "per kind of record, each with its `purpose`; lists are newest first, at most 1000 items, with their "
        "`total`. Ids are the API's global ids, times ISO 8601 in UTC. Counted like a look-up "
        "(`CODE_LOOKUP_RATE` per viewer; THROTTLED past it).",
        extensions=[Requires(SIGNED_IN)],
    )
    async def viewer_data_export(self, info: Info) -> JSON:
        await info.context.throttle_lookup("data-export")  # some 25 queries: bounded like a look-up
        return export_document(await my_data.export_data(info.context.actor))


@strawberry.type
class MyDataMutation:
    @strawberry.mutation(
        description="Delete the viewer's account. Refused (in `errors`) while it is an operator "
        "(OPERATOR_ACCOUNT) or the only administrator of an organization with other members "
        "(LAST_ADMINISTRATOR). Sessions, links, recovery codes and memberships are deleted; the account "
        "stays pseudonymized where the ledger and the audit log refer to it, and its address is free again.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def delete_account(self, info: Info, input: DeleteAccountInput) -> DeleteAccountPayload:
        ctx = info.context
        change = my_data.delete_account(
            ctx.actor, ctx.settings, password=input.password, confirmation=input.confirmation
        )
        return await run_mutation(DeleteAccountPayload, change, lambda moment: {"deleted_at": moment})

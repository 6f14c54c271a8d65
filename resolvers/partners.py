"""Becoming a partner: applications, their review, partner profiles, the public directory."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from partner_portal.models.clock import now
from partner_portal.models.enums import ApplicationStatus, Program
from partner_portal.models.organizations import Membership, Organization
from partner_portal.models.partners import PartnerApplication, PartnerProfile, ProgramEnrollment
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Role
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.partners import partner_profile
from partner_portal.permissions.requirements import PARTNER_APPLICANT, PARTNER_PORTAL, PARTNER_REVIEWER
from partner_portal.resolvers import audit, webhooks
from partner_portal.resolvers.errors import UserErrorCode, fail, query_argument
from partner_portal.resolvers.mail import MailLimits, queue_mail
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.validation import (
    Checks,
    clean_country,
    clean_currency,
    clean_name,
    clean_phone,
    clean_text,
    clean_vat_id,
    clean_website,
    normalize_email,
)

APPLICATION_FIELDS = (
    "id",
    "organization_id",
    "status",
    "legal_name",
    "website",
    "country",
    "vat_id",
    "contact_name",
    "contact_email",
    "contact_phone",
    "programs",
    "message",
    "created_at",
    "decided_at",
    "decision_note",
    "approved_programs",
)
DIRECTORY_FIELDS = (
    "id",
    "code",
    "organization__name",
    "organization__country",
    "organization__website",
    "organization_id",
)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# --- applications ----------------------------------------------------------------------------------


def clean_programs(programs: Iterable[Program], field: str = "programs") -> list[str]:
    chosen = sorted({Program(p).value for p in programs})
    if not chosen:
        raise fail(field, UserErrorCode.REQUIRED, "Choose at least one program.")
    return chosen


def _validated_application(form: dict[str, Any]) -> dict[str, Any]:
    checks = Checks()
    for field, check in {
        "legal_name": lambda: clean_name(form["legal_name"], "legal_name"),
        "website": lambda: clean_website(form["website"]) or _required("website"),
        "country": lambda: clean_country(form["country"]) or _required("country"),
        "contact_name": lambda: clean_name(form["contact_name"], "contact_name"),
        "contact_email": lambda: normalize_email(form["contact_email"], "contact_email"),
        "contact_phone": lambda: clean_phone(form.get("contact_phone")),
        "programs": lambda: clean_programs(form["programs"]),
        "message": lambda: clean_text(form.get("message"), "message"),
    }.items():
        checks.run(field, check)
    checks.run("vat_id", clean_vat_id, form.get("vat_id"), checks.values.get("country"))
    return checks.result()


def _required(field: str) -> None:
    raise fail(field, UserErrorCode.REQUIRED, "This field is required.")


async def request_partner_status(actor: Actor, organization_id: int | None, form: dict[str, Any]) -> dict[str, Any]:
    """Administrators and REQUEST_PARTNER_STATUS holders apply; one open application at a time."""
    membership = await PARTNER_APPLICANT.enforce(actor, organization_id)
    values = _validated_application(form)
    org_id = membership.organization_id
    async with in_transaction():
        await Organization.select_for_update().filter(id=org_id).first()  # one application at a time
        if await PartnerApplication.filter(organization_id=org_id, status=ApplicationStatus.PENDING).exists():
            raise fail(None, UserErrorCode.APPLICATION_PENDING, "Your organization's application is being reviewed.")
        if await PartnerProfile.filter(organization_id=org_id).exists():
            raise fail(None, UserErrorCode.ALREADY_PARTNER, "Your organization is a partner already.")
        application = await PartnerApplication.create(
            organization_id=org_id,
            status=ApplicationStatus.PENDING,
            submitted_by_id=actor.user_id,
            created_at=now(),
            **values,
        )
        await audit.record(
            actor,
            "partner_application.submit",
            "PartnerApplication",
            application.id,
            acting=membership,
            changes={"programs": values["programs"]},
        )
    return await PartnerApplication.filter(id=application.id).first().values(*APPLICATION_FIELDS)


async def list_applications(
    actor: Actor, *, status: ApplicationStatus | None, first: int | None, after: str | None
) -> Page:
    await PARTNER_REVIEWER.enforce(actor)
    queryset = await scoping.visible_partner_applications(actor)
    if status is not None:
        queryset = queryset.filter(status=status)
    return await paginate(queryset, fields=APPLICATION_FIELDS, first=first, after=after, order=("-id",))


async def get_application(actor: Actor, application_id: int) -> dict[str, Any] | None:
    """Operators reviewing partners, and the applying organization's members."""
    visible = await scoping.visible_partner_applications(actor)
    return await visible.filter(id=application_id).first().values(*APPLICATION_FIELDS)


async def _locked_pending(application_id: int) -> PartnerApplication:
    application = await PartnerApplication.select_for_update().get_or_none(id=application_id)
    if application is None:
        raise NotFound()
    if application.status != ApplicationStatus.PENDING:
        raise fail(
            None, UserErrorCode.APPLICATION_DECIDED, f"This application was {application.status.lower()} already."
        )
    return application


async def _administrator_emails(organization_id: int) -> list[tuple[str, str]]:
    """(email, language) of the organization's administrators."""
    rows = await Membership.filter(organization_id=organization_id, role=Role.ADMINISTRATOR).values(
        "user__email", "user__language"
    )
    return [(row["user__email"], row["user__language"]) for row in rows]


async def notify_administrators(
    organization_id: int,
    template: str,
    context: dict[str, Any],
    *,
    limits: MailLimits | None = None,
    caused_by: int | None = None,
) -> None:
    """Queue a mail to each administrator (inside the caller's transaction). With `limits`, a notice
    the organization `caused_by` made happen goes out within its notice rate, once per debounce window."""
    for email, language in await _administrator_emails(organization_id):
        if limits is None or await limits.allow_notice(caused_by or organization_id, email, template, context):
            await queue_mail(to=email, template=template, language=language, context=context)


def random_code(length: int, alphabet: str = CODE_ALPHABET) -> str:
    """An unguessable code people can type: no look-alike characters (0/O, 1/I)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


async def approve_application(
    actor: Actor, application_id: int, *, programs: Iterable[Program], note: str | None, payout_currency: str
) -> dict[str, Any]:
    """Creates the partner profile with a public code and enrolls it in the chosen programs."""
    await PARTNER_REVIEWER.enforce(actor)
    chosen = clean_programs(programs)
    currency = clean_currency(payout_currency, "payout_currency")
    clean_note = clean_text(note, "note")
    async with in_transaction():
        application = await _locked_pending(application_id)
        moment = now()
        await PartnerApplication.filter(id=application_id).update(
            status=ApplicationStatus.APPROVED,
            decided_at=moment,
            decided_by_id=actor.user_id,
            decision_note=clean_note,
            approved_programs=chosen,
        )
        profile = await PartnerProfile.filter(organization_id=application.organization_id).first()
        if profile is None:
            for _ in range(5):  # a collision of 8 characters from 32 is unlikely; retry anyway
                try:
                    async with in_transaction():
                        profile = await PartnerProfile.create(
                            organization_id=application.organization_id,
                            code=random_code(8),
                            payout_currency=currency,
                            approved_at=moment,
                        )
                    break
                except IntegrityError:
                    continue
        for program in chosen:
            await ProgramEnrollment.get_or_create(
                partner_id=application.organization_id, program=program, defaults={"enrolled_at": moment}
            )
        await audit.record(
            actor,
            "partner_application.approve",
            "PartnerApplication",
            application_id,
            organization_id=application.organization_id,
            changes={"programs": chosen, "note": clean_note, "code": profile.code},
        )
        organization_name = (
            await Organization.filter(id=application.organization_id).first().values_list("name", flat=True)
        )
        await notify_administrators(
            application.organization_id,
            "application_approved",
            {
                "organization_name": organization_name,
                "programs": chosen,
                "partner_code": profile.code,
                "note": clean_note,
            },
        )
        await webhooks.publish(
            WebhookEventType.PARTNER_APPROVED,
            {
                "id": webhooks.global_id("Organization", application.organization_id),
                "name": organization_name,
                "code": profile.code,
                "programs": chosen,
                "payoutCurrency": profile.payout_currency,
                "applicationId": webhooks.global_id("PartnerApplication", application_id),
            },
        )
    return await PartnerApplication.filter(id=application_id).first().values(*APPLICATION_FIELDS)


async def reject_application(actor: Actor, application_id: int, *, note: str) -> dict[str, Any]:
    await PARTNER_REVIEWER.enforce(actor)
    clean_note = clean_text(note, "note")
    if not clean_note:
        raise fail("note", UserErrorCode.REQUIRED, "Tell the applicant why.")
    async with in_transaction():
        application = await _locked_pending(application_id)
        await PartnerApplication.filter(id=application_id).update(
            status=ApplicationStatus.REJECTED, decided_at=now(), decided_by_id=actor.user_id, decision_note=clean_note
        )
        await audit.record(
            actor,
            "partner_application.reject",
            "PartnerApplication",
            application_id,
            organization_id=application.organization_id,
            changes={"note": clean_note},
        )
        organization_name = (
            await Organization.filter(id=application.organization_id).first().values_list("name", flat=True)
        )
        await notify_administrators(
            application.organization_id,
            "application_rejected",
            {
                "organization_name": organization_name,
                "note": clean_note,
            },
        )
    return await PartnerApplication.filter(id=application_id).first().values(*APPLICATION_FIELDS)


# --- profile and directory ---------------------------------------------------------------------


async def update_profile(
    actor: Actor, partner_id: int | None, *, listed_in_directory: bool | None, payout_currency: str | None
) -> dict[str, Any]:
    membership, profile = await PARTNER_PORTAL.enforce(actor, partner_id)
    values: dict[str, Any] = {}
    if listed_in_directory is not None:
        values["listed_in_directory"] = listed_in_directory
    if payout_currency is not None:
        values["payout_currency"] = clean_currency(payout_currency, "payout_currency")
    changes = audit.diff(profile, values)
    if changes:
        async with in_transaction():
            await PartnerProfile.filter(id=profile["id"]).update(**values)
            await audit.record(
                actor, "partner_profile.update", "PartnerProfile", profile["id"], acting=membership, changes=changes
            )
    return await partner_profile(membership.organization_id)


async def directory(*, country: str | None, program: Program | None, first: int | None, after: str | None) -> Page:
    """Approved partners that opted in: public, no sign-in needed."""
    queryset = PartnerProfile.filter(listed_in_directory=True)
    wanted_country = query_argument(clean_country, country) if country else None
    if wanted_country:
        queryset = queryset.filter(organization__country=wanted_country)
    if program is not None:
        queryset = queryset.filter(
            organization_id__in=Subquery(ProgramEnrollment.filter(program=program).values("partner_id"))
        )
    return await paginate(queryset, fields=DIRECTORY_FIELDS, first=first, after=after)


async def enrolled_programs(organization_ids: list[int]) -> dict[int, list[str]]:
    """Programs per partner organization, in one query (for loaders)."""
    rows = (
        await ProgramEnrollment.filter(partner_id__in=organization_ids)
        .order_by("program")
        .values("partner_id", "program")
    )
    result: dict[int, list[str]] = {i: [] for i in organization_ids}
    for row in rows:
        result[row["partner_id"]].append(row["program"])
    return result

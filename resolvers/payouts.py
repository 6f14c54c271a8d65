"""Payouts: how a partner is paid, claiming the approved balance, the operators' decisions,
the monthly payout run and the payment files (PayPal mass-payout CSV, SEPA pain.001).

A payout claims its lines with one conditional update inside the transaction that creates
it (`UPDATE commissions SET payout_id = new WHERE partner_id = … AND status = 'APPROVED'
AND payout_id IS NULL AND currency = …`) and is worth exactly what that update claimed.
Two concurrent requests cannot claim the same line: on PostgreSQL the second update waits
for the first transaction's row locks and then skips the rows it claimed; on SQLite
transactions run one at a time. A request whose claim is below the threshold (for the
loser of such a race: nothing) raises BELOW_THRESHOLD, which rolls the payout back.

States: REQUESTED → APPROVED → PAID, and REQUESTED | APPROVED → REJECTED, each change a
conditional update on the current status. PAID marks the payout's lines PAID; REJECTED
releases them (payout_id NULL again: payable by the next payout). Every change mails the
partner's administrators through the outbox, in the change's transaction.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from partner_portal.integrations.spreadsheet import safe_cell, safe_row
from partner_portal.models.clock import now
from partner_portal.models.commissions import Commission
from partner_portal.models.enums import CommissionStatus, PayoutMethod, PayoutStatus
from partner_portal.models.organizations import Organization
from partner_portal.models.partners import PartnerProfile
from partner_portal.models.payouts import Payout, PayoutSettings
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import Via
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import PARTNER_PORTAL, PAYOUT_LIST_READER, PAYOUT_MANAGER, PAYOUT_READER
from partner_portal.resolvers import audit, webhooks
from partner_portal.resolvers.catalog import MissingExchangeRate, threshold_in
from partner_portal.resolvers.commissions import COMMISSION_FIELDS
from partner_portal.resolvers.errors import Problem, UserErrorCode, UserInputError, fail
from partner_portal.resolvers.money import to_decimal
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.partners import notify_administrators
from partner_portal.resolvers.validation import Checks, clean_currency, clean_name, clean_text, normalize_email
from partner_portal.settings import Settings

SETTINGS_FIELDS = (
    "id",
    "partner_id",
    "method",
    "paypal_email",
    "account_holder",
    "iban",
    "bic",
    "automatic",
    "updated_at",
)
PAYOUT_FIELDS = (
    "id",
    "partner_id",
    "partner__name",
    "status",
    "amount",
    "currency",
    "method",
    "destination",
    "requested_by_id",
    "requested_at",
    "decided_at",
    "paid_at",
    "reference",
    "note",
)
MAX_REFERENCE_LENGTH = 200
SEPA_CURRENCY = "EUR"
PAYOUT_EVENTS = {
    PayoutStatus.REQUESTED: WebhookEventType.PAYOUT_REQUESTED,
    PayoutStatus.APPROVED: WebhookEventType.PAYOUT_APPROVED,
    PayoutStatus.PAID: WebhookEventType.PAYOUT_PAID,
    PayoutStatus.REJECTED: WebhookEventType.PAYOUT_REJECTED,
}

logger = logging.getLogger("partner_portal.payouts")


# --- payout settings -----------------------------------------------------------------------------------


def clean_iban(raw: str | None, field: str = "iban") -> str:
    if not (raw or "").strip():
        raise fail(field, UserErrorCode.REQUIRED, "Enter the IBAN of the account.")
    try:
        return IBAN(raw.strip(), validate_bban=True).compact
    except SchwiftyException as error:
        raise fail(field, UserErrorCode.INVALID_VALUE, f"This IBAN is not valid: {error}.") from error


def clean_bic(raw: str | None, iban: str | None, field: str = "bic") -> str | None:
    """A given BIC is validated; without one, the BIC schwifty's bank registry knows for the IBAN."""
    if not (raw or "").strip():
        if iban is None:
            return None
        known = IBAN(iban).bic
        return known.compact if known is not None else None
    try:
        return BIC(raw.strip()).compact
    except SchwiftyException as error:
        raise fail(field, UserErrorCode.INVALID_VALUE, f"This BIC is not valid: {error}.") from error


def mask_iban(iban: str | None) -> str | None:
    """Every character but the last four hidden: DE89370400440532013000 → ******************3000."""
    if not iban:
        return None
    return "*" * (len(iban) - 4) + iban[-4:]


def _paypal_email(raw: str) -> str:
    """A valid address that goes into PayPal's payout file unchanged: one the CSV formula guard
    would alter (it starts with = + or -, or holds `|=`...) is refused rather than paid elsewhere."""
    email = normalize_email(raw, "paypal_email")
    if safe_cell(email) != email:
        raise fail(
            "paypal_email",
            UserErrorCode.INVALID_EMAIL,
            "This address would read as a spreadsheet formula in the payout file: use another one.",
        )
    return email


def _validated_settings(
    method: PayoutMethod, paypal_email: str | None, account_holder: str | None, iban: str | None, bic: str | None
) -> dict[str, Any]:
    """The columns to store for the method; the other method's columns are cleared. All problems at once."""
    checks = Checks(method=PayoutMethod(method).value, paypal_email=None, account_holder=None, iban=None, bic=None)
    if method is PayoutMethod.PAYPAL:
        if not (paypal_email or "").strip():
            checks.add(Problem("paypal_email", UserErrorCode.REQUIRED, "Enter the email of your PayPal account."))
        else:
            checks.run("paypal_email", _paypal_email, paypal_email)
    else:
        checks.run("account_holder", clean_name, account_holder or "", "account_holder")
        checks.run("iban", clean_iban, iban)
        checks.run("bic", clean_bic, bic, checks.values["iban"])
    return checks.result()


async def get_settings(actor: Actor, partner_id: int | None) -> dict[str, Any] | None:
    profile = await PAYOUT_READER.enforce(actor, partner_id)
    return await settings_of(profile)


async def settings_of(profile: dict[str, Any]) -> dict[str, Any] | None:
    """The partner's payout settings, with its profile's payout currency."""
    row = await PayoutSettings.filter(partner_id=profile["organization_id"]).first().values(*SETTINGS_FIELDS)
    if row is not None:
        row["payout_currency"] = profile["payout_currency"]
    return row


async def set_settings(
    actor: Actor,
    partner_id: int | None,
    *,
    method: PayoutMethod,
    paypal_email: str | None,
    account_holder: str | None,
    iban: str | None,
    bic: str | None,
    automatic: bool,
) -> dict[str, Any]:
    """MANAGE_PARTNER_PORTAL holders. The payout currency is the partner profile's (updatePartnerProfile)."""
    membership, profile = await PARTNER_PORTAL.enforce(actor, partner_id)
    partner = membership.organization_id
    values = {
        **_validated_settings(PayoutMethod(method), paypal_email, account_holder, iban, bic),
        "automatic": bool(automatic),
    }
    async with in_transaction():
        before = await PayoutSettings.filter(partner_id=partner).first().values(*SETTINGS_FIELDS) or {}
        try:
            async with in_transaction():
                await PayoutSettings.update_or_create(defaults={**values, "updated_at": now()}, partner_id=partner)
        except IntegrityError:  # a concurrent first save won the unique partner: update that row
            await PayoutSettings.filter(partner_id=partner).update(**values, updated_at=now())
        changes = audit.diff(before, values)
        if "iban" in changes:  # never the whole IBAN in the audit log
            changes["iban"] = {k: mask_iban(v) for k, v in changes["iban"].items()}
        await audit.record(actor, "payout_settings.set", "PayoutSettings", partner, acting=membership, changes=changes)
    return await settings_of(profile)


# --- the balance and the threshold -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    approved: int
    threshold: int | None  # None while no exchange rate covers the payout currency

    @property
    def missing(self) -> int | None:
        return None if self.threshold is None else max(0, self.threshold - self.approved)


async def _approved_unclaimed(partner_id: int, currency: str) -> int:
    """Approved lines no payout holds, in the payout currency (negative refund lines included)."""
    row = (
        await Commission.filter(
            partner_id=partner_id, status=CommissionStatus.APPROVED, payout_id=None, currency=currency
        )
        .annotate(total=Sum("amount"))
        .first()
        .values("total")
    )
    return int((row or {}).get("total") or 0)


async def balance(actor: Actor, settings: Settings, partner_id: int | None) -> Balance:
    profile = await PAYOUT_READER.enforce(actor, partner_id)
    partner, currency = profile["organization_id"], profile["payout_currency"]
    try:
        threshold = await threshold_in(settings, currency, now())
    except MissingExchangeRate:
        threshold = None
    return Balance(currency, await _approved_unclaimed(partner, currency), threshold)


def _money(minor: int, currency: str) -> str:
    return f"{to_decimal(minor, currency)} {currency}"


# --- claiming the balance -------------------------------------------------------------------------------------


async def request_payout(actor: Actor, settings: Settings, partner_id: int | None) -> dict[str, Any]:
    """MANAGE_PARTNER_PORTAL holders claim the whole approved balance once it reaches the threshold."""
    membership, profile = await PARTNER_PORTAL.enforce(actor, partner_id)
    payout_id = await _claim(settings, membership.organization_id, profile["payout_currency"], actor, membership)
    return await _payout_row(payout_id)


async def _claim(
    settings: Settings, partner_id: int, currency: str, actor: Actor, acting: MembershipInfo | None
) -> int:
    """Create the payout in the partner's payout `currency` and claim the lines in one transaction;
    BELOW_THRESHOLD rolls it back."""
    destination = await PayoutSettings.filter(partner_id=partner_id).first().values(*SETTINGS_FIELDS)
    if destination is None:
        raise fail(None, UserErrorCode.NO_PAYOUT_SETTINGS, "Set how you want to be paid before requesting a payout.")
    moment = now()
    try:
        threshold = await threshold_in(settings, currency, moment)
    except MissingExchangeRate as error:
        raise fail(None, UserErrorCode.NO_EXCHANGE_RATE, str(error)) from error
    async with in_transaction():
        payout = await Payout.create(
            partner_id=partner_id,
            status=PayoutStatus.REQUESTED,
            amount=0,
            currency=currency,
            method=destination["method"],
            destination=_destination(destination),
            requested_by_id=actor.user_id,
            requested_at=moment,
        )
        await Commission.filter(
            partner_id=partner_id, status=CommissionStatus.APPROVED, payout_id=None, currency=currency
        ).update(payout_id=payout.id)
        row = (
            await Commission.filter(partner_id=partner_id, payout_id=payout.id)
            .annotate(total=Sum("amount"))
            .first()
            .values("total")
        )
        amount = int((row or {}).get("total") or 0)  # PostgreSQL sums bigint as numeric
        if amount <= 0 or amount < threshold:
            missing = max(threshold - amount, 1)
            raise fail(
                None,
                UserErrorCode.BELOW_THRESHOLD,
                f"The approved balance is {_money(amount, currency)}; payouts start at "
                f"{_money(threshold, currency)}: {_money(missing, currency)} is missing.",
            )
        await Payout.filter(id=payout.id).update(amount=amount)
        await audit.record(
            actor,
            "payout.request",
            "Payout",
            payout.id,
            organization_id=partner_id,
            acting=acting,
            changes={"amount": amount, "currency": currency, "automatic": acting is None},
        )
        await _notify(partner_id, payout.id)
    return payout.id


def _destination(settings_row: dict[str, Any]) -> dict[str, Any]:
    """Where the money goes, as it stood when the payout was requested."""
    if settings_row["method"] == PayoutMethod.PAYPAL:
        return {"paypal_email": settings_row["paypal_email"]}
    return {"account_holder": settings_row["account_holder"], "iban": settings_row["iban"], "bic": settings_row["bic"]}


async def run_monthly_payouts(settings: Settings) -> str:
    """The monthly payout run: a payout for every partner with automatic payouts over the threshold."""
    automatic = PayoutSettings.filter(automatic=True).values("partner_id")
    candidates = (
        await PartnerProfile.filter(organization_id__in=Subquery(automatic))
        .order_by("organization_id")
        .values_list("organization_id", "payout_currency")
    )
    job = Actor(via=Via.CLI)
    created = below = failed = 0
    for partner_id, currency in candidates:
        try:
            await _claim(settings, partner_id, currency, job, None)
            created += 1
        except UserInputError as error:
            if error.problems[0].code is UserErrorCode.BELOW_THRESHOLD:
                below += 1
            else:  # e.g. NO_EXCHANGE_RATE: the operator must add a rate; the others are still paid
                logger.warning("Monthly payout for partner %s: %s", partner_id, error)
                failed += 1
        except Exception:  # one partner's failure must not stop the run
            logger.exception("Monthly payout for partner %s failed", partner_id)
            failed += 1
    summary = f"{created} payout(s) created, {below} partner(s) below the threshold"
    return summary + (f", {failed} failed (see the log)" if failed else "")


# --- operators' decisions ---------------------------------------------------------------------------------------


async def _decide(
    actor: Actor,
    payout_id: int,
    allowed_from: tuple[PayoutStatus, ...],
    action: str,
    changes: dict[str, Any],
    **values: Any,
) -> int:
    """A conditional update from the allowed statuses (inside the caller's transaction); the partner's id.

    `action` is the audit verb (approve, mark_paid, reject)."""
    updated = await Payout.filter(id=payout_id, status__in=allowed_from).update(**values)
    current = await Payout.filter(id=payout_id).first().values("status", "partner_id")
    if current is None:
        raise NotFound()
    if not updated:
        allowed = " or ".join(s.value.lower() for s in allowed_from)
        raise fail(
            None,
            UserErrorCode.PAYOUT_DECIDED,
            f"This payout is {current['status'].lower()}; only a {allowed} payout allows this.",
        )
    await audit.record(
        actor, f"payout.{action}", "Payout", payout_id, organization_id=current["partner_id"], changes=changes
    )
    return current["partner_id"]


async def approve_payout(actor: Actor, payout_id: int) -> dict[str, Any]:
    await PAYOUT_MANAGER.enforce(actor)
    async with in_transaction():
        partner_id = await _decide(
            actor,
            payout_id,
            (PayoutStatus.REQUESTED,),
            "approve",
            {"status": PayoutStatus.APPROVED.value},
            status=PayoutStatus.APPROVED,
            decided_at=now(),
        )
        await _notify(partner_id, payout_id)
    return await _payout_row(payout_id)


async def mark_paid(actor: Actor, payout_id: int, reference: str) -> dict[str, Any]:
    """APPROVED → PAID with the external reference (PayPal batch id, bank reference); its lines become PAID."""
    await PAYOUT_MANAGER.enforce(actor)
    clean_reference = clean_text(reference, "reference", MAX_REFERENCE_LENGTH)
    if not clean_reference:
        raise fail("reference", UserErrorCode.REQUIRED, "Enter the reference of the transfer.")
    async with in_transaction():
        partner_id = await _decide(
            actor,
            payout_id,
            (PayoutStatus.APPROVED,),
            "mark_paid",
            {"status": PayoutStatus.PAID.value, "reference": clean_reference},
            status=PayoutStatus.PAID,
            paid_at=now(),
            reference=clean_reference,
        )
        await Commission.filter(payout_id=payout_id).update(status=CommissionStatus.PAID)
        await _notify(partner_id, payout_id)
    return await _payout_row(payout_id)


async def reject_payout(actor: Actor, payout_id: int, note: str) -> dict[str, Any]:
    """REQUESTED or APPROVED → REJECTED with a note; its lines are released (payable again)."""
    await PAYOUT_MANAGER.enforce(actor)
    clean_note = clean_text(note, "note")
    if not clean_note:
        raise fail("note", UserErrorCode.REQUIRED, "Tell the partner why.")
    async with in_transaction():
        partner_id = await _decide(
            actor,
            payout_id,
            (PayoutStatus.REQUESTED, PayoutStatus.APPROVED),
            "reject",
            {"status": PayoutStatus.REJECTED.value, "note": clean_note},
            status=PayoutStatus.REJECTED,
            decided_at=now(),
            note=clean_note,
        )
        await Commission.filter(payout_id=payout_id).update(payout_id=None)
        await _notify(partner_id, payout_id)
    return await _payout_row(payout_id)


async def _notify(partner_id: int, payout_id: int) -> None:
    """Mail the partner's administrators about the payout as it stands and publish its webhook event
    (inside the transaction)."""
    payout = (
        await Payout.filter(id=payout_id)
        .first()
        .values("id", "status", "amount", "currency", "method", "reference", "note")
    )
    await webhooks.publish(PAYOUT_EVENTS[payout["status"]], webhooks.payout_data(payout, partner_id))
    name = await Organization.filter(id=partner_id).first().values_list("name", flat=True)
    await notify_administrators(
        partner_id,
        "payout_changed",
        {
            "partner_name": name,
            "amount": str(to_decimal(payout["amount"], payout["currency"])),
            "currency": payout["currency"],
            "status": payout["status"],
            "reference": payout["reference"] or "",
            "note": payout["note"] or "",
        },
    )


# --- reading --------------------------------------------------------------------------------------------------------


async def _payout_row(payout_id: int) -> dict[str, Any] | None:
    """A payout just changed, read back for the payload (the change checked the actor)."""
    return await Payout.filter(id=payout_id).first().values(*PAYOUT_FIELDS)


async def get_payout(actor: Actor, payout_id: int) -> dict[str, Any] | None:
    """For `node(id:)`: a payout the actor sees (`scoping.visible_payouts`)."""
    return await (await scoping.visible_payouts(actor)).filter(id=payout_id).first().values(*PAYOUT_FIELDS)


async def list_payouts(
    actor: Actor, *, partner_id: int | None, status: PayoutStatus | None, first: int | None, after: str | None
) -> Page:
    """Newest first. Operators with MANAGE_PAYOUTS see every partner's (optionally one partner's);
    MANAGE_PARTNER_PORTAL holders their partner's."""
    partner = await PAYOUT_LIST_READER.enforce(actor, partner_id)
    queryset = await scoping.visible_payouts(actor)
    if partner is not None:
        queryset = queryset.filter(partner_id=partner)
    if status is not None:
        queryset = queryset.filter(status=status)
    return await paginate(queryset, fields=PAYOUT_FIELDS, first=first, after=after, order=("-id",))


async def list_lines(actor: Actor, payout_id: int, *, first: int | None, after: str | None) -> Page:
    """The lines a payout holds, those the actor sees (`scoping.visible_commissions`)."""
    lines = (await scoping.visible_commissions(actor)).filter(payout_id=payout_id)
    return await paginate(lines, fields=COMMISSION_FIELDS, first=first, after=after)


# --- payment files ------------------------------------------------------------------------------------------------


class ExportFormat(StrEnum):
    PAYPAL_CSV = "PAYPAL_CSV"
    SEPA_XML = "SEPA_XML"


@dataclass(frozen=True, slots=True)
class Debtor:
    """The vendor's account the SEPA transfers are paid from."""

    name: str
    iban: str
    bic: str | None


@dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    content_type: str
    content: str
    payouts: list[dict[str, Any]]


async def export_payouts(
    actor: Actor,
    *,
    file_format: ExportFormat,
    payout_ids: list[int] | None,
    currency: str | None,
    debtor: tuple[str, str, str | None] | None,
    execution_date: date | None,
) -> ExportFile:
    """Operators with MANAGE_PAYOUTS. Read-only: the payouts stay APPROVED until marked paid."""
    await PAYOUT_MANAGER.enforce(actor)
    if ExportFormat(file_format) is ExportFormat.PAYPAL_CSV:
        return await paypal_csv(actor, payout_ids, currency)
    if debtor is None:
        raise fail("debtor", UserErrorCode.REQUIRED, "A SEPA file needs the account it is paid from (debtor).")
    return await sepa_xml(actor, payout_ids, clean_debtor(*debtor), execution_date)


async def _approved_for_export(payout_ids: list[int] | None, method: PayoutMethod) -> list[dict[str, Any]]:
    queryset = Payout.filter(status=PayoutStatus.APPROVED, method=method)
    if payout_ids is not None:
        queryset = queryset.filter(id__in=payout_ids)
    rows = await queryset.order_by("id").values(*PAYOUT_FIELDS)
    if payout_ids is not None:
        unfit = sorted(set(payout_ids) - {row["id"] for row in rows})
        if unfit:
            raise fail(
                "payout_ids",
                UserErrorCode.INVALID_VALUE,
                f"Only approved {method.value} payouts can be exported; not: {', '.join(map(str, unfit))}.",
            )
    return rows


def _nothing(what: str) -> UserInputError:
    return fail("payout_ids", UserErrorCode.NOTHING_TO_EXPORT, f"No approved {what} payout to export.")


async def paypal_csv(actor: Actor, payout_ids: list[int] | None, currency: str | None) -> ExportFile:
    """PayPal's mass-payout file: one row per payout (email, amount, currency, unique id, note), no header,
    one currency per file."""
    await PAYOUT_MANAGER.enforce(actor)
    wanted = clean_currency(currency) if currency else None
    rows = await _approved_for_export(payout_ids, PayoutMethod.PAYPAL)
    if wanted is not None:
        if payout_ids is not None and any(row["currency"] != wanted for row in rows):
            raise fail("currency", UserErrorCode.INVALID_VALUE, f"Some of these payouts are not in {wanted}.")
        rows = [row for row in rows if row["currency"] == wanted]
    currencies = sorted({row["currency"] for row in rows})
    if len(currencies) > 1:
        raise fail(
            "currency",
            UserErrorCode.INVALID_VALUE,
            f"PayPal takes one currency per file: choose one of {', '.join(currencies)}.",
        )
    if not rows:
        raise _nothing("PayPal")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:  # every cell through the formula guard, as every CSV the portal writes
        writer.writerow(
            safe_row(
                [
                    row["destination"]["paypal_email"],
                    to_decimal(row["amount"], row["currency"]),
                    row["currency"],
                    f"PAYOUT-{row['id']}",
                    f"Partner commission payout {row['id']}",
                ]
            )
        )
    await _record_export(actor, "PAYPAL_CSV", rows)
    stamp = now().strftime("%Y%m%d-%H%M%S")
    return ExportFile(f"paypal-payouts-{currencies[0]}-{stamp}.csv", "text/csv", buffer.getvalue(), rows)


def clean_debtor(name: str | None, iban: str | None, bic: str | None) -> Debtor:
    checks = Checks(bic=None)
    checks.run("name", clean_name, name or "", "debtor.name")
    checks.run("iban", clean_iban, iban, "debtor.iban")
    checks.run("bic", clean_bic, bic, checks.values.get("iban"), "debtor.bic")
    values = checks.result()
    return Debtor(values["name"], values["iban"], values["bic"])


async def sepa_xml(
    actor: Actor, payout_ids: list[int] | None, debtor: Debtor, execution_date: date | None
) -> ExportFile:
    """A SEPA credit transfer initiation (pain.001.001.03, built and schema-checked by sepaxml) for the
    approved BANK_TRANSFER payouts in EUR, paid from the debtor's account."""
    from sepaxml import SepaTransfer

    await PAYOUT_MANAGER.enforce(actor)
    today = now().date()
    when = execution_date or today
    if when < today:
        raise fail("execution_date", UserErrorCode.INVALID_VALUE, "The execution date cannot be in the past.")
    rows = await _approved_for_export(payout_ids, PayoutMethod.BANK_TRANSFER)
    if payout_ids is not None and any(row["currency"] != SEPA_CURRENCY for row in rows):
        raise fail("payout_ids", UserErrorCode.INVALID_VALUE, "SEPA transfers are in EUR only.")
    rows = [row for row in rows if row["currency"] == SEPA_CURRENCY]
    if not rows:
        raise _nothing("EUR bank transfer")
    config: dict[str, Any] = {"name": debtor.name, "IBAN": debtor.iban, "batch": True, "currency": SEPA_CURRENCY}
    if debtor.bic:
        config["BIC"] = debtor.bic
    transfer = SepaTransfer(config, clean=True)
    for row in rows:
        target = row["destination"]
        payment: dict[str, Any] = {
            "name": target["account_holder"],
            "IBAN": target["iban"],
            "amount": int(row["amount"]),
            "execution_date": when,
            "description": f"Partner commission payout {row['id']}",
            "endtoend_id": f"PAYOUT-{row['id']}",
        }
        if target.get("bic"):
            payment["BIC"] = target["bic"]
        transfer.add_payment(payment)
    content = transfer.export(validate=True).decode("utf-8")
    await _record_export(actor, "SEPA_XML", rows)
    stamp = now().strftime("%Y%m%d-%H%M%S")
    return ExportFile(f"sepa-payouts-{stamp}.xml", "application/xml", content, rows)


async def _record_export(actor: Actor, file_format: str, rows: list[dict[str, Any]]) -> None:
    async with in_transaction():
        await audit.record(
            actor,
            "payout.export",
            "PayoutExport",
            file_format,
            changes={"format": file_format, "payouts": [row["id"] for row in rows]},
        )

"""Partner tiers: definitions, certifications, feature usage, the figures behind a tier, the
monthly evaluation (the `tiers` job) and the partner's view of where it stands.

The figures of a partner at a moment T, in the base currency (thresholds are in it too):

- MRR sold: the license MRR of customers whose first payment ever (the earliest `paid_at`) falls
  in the twelve months before T (after T minus one year, at or before T) and earned this partner
  a commission line that was not reversed (the line says who sold the customer);
- MRR managed: the license MRR of the partner's current customers (relationship not ended) whose
  delegated grant is not empty and not expired;
- only licenses ACTIVE or PAST_DUE count; MRR in other currencies is converted at the rate valid
  on T's day;
- median feature usage: over the counted customers (sold or managed, each once), the number of
  distinct features each used in the last TIER_USAGE_WINDOW_DAYS (0 without reports);
- certifications: the ones recorded for the partner and valid on T's day.

A fixed number of SQL queries computes every partner's figures at once. The qualifying tier is
the active tier of highest rank whose every criterion is met; none: no tier. Only the monthly
evaluation changes a partner's tier (`change_partner_tier`); the daily runs refresh the figures.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from partner_portal.models.billing import BillingEvent, License
from partner_portal.models.clock import now
from partner_portal.models.commissions import CommissionRule
from partner_portal.models.enums import CommissionStatus, LicenseStatus
from partner_portal.models.organizations import Organization
from partner_portal.models.partners import PartnerProfile
from partner_portal.models.tiers import FeatureUsage, PartnerCertification, PartnerTierFigures, Tier, TierAssessment
from partner_portal.models.tortoise_internals import max_length
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Via
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import BILLING_WRITER, PROGRAM_MANAGER, TIER_READER
from partner_portal.resolvers import audit, webhooks
from partner_portal.resolvers.billing import once
from partner_portal.resolvers.catalog import MissingExchangeRate, conversion_rate
from partner_portal.resolvers.commissions import RULE_FIELDS
from partner_portal.resolvers.errors import BadArgument, UserErrorCode, fail
from partner_portal.resolvers.money import minor_exact, round_minor, to_minor
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.sql import query_dicts
from partner_portal.resolvers.validation import clean_name
from partner_portal.settings import Settings

logger = logging.getLogger("partner_portal.tiers")

COUNTED_LICENSES = (LicenseStatus.ACTIVE.value, LicenseStatus.PAST_DUE.value)
TIER_FIELDS = (
    "id",
    "name",
    "rank",
    "min_sold_mrr",
    "min_managed_mrr",
    "required_certification",
    "min_median_features",
    "active",
    "created_at",
    "updated_at",
)
CERTIFICATION_FIELDS = ("id", "partner_id", "name", "valid_until", "recorded_at")
FIGURE_FIELDS = ("currency", "sold_mrr", "sold_customers", "managed_mrr", "managed_customers", "median_features")
ASSESSMENT_FIELDS = (
    "id",
    "partner_id",
    "partner__name",
    "period",
    "evaluated_at",
    *FIGURE_FIELDS,
    "certifications",
    "tier",
    "previous_tier",
    "changed",
)
FEATURE_USAGE_KIND = "FEATURE_USAGE"
MAX_FEATURES = 100
MAX_FEATURE_LENGTH = max_length(FeatureUsage, "feature")
MAX_MEDIAN_FEATURES = 1000


# --- tier definitions ---------------------------------------------------------------------------------


def _threshold(value: tuple[str, str], field_name: str, settings: Settings) -> int:
    amount, currency = value
    if currency.strip().upper() != settings.base_currency:
        raise fail(
            field_name, UserErrorCode.INVALID_VALUE, f"Thresholds are in the base currency, {settings.base_currency}."
        )
    minor = to_minor(amount, settings.base_currency, field_name)
    if minor < 0:
        raise fail(field_name, UserErrorCode.INVALID_VALUE, "A threshold cannot be negative.")
    return minor


def _clean_tier_values(settings: Settings, changes: dict[str, Any]) -> dict[str, Any]:
    """The columns for the given changes (keys: name, rank, min_sold_mrr and min_managed_mrr as
    (amount, currency), required_certification, min_median_features, active)."""
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = clean_name(changes["name"] or "", "name", limit=max_length(Tier, "name"))
    if "rank" in changes:
        if changes["rank"] is None or changes["rank"] < 1:
            raise fail("rank", UserErrorCode.INVALID_VALUE, "A rank is a whole number from 1 (higher is better).")
        values["rank"] = changes["rank"]
    for key, input_field in (("min_sold_mrr", "minimum_sold_mrr"), ("min_managed_mrr", "minimum_managed_mrr")):
        if key in changes:
            values[key] = _threshold(changes[key], input_field, settings) if changes[key] is not None else 0
    if "required_certification" in changes:
        raw = (changes["required_certification"] or "").strip()
        values["required_certification"] = clean_name(raw, "required_certification", limit=100) if raw else None
    if "min_median_features" in changes:
        minimum = changes["min_median_features"]
        if minimum is not None and not 1 <= minimum <= MAX_MEDIAN_FEATURES:
            raise fail(
                "minimum_median_features",
                UserErrorCode.INVALID_VALUE,
                f"Give a median from 1 to {MAX_MEDIAN_FEATURES}, or none.",
            )
        values["min_median_features"] = minimum
    if "active" in changes:
        values["active"] = bool(changes["active"])
    return values


async def _check_unique(values: dict[str, Any], tier_id: int | None) -> None:
    others = Tier.exclude(id=tier_id) if tier_id is not None else Tier.all()
    if "name" in values and await others.filter(name__iexact=values["name"]).exists():
        raise fail("name", UserErrorCode.INVALID_VALUE, "Another tier has this name.")
    if "rank" in values and await others.filter(rank=values["rank"]).exists():
        raise fail(
            "rank",
            UserErrorCode.INVALID_VALUE,
            "Another tier has this rank (deactivated tiers keep theirs): choose another.",
        )


async def create_tier(actor: Actor, settings: Settings, **changes: Any) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS. The name is fixed once created: commission rules match it."""
    await PROGRAM_MANAGER.enforce(actor)
    values = _clean_tier_values(settings, {"min_sold_mrr": None, "min_managed_mrr": None, **changes})
    if "name" not in values or "rank" not in values:
        raise fail(
            "name" if "name" not in values else "rank", UserErrorCode.REQUIRED, "A tier needs a name and a rank."
        )
    try:
        async with in_transaction():
            await _check_unique(values, None)
            tier = await Tier.create(**values, active=True, created_at=now(), updated_at=now())
            await audit.record(actor, "tier.create", "Tier", tier.id, changes={k: str(v) for k, v in values.items()})
    except IntegrityError as error:  # a concurrent create took the name or the rank
        raise fail("rank", UserErrorCode.INVALID_VALUE, "Another tier has this name or rank.") from error
    return (await with_benefits([await _tier_row(tier.id)]))[0]


async def update_tier(actor: Actor, settings: Settings, tier_id: int, **changes: Any) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS: rank, thresholds, criteria, `active` (deactivate or reactivate).

    Partners keep a deactivated tier until the next evaluation (it no longer qualifies anyone)."""
    await PROGRAM_MANAGER.enforce(actor)
    values = _clean_tier_values(settings, changes)
    try:
        async with in_transaction():
            before = await Tier.filter(id=tier_id).select_for_update().first().values(*TIER_FIELDS)
            if before is None:
                raise NotFound()
            await _check_unique(values, tier_id)
            diff = audit.diff(before, values)
            if diff:
                await Tier.filter(id=tier_id).update(**values, updated_at=now())
                await audit.record(
                    actor,
                    "tier.update",
                    "Tier",
                    tier_id,
                    changes={k: {"from": str(v["from"]), "to": str(v["to"])} for k, v in diff.items()},
                )
    except IntegrityError as error:
        raise fail("rank", UserErrorCode.INVALID_VALUE, "Another tier has this rank.") from error
    return (await with_benefits([await _tier_row(tier_id)]))[0]


async def _tier_row(tier_id: int) -> dict[str, Any] | None:
    return await Tier.filter(id=tier_id).first().values(*TIER_FIELDS)


async def list_tiers(actor: Actor, *, include_inactive: bool, first: int | None, after: str | None) -> Page:
    """Operators with MANAGE_PROGRAMS; by rank, lowest first, each with its benefits."""
    await PROGRAM_MANAGER.enforce(actor)
    queryset = await scoping.visible_tiers(actor)
    if not include_inactive:
        queryset = queryset.filter(active=True)
    page = await paginate(queryset, fields=TIER_FIELDS, first=first, after=after, order=("rank",))
    page.rows = await with_benefits(page.rows)
    return page


async def visible_tier(actor: Actor, tier_id: int) -> dict[str, Any] | None:
    """For `node`: the tier with its benefits when `scoping.visible_tiers` lets the actor see it."""
    row = await (await scoping.visible_tiers(actor)).filter(id=tier_id).first().values(*TIER_FIELDS)
    return (await with_benefits([row]))[0] if row else None


async def with_benefits(rows: list[dict[str, Any]], partner_id: int | None = None) -> list[dict[str, Any]]:
    """Each tier row with `rules`: the active commission rules narrowed to its name (its benefits),
    for every partner, or also those narrowed to `partner_id`; one query for all rows."""
    names = [row["name"] for row in rows]
    rules: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if names:
        for rule in (
            await CommissionRule.filter(Q(partner_id=None) | Q(partner_id=partner_id), tier__in=names, active=True)
            .order_by("program", "id")
            .values(*RULE_FIELDS)
        ):
            rules[rule["tier"]].append(rule)
    return [{**row, "rules": rules[row["name"]]} for row in rows]


# --- certifications --------------------------------------------------------------------------------------


async def _partner_exists(partner_id: int) -> None:
    if not await PartnerProfile.filter(organization_id=partner_id).exists():
        raise NotFound()


async def record_certification(actor: Actor, partner_id: int, *, name: str, valid_until: date | None) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS. Names compare without regard to case; recording one again
    replaces its validity."""
    await PROGRAM_MANAGER.enforce(actor)
    clean = clean_name(name, "name", limit=max_length(PartnerCertification, "name"))
    await _partner_exists(partner_id)
    async with in_transaction():
        existing = await _certification(partner_id, clean)
        values = {"name": clean, "valid_until": valid_until, "recorded_by_id": actor.user_id, "recorded_at": now()}
        if existing is None:
            certification_id = (await PartnerCertification.create(partner_id=partner_id, **values)).id
        else:
            certification_id = existing["id"]
            await PartnerCertification.filter(id=certification_id).update(**values)
        await audit.record(
            actor,
            "certification.record",
            "Organization",
            partner_id,
            organization_id=partner_id,
            changes={"name": clean, "valid_until": valid_until.isoformat() if valid_until else None},
        )
    return await PartnerCertification.filter(id=certification_id).first().values(*CERTIFICATION_FIELDS)


async def withdraw_certification(actor: Actor, partner_id: int, *, name: str) -> dict[str, Any]:
    """Operators with MANAGE_PROGRAMS; an unknown certification is NOT_FOUND. Returns what was withdrawn."""
    await PROGRAM_MANAGER.enforce(actor)
    await _partner_exists(partner_id)
    async with in_transaction():
        existing = await _certification(partner_id, " ".join(name.split()))
        if existing is None:
            raise NotFound()
        await PartnerCertification.filter(id=existing["id"]).delete()
        await audit.record(
            actor,
            "certification.withdraw",
            "Organization",
            partner_id,
            organization_id=partner_id,
            changes={"name": existing["name"]},
        )
    return existing


async def _certification(partner_id: int, name: str) -> dict[str, Any] | None:
    rows = await PartnerCertification.filter(partner_id=partner_id).values(*CERTIFICATION_FIELDS)
    return next((row for row in rows if row["name"].casefold() == name.casefold()), None)


async def certifications_of(partner_id: int) -> list[dict[str, Any]]:
    return await PartnerCertification.filter(partner_id=partner_id).order_by("name").values(*CERTIFICATION_FIELDS)


def _valid(row: dict[str, Any], on: date) -> bool:
    return row["valid_until"] is None or row["valid_until"] >= on


# --- feature usage -------------------------------------------------------------------------------------------


def clean_features(raw: list[str]) -> list[str]:
    """Feature codes in lower case, each once, in the order given."""
    features = list(dict.fromkeys(" ".join(f.split()).lower() for f in raw))
    if not features or "" in features:
        raise fail("features", UserErrorCode.REQUIRED, "Name at least one feature, none empty.")
    if len(features) > MAX_FEATURES:
        raise fail("features", UserErrorCode.INVALID_VALUE, f"Report at most {MAX_FEATURES} features at once.")
    if any(len(f) > MAX_FEATURE_LENGTH for f in features):
        raise fail("features", UserErrorCode.TOO_LONG, f"A feature code has at most {MAX_FEATURE_LENGTH} characters.")
    return features


async def record_feature_usage(
    actor: Actor, *, external_id: str, organization_id: int, features: list[str], used_at: datetime | None
) -> dict[str, Any]:
    """Integrators (API keys with billing:write) report the features a customer used; taken once per
    external id (the same id with other content is a CONFLICT), like the billing events."""
    await BILLING_WRITER.enforce(actor)
    clean = clean_features(features)
    moment = used_at or now()
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    if moment > now() + timedelta(minutes=5):
        raise fail("used_at", UserErrorCode.INVALID_VALUE, "Usage cannot be in the future.")
    key = (external_id or "").strip()
    if not key or len(key) > 190:
        raise fail("external_id", UserErrorCode.INVALID_VALUE, "Give an external id of 1 to 190 characters.")
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    # what the caller sent: a retry without usedAt is the same report, though `moment` is later
    content = {
        "organization": organization_id,
        "features": clean,
        "used_at": moment.isoformat() if used_at is not None else None,
    }

    async def work() -> dict[str, Any]:
        event_id = (
            await BillingEvent.filter(source="api", external_id=f"usage:{key}").first().values_list("id", flat=True)
        )
        await FeatureUsage.bulk_create(
            [FeatureUsage(event_id=event_id, organization_id=organization_id, feature=f, used_at=moment) for f in clean]
        )
        await audit.record(
            actor,
            "feature_usage.record",
            "Organization",
            organization_id,
            organization_id=organization_id,
            changes={"external_id": key, "features": clean},
        )
        return {
            "external_id": key,
            "organization_id": organization_id,
            "features": clean,
            "used_at": moment.isoformat(),
        }

    result = await once("api", f"usage:{key}", FEATURE_USAGE_KIND, content, work)  # type: ignore[arg-type]
    return {**result, "used_at": datetime.fromisoformat(result["used_at"])}


# --- the figures ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    """A partner's figures in the base currency (minor units)."""

    sold_mrr: int = 0
    sold_customers: int = 0
    managed_mrr: int = 0
    managed_customers: int = 0
    median_features: Decimal | None = None
    certifications: list[str] = field(default_factory=list)

    def columns(self, currency: str) -> dict[str, Any]:
        return {
            "currency": currency,
            "sold_mrr": self.sold_mrr,
            "sold_customers": self.sold_customers,
            "managed_mrr": self.managed_mrr,
            "managed_customers": self.managed_customers,
            "median_features": self.median_features,
        }


def one_year_before(moment: datetime) -> datetime:
    """The same moment a year earlier (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)


# One row per sold customer: its first payment ever, in the window, earned the partner a line.
SOLD_SQL = (
    "SELECT c.partner_id AS partner_id, p.organization_id AS customer_id, l.mrr_amount AS mrr, l.currency AS currency "
    "FROM commissions c JOIN payments p ON p.id = c.payment_id "
    "JOIN licenses l ON l.organization_id = p.organization_id "
    "WHERE c.refund_id IS NULL AND c.status <> %s AND p.paid_at > %s AND p.paid_at <= %s AND l.status IN (%s, %s) "
    "AND NOT EXISTS (SELECT 1 FROM payments q WHERE q.organization_id = p.organization_id "
    "AND (q.paid_at < p.paid_at OR (q.paid_at = p.paid_at AND q.id < p.id)))"
)
# One row per current relationship with a grant not expired; empty grants are dropped in Python.
MANAGED_SQL = (
    "SELECT r.partner_id AS partner_id, r.customer_id AS customer_id, r.grant_permissions AS grant_permissions, "
    "l.mrr_amount AS mrr, l.currency AS currency "
    "FROM customer_relationships r JOIN licenses l ON l.organization_id = r.customer_id "
    "WHERE r.ended_at IS NULL AND (r.grant_expires_at IS NULL OR r.grant_expires_at > %s) AND l.status IN (%s, %s)"
)


def _granted(value: Any) -> bool:
    permissions = json.loads(value) if isinstance(value, str | bytes) else value
    return bool(permissions)


async def compute_figures(settings: Settings, moment: datetime) -> dict[int, Figures]:
    """Every partner's figures at `moment`, in five queries whatever the number of partners and
    customers. Raises MissingExchangeRate when an MRR currency has no rate on the day."""
    sold_rows = await query_dicts(
        SOLD_SQL, [CommissionStatus.REVERSED.value, one_year_before(moment), moment, *COUNTED_LICENSES]
    )
    managed_rows = [
        row for row in await query_dicts(MANAGED_SQL, [moment, *COUNTED_LICENSES]) if _granted(row["grant_permissions"])
    ]
    usage_start = moment - timedelta(days=settings.tier_usage_window_days)
    usage = dict(
        await FeatureUsage.filter(
            used_at__gt=usage_start,
            used_at__lte=moment,
            organization_id__in=Subquery(License.filter(status__in=COUNTED_LICENSES).values("organization_id")),
        )
        .annotate(n=Count("feature", distinct=True))
        .group_by("organization_id")
        .values_list("organization_id", "n")
    )
    today = moment.date()
    certified = (
        await PartnerCertification.filter(Q(valid_until=None) | Q(valid_until__gte=today))
        .order_by("name")
        .values_list("partner_id", "name")
    )
    partners = await PartnerProfile.all().values_list("organization_id", flat=True)

    factors: dict[str, Decimal] = {}

    async def in_base(amounts: dict[str, int]) -> int:
        total = 0
        for currency, amount in amounts.items():
            if currency not in factors:
                factors[currency] = await conversion_rate(settings, currency, settings.base_currency, today)
            total += round_minor(minor_exact(amount, currency, settings.base_currency, factors[currency]))
        return total

    sold: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)
    for row in sold_rows:
        sold[row["partner_id"]][row["customer_id"]] = (int(row["mrr"]), row["currency"])
    managed: dict[int, dict[int, tuple[int, str]]] = defaultdict(dict)
    for row in managed_rows:
        managed[row["partner_id"]][row["customer_id"]] = (int(row["mrr"]), row["currency"])
    held: dict[int, list[str]] = defaultdict(list)
    for partner_id, name in certified:
        held[partner_id].append(name)

    figures: dict[int, Figures] = {}
    for partner_id in partners:
        mine_sold, mine_managed = sold.get(partner_id, {}), managed.get(partner_id, {})
        counted = sorted(usage.get(customer, 0) for customer in mine_sold.keys() | mine_managed.keys())
        figures[partner_id] = Figures(
            sold_mrr=await in_base(_by_currency(mine_sold)),
            sold_customers=len(mine_sold),
            managed_mrr=await in_base(_by_currency(mine_managed)),
            managed_customers=len(mine_managed),
            median_features=_median(counted),
            certifications=held.get(partner_id, []),
        )
    return figures


def _by_currency(customers: dict[int, tuple[int, str]]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for amount, currency in customers.values():
        sums[currency] += amount
    return sums


def tidy(value: Decimal) -> Decimal:
    """A median as people write it: 3, 2.5 (not 3.0)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.quantize(Decimal("0.1"))


def _median(values: list[int]) -> Decimal | None:
    """The median of sorted values (the mean of the middle two for an even count); None for none."""
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return Decimal(values[middle])
    return (Decimal(values[middle - 1] + values[middle]) / 2).quantize(Decimal("0.1"))


# --- qualification and what is missing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """What a partner misses for a tier; all zero / None when it qualifies."""

    sold_mrr: int
    managed_mrr: int
    certification: str | None
    median_features: Decimal

    @property
    def qualifies(self) -> bool:
        return not (self.sold_mrr or self.managed_mrr or self.certification or self.median_features)


def gap(tier: dict[str, Any], figures: Figures) -> Gap:
    held = {name.casefold() for name in figures.certifications}
    required = tier["required_certification"]
    minimum = tier["min_median_features"]
    median = figures.median_features if figures.median_features is not None else Decimal(0)
    return Gap(
        sold_mrr=max(0, tier["min_sold_mrr"] - figures.sold_mrr),
        managed_mrr=max(0, tier["min_managed_mrr"] - figures.managed_mrr),
        certification=required if required and required.casefold() not in held else None,
        median_features=tidy(max(Decimal(0), Decimal(minimum) - median)) if minimum else Decimal(0),
    )


def qualifying_tier(tiers: list[dict[str, Any]], figures: Figures) -> dict[str, Any] | None:
    """The active tier of highest rank whose every criterion the figures meet."""
    fitting = [tier for tier in tiers if tier["active"] and gap(tier, figures).qualifies]
    return max(fitting, key=lambda tier: tier["rank"], default=None)


# --- the job: daily figures, monthly evaluation ---------------------------------------------------------------------


def period_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


async def run_tiers_job(settings: Settings) -> str:
    """Refresh every partner's figures (each run; run it daily) and, from TIER_EVALUATION_DAY of a
    month on, evaluate the partners not yet evaluated this month (so a second run changes nothing)."""
    moment = now()
    try:
        figures = await compute_figures(settings, moment)
    except MissingExchangeRate as error:
        logger.warning("Tier figures not refreshed: %s", error)
        return f"tiers: nothing done: {error} Add the rate, then run the job again."
    await _store_figures(settings, figures, moment)
    summary = f"tiers: figures of {len(figures)} partner(s) refreshed"
    if moment.day < settings.tier_evaluation_day:
        return summary + f"; the evaluation of {period_of(moment)} comes on day {settings.tier_evaluation_day}"
    evaluated, changed = await evaluate(settings, figures, moment)
    return summary + f"; {period_of(moment)}: {evaluated} partner(s) evaluated, {changed} tier change(s)"


async def _store_figures(settings: Settings, figures: dict[int, Figures], moment: datetime) -> None:
    async with in_transaction():
        await PartnerTierFigures.all().delete()
        await PartnerTierFigures.bulk_create(
            [
                PartnerTierFigures(partner_id=partner_id, refreshed_at=moment, **f.columns(settings.base_currency))
                for partner_id, f in figures.items()
            ],
            batch_size=500,
        )


async def evaluate(settings: Settings, figures: dict[int, Figures], moment: datetime) -> tuple[int, int]:
    """The month's evaluation of every partner without an assessment for the month, in one
    transaction: an assessment each, and the tier changed where it qualifies for another one.
    Returns (partners evaluated, tiers changed)."""
    period = period_of(moment)
    job = Actor(via=Via.CLI)
    async with in_transaction():
        done = TierAssessment.filter(period=period).values("partner_id")
        profiles = await PartnerProfile.exclude(organization_id__in=Subquery(done)).values_list(
            "organization_id", "tier"
        )
        tiers = await Tier.filter(active=True).values(*TIER_FIELDS)
        unchanged: list[TierAssessment] = []
        changed = 0
        for partner_id, previous in profiles:
            mine = figures.get(partner_id, Figures())
            qualified = qualifying_tier(tiers, mine)
            name = qualified["name"] if qualified else None
            row = TierAssessment(
                partner_id=partner_id,
                period=period,
                evaluated_at=moment,
                certifications=mine.certifications,
                tier=name,
                previous_tier=previous,
                changed=name != previous,
                **mine.columns(settings.base_currency),
            )
            if name == previous:
                unchanged.append(row)
                continue
            await row.save()
            await change_partner_tier(job, partner_id, previous=previous, tier=name, assessment=row)
            changed += 1
        await TierAssessment.bulk_create(unchanged, batch_size=500)
    return len(profiles), changed


async def change_partner_tier(
    actor: Actor, partner_id: int, *, previous: str | None, tier: str | None, assessment: TierAssessment
) -> None:
    """A partner's tier changes (inside the evaluation's transaction): the profile holds the new
    name, which the tier's commission rules match from the next payment on; audited."""
    await PartnerProfile.filter(organization_id=partner_id).update(tier=tier)
    await audit.record(
        actor,
        "partner.tier_change",
        "Organization",
        partner_id,
        organization_id=partner_id,
        changes={"tier": {"from": previous, "to": tier}, "period": assessment.period, "assessment": assessment.id},
    )
    await webhooks.publish(
        WebhookEventType.TIER_CHANGED,
        {
            "partnerId": webhooks.global_id("Organization", partner_id),
            "previousTier": previous,
            "tier": tier,
            "period": assessment.period,
        },
    )


# --- what partners and operators read ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    tier: dict[str, Any]
    gap: Gap


@dataclass(frozen=True, slots=True)
class TierStatus:
    partner_id: int
    currency: str
    tier: dict[str, Any] | None  # the current tier's row (with benefits), None without one
    tier_name: str | None
    current: dict[str, Any] | None  # the latest daily figures
    last_assessment: dict[str, Any] | None
    certifications: list[dict[str, Any]]
    ladder: list[Progress]  # active tiers by rank, each with what is missing for it
    next_tier: Progress | None


async def partner_tier(actor: Actor, settings: Settings, partner_id: int | None) -> TierStatus:
    """Where a partner stands: its tier with benefits, the figures behind it, and what it misses,
    by the latest daily figures and its certifications today, for each tier and for the next one."""
    profile = await TIER_READER.enforce(actor, partner_id)
    partner, tier_name = profile["organization_id"], profile["tier"]
    tiers = await with_benefits(
        await Tier.filter(Q(active=True) | Q(name=tier_name or "")).order_by("rank").values(*TIER_FIELDS), partner
    )
    current = await PartnerTierFigures.filter(partner_id=partner).first().values(*FIGURE_FIELDS, "refreshed_at")
    last = await TierAssessment.filter(partner_id=partner).order_by("-id").first().values(*ASSESSMENT_FIELDS)
    certifications = await certifications_of(partner)
    figures = Figures(certifications=[c["name"] for c in certifications if _valid(c, now().date())])
    if current is not None:
        figures.sold_mrr, figures.managed_mrr = current["sold_mrr"], current["managed_mrr"]
        figures.median_features = current["median_features"]
    held = next((t for t in tiers if t["name"] == tier_name), None)
    ladder = [Progress(t, gap(t, figures)) for t in tiers if t["active"]]
    floor = held["rank"] if held else 0
    return TierStatus(
        partner_id=partner,
        currency=settings.base_currency,
        tier=held,
        tier_name=tier_name,
        current=current,
        last_assessment=last,
        certifications=certifications,
        ladder=ladder,
        next_tier=next((p for p in ladder if p.tier["rank"] > floor), None),
    )


async def list_assessments(
    actor: Actor,
    *,
    partner_id: int | None,
    period: str | None,
    changed_only: bool,
    first: int | None,
    after: str | None,
) -> Page:
    """Newest first. Operators with MANAGE_PROGRAMS: every partner's (or one's); partners their own
    (through `partner_tier`, which authorizes them first)."""
    await PROGRAM_MANAGER.enforce(actor)
    return await assessments_of(actor, partner_id, period=period, changed_only=changed_only, first=first, after=after)


async def visible_assessment(actor: Actor, assessment_id: int) -> dict[str, Any] | None:
    """An assessment the actor sees (`scoping.visible_tier_assessments`), None otherwise."""
    visible = await scoping.visible_tier_assessments(actor)
    return await visible.filter(id=assessment_id).first().values(*ASSESSMENT_FIELDS)


async def assessments_of(
    actor: Actor,
    partner_id: int | None,
    *,
    period: str | None = None,
    changed_only: bool = False,
    first: int | None,
    after: str | None,
) -> Page:
    """The assessment history the actor may see (`scoping.visible_tier_assessments`)."""
    queryset = await scoping.visible_tier_assessments(actor)
    if partner_id is not None:
        queryset = queryset.filter(partner_id=partner_id)
    if period:
        if not re.fullmatch(r"\d{4}-\d{2}", period.strip(), re.ASCII):  # ASCII: no other scripts' digits
            raise BadArgument("A period is a month: YYYY-MM, e.g. 2026-03.")
        queryset = queryset.filter(period=period.strip())
    if changed_only:
        queryset = queryset.filter(changed=True)
    return await paginate(queryset, fields=ASSESSMENT_FIELDS, first=first, after=after, order=("-id",))

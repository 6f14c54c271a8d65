"""GraphQL for partner tiers: definitions and their benefits, certifications, feature usage
reports, the partner's standing and the assessment history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.requirements import BILLING_WRITER, PROGRAM_MANAGER, TIER_READER
from partner_portal.resolvers import tiers
from partner_portal.resolvers.tiers import TierStatus
from partner_portal.schema.commissions import CommissionRule
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    global_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.money import Money, MoneyInput
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import IdOf, RowType, row_type


@strawberry.type(
    description="A partner tier: its rank, thresholds (in the base currency), other criteria and benefits."
)
class Tier(Node):
    id: NodeID[int]
    name: str = strawberry.field(description="The tier's name; commission rules narrowed to a tier name it.")
    rank: int = strawberry.field(description="Higher is better; unique.")
    minimum_sold_mrr: Money = strawberry.field(
        description="MRR of customers first paid in the last 12 months and sold by the partner, at least."
    )
    minimum_managed_mrr: Money = strawberry.field(
        description="MRR of current customers under an active delegated grant, at least."
    )
    required_certification: str | None = strawberry.field(description="A certification the partner must hold.")
    minimum_median_features: int | None = strawberry.field(
        description="The median number of features used across the partner's counted customers, at least."
    )
    active: bool = strawberry.field(
        description="Inactive tiers qualify nobody; partners keep one until the next evaluation."
    )
    created_at: datetime = strawberry.field(description="When the tier was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    commission_rules: list[CommissionRule] = strawberry.field(
        description="Its benefits: the active commission rules narrowed to this tier."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any], currency: str) -> Tier:
        return cls(
            id=row["id"],
            name=row["name"],
            rank=row["rank"],
            minimum_sold_mrr=Money.of(row["min_sold_mrr"], currency),
            minimum_managed_mrr=Money.of(row["min_managed_mrr"], currency),
            required_certification=row["required_certification"],
            minimum_median_features=row["min_median_features"],
            active=row["active"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            commission_rules=[CommissionRule.from_row(r) for r in row["rules"]],
        )


@node_type("Tier")
async def _fetch_tier(context: Any, pk: int) -> Tier | None:
    row = await tiers.visible_tier(context.actor, pk)
    return Tier.from_row(row, context.settings.base_currency) if row else None


@strawberry.type(description="The figures behind a tier, in the base currency.")
class TierFigures:
    sold_mrr: Money = strawberry.field(
        description="MRR of customers whose first payment in the last 12 months "
        "earned the partner commission (licenses active or past due)."
    )
    sold_customers: int = strawberry.field(description="How many customers make up the MRR sold.")
    managed_mrr: Money = strawberry.field(description="MRR of current customers with a delegated grant in force.")
    managed_customers: int = strawberry.field(description="How many customers make up the MRR managed.")
    median_features_used: Decimal | None = strawberry.field(
        description="The median of distinct features used per counted customer (null: no customer counted)."
    )
    as_of: datetime = strawberry.field(description="When the figures were computed.")

    @classmethod
    def from_row(cls, row: dict[str, Any], as_of: datetime) -> TierFigures:
        median = row["median_features"]
        return cls(
            sold_mrr=Money.of(row["sold_mrr"], row["currency"]),
            sold_customers=row["sold_customers"],
            managed_mrr=Money.of(row["managed_mrr"], row["currency"]),
            managed_customers=row["managed_customers"],
            median_features_used=tiers.tidy(Decimal(median)) if median is not None else None,
            as_of=as_of,
        )


@row_type(
    tiers.ASSESSMENT_FIELDS,
    partner_id=IdOf("Organization", "partner_id"),
    partner_name="partner__name",
    figures=lambda row: TierFigures.from_row(row, row["evaluated_at"]),
    certifications=lambda row: list(row["certifications"]),
    tier_name="tier",
    previous_tier_name="previous_tier",
)
@strawberry.type(description="One monthly evaluation of a partner: its figures, the tier it qualified for, the change.")
class TierAssessment(Node, RowType):
    id: NodeID[int]
    partner_id: GlobalID = strawberry.field(description="The partner organization.")
    partner_name: str = strawberry.field(description="The partner's name.")
    period: str = strawberry.field(description="The month evaluated, YYYY-MM.")
    evaluated_at: datetime = strawberry.field(description="When.")
    figures: TierFigures = strawberry.field(description="The figures at that moment.")
    certifications: list[str] = strawberry.field(description="The certifications it held then.")
    tier_name: str | None = strawberry.field(description="The tier it qualified for and holds since (null: none).")
    previous_tier_name: str | None = strawberry.field(description="The tier it held before.")
    changed: bool = strawberry.field(description="The evaluation changed the partner's tier.")


@node_type("TierAssessment")
async def _fetch_assessment(context: Any, pk: int) -> TierAssessment | None:
    row = await tiers.visible_assessment(context.actor, pk)
    return TierAssessment.from_row(row) if row else None


@strawberry.type(description="What a partner misses for a tier (zero or null where it meets the criterion).")
class TierGap:
    sold_mrr: Money = strawberry.field(description="MRR sold still missing.")
    managed_mrr: Money = strawberry.field(description="MRR managed still missing.")
    certification: str | None = strawberry.field(description="The required certification, when not held.")
    median_features_used: Decimal = strawberry.field(
        description="How far the median feature usage is below the minimum."
    )


@strawberry.type(description="A tier and how far the partner is from it, by its latest daily figures.")
class TierProgress:
    tier: Tier = strawberry.field(description="The tier.")
    qualifies: bool = strawberry.field(
        description="The partner meets every criterion now (the tier changes only at the monthly evaluation)."
    )
    missing: TierGap = strawberry.field(description="What it misses.")

    @classmethod
    def of(cls, progress: tiers.Progress, currency: str) -> TierProgress:
        gap = progress.gap
        return cls(
            tier=Tier.from_row(progress.tier, currency),
            qualifies=gap.qualifies,
            missing=TierGap(
                sold_mrr=Money.of(gap.sold_mrr, currency),
                managed_mrr=Money.of(gap.managed_mrr, currency),
                certification=gap.certification,
                median_features_used=gap.median_features,
            ),
        )


@row_type(tiers.CERTIFICATION_FIELDS)
@strawberry.type(description="A certification an operator recorded for a partner.")
class Certification(RowType):
    name: str = strawberry.field(description="The certification.")
    valid_until: date | None = strawberry.field(description="The last day it counts (null: no end).")
    recorded_at: datetime = strawberry.field(description="When it was recorded.")


@strawberry.type(
    description="Where a partner stands: its tier, the figures behind it and what it misses for the next one."
)
class PartnerTierStatus:
    tier: Tier | None = strawberry.field(description="The tier it holds (null: none), with its benefits.")
    tier_name: str | None = strawberry.field(description="The name of the tier it holds.")
    current: TierFigures | None = strawberry.field(
        description="Its figures as of the latest daily refresh (null before the first)."
    )
    last_assessment: TierAssessment | None = strawberry.field(description="The latest monthly evaluation.")
    next_tier: TierProgress | None = strawberry.field(
        description="The next active tier above the one it holds, and what it misses for it (null at the top)."
    )
    tiers: list[TierProgress] = strawberry.field(description="Every active tier by rank, with what it misses.")
    certifications: list[Certification] = strawberry.field(description="Its recorded certifications.")
    _partner_id: strawberry.Private[int]

    @strawberry.field(description="Its assessment history, newest first.")
    async def assessments(self, info: Info, first: First = None, after: After = None) -> Connection[TierAssessment]:
        page = await tiers.assessments_of(info.context.actor, self._partner_id, first=first, after=after)
        return connection(page, TierAssessment.from_row)

    @classmethod
    def of(cls, status: TierStatus) -> PartnerTierStatus:  # not tiers.TierStatus: the field `tiers` hides the module
        currency = status.currency
        current = status.current
        return cls(
            tier=Tier.from_row(status.tier, currency) if status.tier else None,
            tier_name=status.tier_name,
            current=TierFigures.from_row(current, current["refreshed_at"]) if current else None,
            last_assessment=TierAssessment.from_row(status.last_assessment) if status.last_assessment else None,
            next_tier=TierProgress.of(status.next_tier, currency) if status.next_tier else None,
            tiers=[TierProgress.of(p, currency) for p in status.ladder],
            certifications=[Certification.from_row(c) for c in status.certifications],
            _partner_id=status.partner_id,
        )


@strawberry.type(description="A feature usage report as recorded.")
class FeatureUsageReport:
    external_id: str = strawberry.field(description="The integrator's unique id of the report.")
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    features: list[str] = strawberry.field(description="The features used (lower case, each once).")
    used_at: datetime = strawberry.field(description="When they were used.")


# --- inputs and payloads ---------------------------------------------------------------------------------------


@strawberry.input(description="A new tier.")
class CreateTierInput:
    name: str = strawberry.field(description="Unique; fixed once created (commission rules match it).")
    rank: int = strawberry.field(description="Unique, from 1; higher is better.")
    minimum_sold_mrr: MoneyInput | None = strawberry.field(default=None, description="In the base currency; default 0.")
    minimum_managed_mrr: MoneyInput | None = strawberry.field(
        default=None, description="In the base currency; default 0."
    )
    required_certification: str | None = strawberry.field(default=None, description="A certification to hold.")
    minimum_median_features: int | None = strawberry.field(default=None, description="A minimum median feature usage.")


@strawberry.input(description="Change a tier; fields left out stay, null clears.")
class UpdateTierInput:
    tier_id: GlobalID = strawberry.field(description="The tier.")
    rank: int | None = strawberry.field(default=strawberry.UNSET, description="A new rank.")
    minimum_sold_mrr: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="In the base currency."
    )
    minimum_managed_mrr: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="In the base currency."
    )
    required_certification: str | None = strawberry.field(
        default=strawberry.UNSET, description="A certification to hold."
    )
    minimum_median_features: int | None = strawberry.field(
        default=strawberry.UNSET, description="A minimum median feature usage."
    )
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="false deactivates, true reactivates.")


@strawberry.type(description="The tier after the change.")
class TierPayload(Payload):
    tier: Tier | None = strawberry.field(default=None, description="The tier.")


@strawberry.input(description="Record a partner's certification.")
class RecordCertificationInput:
    partner_id: GlobalID = strawberry.field(description="The partner organization.")
    name: str = strawberry.field(description="The certification; recording it again replaces its validity.")
    valid_until: date | None = strawberry.field(default=None, description="The last day it counts (null: no end).")


@strawberry.input(description="Withdraw a partner's certification.")
class WithdrawCertificationInput:
    partner_id: GlobalID = strawberry.field(description="The partner organization.")
    name: str = strawberry.field(description="The certification.")


@strawberry.type(description="The certification recorded or withdrawn.")
class CertificationPayload(Payload):
    certification: Certification | None = strawberry.field(default=None, description="The certification.")


@strawberry.input(description="The features a customer used; idempotent by externalId.")
class RecordFeatureUsageInput:
    external_id: str = strawberry.field(description="The integrator's unique id of this report.")
    organization_id: GlobalID = strawberry.field(description="The customer organization.")
    features: list[str] = strawberry.field(description="Feature codes used (1 to 100).")
    used_at: datetime | None = strawberry.field(default=None, description="When; default now.")


@strawberry.type(
    description="The report; a repeated externalId returns the first one, a reused one with other "
    "content is a CONFLICT error."
)
class RecordFeatureUsagePayload(Payload):
    usage: FeatureUsageReport | None = strawberry.field(default=None, description="The report.")


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not strawberry.UNSET}


def _money(value: MoneyInput | None) -> tuple[str, str] | None:
    return (str(value.amount), value.currency) if value is not None else None


@strawberry.type
class TiersQuery:
    @strawberry.field(
        description="Where the partner stands in the tiers.", extensions=[Requires(TIER_READER, "partner_id")]
    )
    async def partner_tier(self, info: Info, partner_id: PartnerId = None) -> PartnerTierStatus:
        ctx = info.context
        return PartnerTierStatus.of(await tiers.partner_tier(ctx.actor, ctx.settings, partner_id_of(partner_id)))

    @strawberry.field(description="The tiers by rank with their benefits.", extensions=[Requires(PROGRAM_MANAGER)])
    async def tiers(
        self,
        info: Info,
        include_inactive: Annotated[bool, strawberry.argument(description="Also deactivated tiers.")] = False,
        first: First = None,
        after: After = None,
    ) -> Connection[Tier]:
        page = await tiers.list_tiers(info.context.actor, include_inactive=include_inactive, first=first, after=after)
        currency = info.context.settings.base_currency
        return connection(page, lambda row: Tier.from_row(row, currency))

    @strawberry.field(description="Tier assessments, newest first.", extensions=[Requires(PROGRAM_MANAGER)])
    async def tier_assessments(
        self,
        info: Info,
        partner_id: Annotated[GlobalID | None, strawberry.argument(description="Only this partner.")] = None,
        period: Annotated[str | None, strawberry.argument(description="Only this month, YYYY-MM.")] = None,
        changed_only: Annotated[bool, strawberry.argument(description="Only tier changes.")] = False,
        first: First = None,
        after: After = None,
    ) -> Connection[TierAssessment]:
        page = await tiers.list_assessments(
            info.context.actor,
            partner_id=partner_id_of(partner_id),
            period=period,
            changed_only=changed_only,
            first=first,
            after=after,
        )
        return connection(page, TierAssessment.from_row)


@strawberry.type
class TiersMutation:
    @strawberry.mutation(description="Create a tier.", extensions=[Requires(PROGRAM_MANAGER)])
    async def create_tier(self, info: Info, input: CreateTierInput) -> TierPayload:
        ctx = info.context
        change = tiers.create_tier(
            ctx.actor,
            ctx.settings,
            name=input.name,
            rank=input.rank,
            min_sold_mrr=_money(input.minimum_sold_mrr),
            min_managed_mrr=_money(input.minimum_managed_mrr),
            required_certification=input.required_certification,
            min_median_features=input.minimum_median_features,
        )
        return await run_mutation(
            TierPayload, change, lambda row: {"tier": Tier.from_row(row, ctx.settings.base_currency)}
        )

    @strawberry.mutation(description="Change, deactivate or reactivate a tier.", extensions=[Requires(PROGRAM_MANAGER)])
    async def update_tier(self, info: Info, input: UpdateTierInput) -> TierPayload:
        ctx = info.context
        changes = _given(
            rank=input.rank,
            required_certification=input.required_certification,
            min_median_features=input.minimum_median_features,
            active=input.active,
        )
        changes.update(_given(min_sold_mrr=input.minimum_sold_mrr, min_managed_mrr=input.minimum_managed_mrr))
        for key in ("min_sold_mrr", "min_managed_mrr"):
            if key in changes:
                changes[key] = _money(changes[key])
        change = tiers.update_tier(ctx.actor, ctx.settings, decode_id(input.tier_id, "Tier"), **changes)
        return await run_mutation(
            TierPayload, change, lambda row: {"tier": Tier.from_row(row, ctx.settings.base_currency)}
        )

    @strawberry.mutation(description="Record a partner's certification.", extensions=[Requires(PROGRAM_MANAGER)])
    async def record_certification(self, info: Info, input: RecordCertificationInput) -> CertificationPayload:
        change = tiers.record_certification(
            info.context.actor,
            decode_id(input.partner_id, "Organization"),
            name=input.name,
            valid_until=input.valid_until,
        )
        return await run_mutation(CertificationPayload, change, certification=Certification.from_row)

    @strawberry.mutation(description="Withdraw a partner's certification.", extensions=[Requires(PROGRAM_MANAGER)])
    async def withdraw_certification(self, info: Info, input: WithdrawCertificationInput) -> CertificationPayload:
        change = tiers.withdraw_certification(
            info.context.actor, decode_id(input.partner_id, "Organization"), name=input.name
        )
        return await run_mutation(CertificationPayload, change, certification=Certification.from_row)

    @strawberry.mutation(
        description="Report the features a customer used; a repeated externalId returns the first report.",
        extensions=[Requires(BILLING_WRITER)],
    )
    async def record_feature_usage(self, info: Info, input: RecordFeatureUsageInput) -> RecordFeatureUsagePayload:
        change = tiers.record_feature_usage(
            info.context.actor,
            external_id=input.external_id,
            organization_id=decode_id(input.organization_id, "Organization"),
            features=input.features,
            used_at=input.used_at,
        )
        return await run_mutation(
            RecordFeatureUsagePayload,
            change,
            lambda result: {
                "usage": FeatureUsageReport(
                    external_id=result["external_id"],
                    organization_id=global_id("Organization", result["organization_id"]),
                    features=result["features"],
                    used_at=result["used_at"],
                )
            },
        )

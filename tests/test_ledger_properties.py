"""A hypothesis stateful test of the ledger over random payments, partial refunds, holds, releases,
payouts and rejections, checking after every step: each partner's lines sum to pending + approved
+ paid + reversed; balances reconcile with payouts; paid lines unchanged; no payment paid to two
partners.

The machine drives the real resolvers, as the server would call them:
`resolvers.billing.record_payment` / `record_refund` with the billing key's actor (`billing:write`),
`resolvers.jobs.run_job("commissions")` after moving the frozen clock, and `resolvers.payouts`
(`request_payout` by each partner's administrator; `approve_payout`, `mark_paid`, `reject_payout` by
the operator; the monthly run). Everything expected is computed here, independently of the
resolvers: who earns (the README's attribution table), how much (the rule, the rate table, half to
even), what refunds take off (the rounded share of the cumulative refund), the threshold, and what a
payout claims.

The world (an operator, three partners paid in EUR, USD and GBP, customers attributed by invitation,
selection, affiliate link and discount code, payout settings, the rate table) is made once per run
through the resolvers. Every example starts from an empty ledger (payments, refunds, events, rules,
lines, payouts) on the frozen clock at START, draws its commission rules (percent and flat, different
hold periods and recurrences), then runs random steps; the invariants run after each one.

Async resolvers in a sync state machine: one `asyncio.Runner` owns the loop (and the context that
holds tortoise's connections) for the whole test. SQLite: a fresh file; PostgreSQL
(`DATABASE_URL=postgres://…`): that database, emptied first, as conftest does.

Runs are derandomized (the same examples every run); `LEDGER_EXPLORE=1` explores new ones (and keeps
failures in hypothesis' example database), `LEDGER_EXAMPLES` / `LEDGER_STEPS` change the budget.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import Any, TypeVar

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tortoise import Tortoise, connections

from partner_portal.models import tortoise_internals
from partner_portal.models.audit import AuditEvent
from partner_portal.models.billing import BillingEvent, Payment, Refund
from partner_portal.models.clock import now
from partner_portal.models.commissions import Commission, CommissionRule, IdempotencyRecord
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.db import open_database
from partner_portal.models.enums import (
    CommissionRuleKind,
    CommissionStatus,
    CommissionType,
    PayoutMethod,
    PayoutStatus,
    Program,
    Recurrence,
    RelationshipSource,
)
from partner_portal.models.identity import User
from partner_portal.models.organizations import Organization
from partner_portal.models.outbox import OutboxMessage
from partner_portal.models.payouts import Payout
from partner_portal.models.referrals import Referral
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import ApiKeyScope, OperatorPermission, Via
from partner_portal.permissions.scoping import load_delegations, load_memberships, load_operator_permissions
from partner_portal.resolvers import billing, catalog, commissions, identity, organizations, partners, payouts
from partner_portal.resolvers.errors import UserErrorCode, UserInputError
from partner_portal.resolvers.jobs import run_job
from partner_portal.settings import Settings
from tests.conftest import POSTGRES_URL, START, _empty_all_tables, test_settings

T = TypeVar("T")

EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "20"))
STEPS = int(os.environ.get("LEDGER_STEPS", "100"))
EXPLORE = bool(os.environ.get("LEDGER_EXPLORE"))

PENDING, APPROVED, PAID, REVERSED = (
    CommissionStatus.PENDING,
    CommissionStatus.APPROVED,
    CommissionStatus.PAID,
    CommissionStatus.REVERSED,
)
STATUSES = (PENDING, APPROVED, PAID, REVERSED)
OPEN_PAYOUT = (PayoutStatus.REQUESTED, PayoutStatus.APPROVED)

# --- the world: currencies, rates, partners, customers ---------------------------------------------------------

EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2}
# units of the currency per 1 USD (the base currency), from a date on; CHF has no rate
RATES = {
    "EUR": [(date(2025, 1, 1), "0.90"), (date(2026, 4, 1), "0.95")],
    "GBP": [(date(2025, 1, 1), "0.80")],
    "JPY": [(date(2025, 1, 1), "150")],
}
# PAYOUT_THRESHOLD of this world: low enough that payouts happen often in 50 steps, high enough to refuse some
THRESHOLD = "20.00 USD"
THRESHOLD_USD = 2000

PROGRAM_OF = {
    CommissionType.PARTNER: Program.SERVICE_PARTNER,
    CommissionType.SELF: Program.SERVICE_PARTNER,
    CommissionType.AFFILIATE: Program.AFFILIATE,
    CommissionType.CODE: Program.EXPERT,
}


@dataclass(frozen=True)
class PartnerSpec:
    name: str
    currency: str
    programs: tuple[Program, ...]
    method: PayoutMethod
    automatic: bool


PARTNERS = {
    "north": PartnerSpec(
        "Northwind Partners", "EUR", (Program.SERVICE_PARTNER, Program.AFFILIATE), PayoutMethod.PAYPAL, True
    ),
    "south": PartnerSpec(
        "Southwind Sales", "USD", (Program.AFFILIATE, Program.EXPERT), PayoutMethod.BANK_TRANSFER, False
    ),
    "east": PartnerSpec(
        "Eastwind Consulting", "GBP", (Program.SERVICE_PARTNER, Program.EXPERT), PayoutMethod.PAYPAL, True
    ),
}


@dataclass(frozen=True)
class CustomerSpec:
    """A relationship (partner, source, started, ended) and/or a referral (partner, type, created)."""

    relationship: tuple[str, RelationshipSource, datetime, datetime | None] | None = None
    referral: tuple[str, CommissionType, datetime] | None = None


EARLY = START - timedelta(days=60)
CUSTOMERS = {
    "invited": CustomerSpec(relationship=("north", RelationshipSource.INVITATION, EARLY, None)),
    "selected": CustomerSpec(relationship=("east", RelationshipSource.SELECTED, EARLY, None)),
    "linked": CustomerSpec(referral=("south", CommissionType.AFFILIATE, EARLY)),
    "coded": CustomerSpec(referral=("east", CommissionType.CODE, EARLY)),
    # Northwind's invitation ends on day 40; the affiliate link earns for Southwind from then on
    "switching": CustomerSpec(
        relationship=("north", RelationshipSource.INVITATION, EARLY, START + timedelta(days=40)),
        referral=("south", CommissionType.AFFILIATE, EARLY),
    ),
    # used Southwind's code, chose Northwind on day 20: SELF only if it had not paid before
    "late_choice": CustomerSpec(
        relationship=("north", RelationshipSource.SELECTED, START + timedelta(days=20), None),
        referral=("south", CommissionType.CODE, EARLY),
    ),
    # Eastwind's affiliate link, but Eastwind is not in the AFFILIATE program
    "unenrolled": CustomerSpec(referral=("east", CommissionType.AFFILIATE, EARLY)),
    "alone": CustomerSpec(),
}


@dataclass
class World:
    settings: Settings
    operator_id: int
    key_id: int
    partner_ids: dict[str, int]
    admin_ids: dict[str, int]
    customer_ids: dict[str, int]

    def person(self, user_id: int) -> Actor:
        """A signed-in user's actor, loading memberships and operator permissions as a request does."""
        return Actor(
            via=Via.SESSION,
            user_id=user_id,
            _load_memberships=load_memberships,
            _load_operator=load_operator_permissions,
            _load_delegations=partial(load_delegations, idle=self.settings.management_session_idle),
        )

    def operator(self) -> Actor:
        return self.person(self.operator_id)

    def admin(self, partner: str) -> Actor:
        return self.person(self.admin_ids[partner])

    def billing_key(self) -> Actor:
        return Actor(via=Via.API_KEY, api_key_id=self.key_id, scopes=frozenset({ApiKeyScope.BILLING_WRITE}))


async def make_world(settings_: Settings) -> World:
    """Through the resolvers: the operator, the rates, the billing key, the partners (applied, approved,
    payout settings); customers' relationships and referrals as rows."""
    cli = Actor(via=Via.CLI)
    operator_id = await identity.make_operator(
        cli, "olivia@vendor.example", list(OperatorPermission), name="Olivia Operator", settings=settings_
    )
    key = await identity.issue_api_key(cli, "billing", [ApiKeyScope.BILLING_WRITE])
    world = World(settings_, operator_id, key.row["id"], {}, {}, {})
    for currency, table in RATES.items():
        for valid_from, rate in table:
            await catalog.set_exchange_rate(
                world.operator(), settings_, currency=currency, rate=rate, valid_from=valid_from
            )
    for key_, spec in PARTNERS.items():
        admin = await User.create(email=f"admin@{key_}.example", name=f"{spec.name} Admin", email_verified_at=now())
        world.admin_ids[key_] = admin.id
        organization = await organizations.create_organization(world.admin(key_), name=spec.name)
        world.partner_ids[key_] = organization["id"]
        application = await partners.request_partner_status(
            world.admin(key_),
            organization["id"],
            {
                "legal_name": spec.name,
                "website": f"https://{key_}.example",
                "country": "CH",
                "vat_id": None,
                "contact_name": "Avery Admin",
                "contact_email": f"admin@{key_}.example",
                "contact_phone": None,
                "programs": list(spec.programs),
                "message": "",
            },
        )
        await partners.approve_application(
            world.operator(), application["id"], programs=spec.programs, note=None, payout_currency=spec.currency
        )
        bank = spec.method is PayoutMethod.BANK_TRANSFER
        await payouts.set_settings(
            world.admin(key_),
            organization["id"],
            method=spec.method,
            paypal_email=None if bank else f"money@{key_}.example",
            account_holder=spec.name if bank else None,
            iban="DE89370400440532013000" if bank else None,
            bic="COBADEFFXXX" if bank else None,
            automatic=spec.automatic,
        )
    for name, spec in CUSTOMERS.items():
        customer = await Organization.create(name=name, search_name=name)
        world.customer_ids[name] = customer.id
        if spec.relationship is not None:
            partner, source, started, ended = spec.relationship
            await CustomerRelationship.create(
                customer_id=customer.id,
                partner_id=world.partner_ids[partner],
                source=source,
                started_at=started,
                ended_at=ended,
            )
        if spec.referral is not None:
            partner, kind, created = spec.referral
            await Referral.create(
                customer_id=customer.id, partner_id=world.partner_ids[partner], type=kind, created_at=created
            )
    return world


LEDGER_MODELS = (
    Commission,
    Payout,
    IdempotencyRecord,
    Refund,
    Payment,
    BillingEvent,
    CommissionRule,
    AuditEvent,
    OutboxMessage,
)  # children before parents


async def empty_ledger() -> None:
    await connections.get("default").execute_script(
        ";".join(f'DELETE FROM "{tortoise_internals.table(model)}"' for model in LEDGER_MODELS)
    )


# --- money, computed here ---------------------------------------------------------------------------------------


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def text(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-EXPONENT[currency]))


def minor_of(amount: str, currency: str) -> int:
    return int(Decimal(amount).scaleb(EXPONENT[currency]))


def rate(currency: str, on: date) -> Decimal | None:
    if currency == "USD":
        return Decimal(1)
    valid = [Decimal(value) for since, value in RATES.get(currency, []) if since <= on]
    return valid[-1] if valid else None


def convert(amount: Decimal, source: str, target: str, on: date) -> Decimal | None:
    """Exact target minor units for source minor units (None without a rate), as the README says:
    through the base currency at the rate of the day."""
    if source == target:
        factor = Decimal(1)
    else:
        to_rate, from_rate = rate(target, on), rate(source, on)
        if to_rate is None or from_rate is None:
            return None
        factor = to_rate / from_rate
    return amount * factor * Decimal(10) ** (EXPONENT[target] - EXPONENT[source])


def threshold(currency: str, on: date) -> int:
    return half_even(convert(Decimal(THRESHOLD_USD), "USD", currency, on))


def taken_by_refunds(earned: int, refunded: int, amount: int) -> int:
    """What refunds take off a line: the rounded share of the cumulative refund."""
    return half_even(Decimal(earned) * refunded / amount)


# --- the model --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    kind: CommissionRuleKind
    rate: str | None
    flat: tuple[str, str] | None
    recurrence: tuple[Recurrence, int | None]
    hold_days: int


@dataclass(frozen=True)
class RuleModel:
    id: int
    spec: RuleSpec

    @property
    def rate_bp(self) -> int:
        return int(Decimal(self.spec.rate) * 100) if self.spec.rate else 0


@dataclass(frozen=True)
class Earning:
    partner: str
    type: CommissionType
    rule: RuleModel
    earned: int
    status: CommissionStatus


@dataclass
class PaymentModel:
    external_id: str
    customer: str
    amount: int
    currency: str
    paid_at: datetime
    id: int
    earning: Earning | None
    refunded: int = 0
    refund_ids: set[int] = field(default_factory=set)

    @property
    def left(self) -> int:
        return self.amount - self.refunded


@dataclass
class Waiting:
    """Refunds that arrived before their payment."""

    currency: str
    amounts: list[int] = field(default_factory=list)
    refund_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Event:
    """A billing event that was taken: how to send it again, and what it answered."""

    kind: str  # "payment" | "refund"
    arguments: dict[str, Any]
    result: dict[str, Any]


@dataclass
class PayoutModel:
    partner: str
    status: PayoutStatus
    amount: int


percent_rates = st.sampled_from(["20.00", "17.35", "33.33", "5.00", "0.01", "100.00"])
flat_amounts = st.sampled_from([("25.00", "USD"), ("19.99", "EUR"), ("3000", "JPY"), ("12.50", "GBP"), ("7.00", "CHF")])
hold_days = st.sampled_from([0, 14, 30])
recurrences = st.sampled_from(
    [
        (Recurrence.LIFETIME, None),
        (Recurrence.MONTHS, 2),
        (Recurrence.LIFETIME, None),
        (Recurrence.ONE_TIME, None),
        (Recurrence.MONTHS, 1),
    ]
)
percent_rules = st.builds(
    RuleSpec,
    kind=st.just(CommissionRuleKind.PERCENT),
    rate=percent_rates,
    flat=st.none(),
    recurrence=recurrences,
    hold_days=hold_days,
)
flat_rules = st.builds(
    RuleSpec,
    kind=st.just(CommissionRuleKind.FLAT),
    rate=st.none(),
    flat=flat_amounts,
    recurrence=recurrences,
    hold_days=hold_days,
)
any_rules = percent_rules | flat_rules
picks = st.integers(min_value=0, max_value=10**6)
# mostly 100.00 to 3,000.00 (hypothesis likes small integers: they would earn nothing), sometimes odd amounts
payment_minor = st.integers(min_value=10_000, max_value=300_000) | st.sampled_from([1, 2, 3, 5, 99_999, 100_000])
rated_currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY"])


@dataclass(frozen=True)
class PaymentSpec:
    """One argument for `pay`: hypothesis tries rules with fewer arguments first, and payments are what
    everything else needs."""

    customer: str
    amount: int
    currency: str
    hours_ago: int


payment_specs = st.builds(
    PaymentSpec,
    customer=st.sampled_from(list(CUSTOMERS)),
    amount=payment_minor,
    currency=st.sampled_from(["USD", "EUR", "GBP", "JPY", "CHF"]),
    hours_ago=st.integers(min_value=0, max_value=24 * 12),
)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, runner: asyncio.Runner, world: World) -> None:
        super().__init__()
        self.runner = runner
        self.world = world
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.run(empty_ledger())
        self.rules: dict[tuple[Program, str | None], RuleModel] = {}
        self.payments: dict[str, PaymentModel] = {}
        self.waiting: dict[str, Waiting] = {}
        self.events: list[Event] = []
        self.payouts: dict[int, PayoutModel] = {}
        self.paid_lines: dict[int, tuple] = {}
        self.balances: dict[str, int] = {}  # approved and unclaimed, as of the last invariant check
        self.lines_checked: list[dict] | None = None
        self.counter = 0

    def teardown(self) -> None:
        self.traveller.stop()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def query(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await a queryset built inside the loop (tortoise finds its connections in the runner's context)."""

        async def awaited() -> T:
            return await make()

        return self.runner.run(awaited())

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def partner_key(self, partner_id: int) -> str:
        return next(k for k, v in self.world.partner_ids.items() if v == partner_id)

    # --- rules of the program ------------------------------------------------------------------------------

    async def _create_rule(self, program: Program, spec: RuleSpec, partner: str | None) -> RuleModel:
        recurrence, months = spec.recurrence
        row = await commissions.create_rule(
            self.world.operator(),
            program=program,
            kind=spec.kind,
            rate=spec.rate,
            flat_amount=spec.flat[0] if spec.flat else None,
            flat_currency=spec.flat[1] if spec.flat else None,
            recurrence=recurrence,
            months=months,
            hold_days=spec.hold_days,
            product_id=None,
            tier=None,
            partner_id=self.world.partner_ids[partner] if partner else None,
        )
        model = RuleModel(row["id"], spec)
        self.rules[(program, partner)] = model
        return model

    @initialize(
        service=any_rules, affiliate=st.none() | any_rules, expert=percent_rules, east_expert=st.none() | any_rules
    )
    def program_rules(
        self, service: RuleSpec, affiliate: RuleSpec | None, expert: RuleSpec, east_expert: RuleSpec | None
    ) -> None:
        """Program defaults (AFFILIATE maybe without a rule: nobody earns there) and maybe a rule for Eastwind
        alone, which wins over the EXPERT default."""
        self.run(self._create_rule(Program.SERVICE_PARTNER, service, None))
        if affiliate is not None:
            self.run(self._create_rule(Program.AFFILIATE, affiliate, None))
        self.run(self._create_rule(Program.EXPERT, expert, None))
        if east_expert is not None:
            self.run(self._create_rule(Program.EXPERT, east_expert, "east"))

    def _replace_rule(self, program: Program, spec: RuleSpec) -> None:
        """Rules are deactivated, never edited: lines already written keep theirs."""
        old = self.rules.pop((program, None), None)
        if old is not None:
            self.run(commissions.deactivate_rule(self.world.operator(), old.id))
        self.run(self._create_rule(program, spec, None))

    # --- who earns how much, computed here ------------------------------------------------------------------

    def _attribution(self, customer: str, paid_at: datetime) -> tuple[str, CommissionType] | None:
        spec = CUSTOMERS[customer]
        first_paid = min([p.paid_at for p in self.payments.values() if p.customer == customer] + [paid_at])
        if spec.relationship is not None:
            partner, source, started, ended = spec.relationship
            if started <= paid_at and (ended is None or ended > paid_at):
                if source is RelationshipSource.INVITATION:
                    return partner, CommissionType.PARTNER
                if started <= first_paid:
                    return partner, CommissionType.SELF
        if spec.referral is not None and spec.referral[2] <= paid_at:
            return spec.referral[0], spec.referral[1]
        return None

    def expected_earning(self, customer: str, amount: int, currency: str, paid_at: datetime) -> Earning | str | None:
        """The line a payment earns, None, or "NO_RATE" when it earns but cannot be converted."""
        attribution = self._attribution(customer, paid_at)
        if attribution is None:
            return None
        partner, type_ = attribution
        program = PROGRAM_OF[type_]
        if program not in PARTNERS[partner].programs:
            return None
        rule_ = self.rules.get((program, partner)) or self.rules.get((program, None))
        if rule_ is None:
            return None
        earlier = [
            p.paid_at
            for p in self.payments.values()
            if p.customer == customer and p.earning is not None and p.earning.partner == partner
        ]
        recurrence, months = rule_.spec.recurrence
        if earlier and recurrence is Recurrence.ONE_TIME:
            return None
        if earlier and recurrence is Recurrence.MONTHS and paid_at >= min(earlier) + timedelta(days=30 * months):
            return None
        target = PARTNERS[partner].currency
        if rule_.spec.kind is CommissionRuleKind.PERCENT:
            source, base = currency, Decimal(amount) * rule_.rate_bp / Decimal(10000)
        else:
            source, base = rule_.spec.flat[1], Decimal(minor_of(*rule_.spec.flat))
        exact = convert(base, source, target, paid_at.date())
        if exact is None:
            return "NO_RATE"
        held = paid_at + timedelta(days=rule_.spec.hold_days) > now()
        return Earning(partner, type_, rule_, half_even(exact), PENDING if held else APPROVED)

    # --- snapshots -------------------------------------------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        """Every row the ledger is made of, and how many audit events and mails there are."""
        return {
            "lines": await Commission.all()
            .order_by("id")
            .values_list(
                "id",
                "source_key",
                "partner_id",
                "payment_id",
                "refund_id",
                "payout_id",
                "status",
                "amount",
                "currency",
                "hold_until",
            ),
            "payouts": await Payout.all()
            .order_by("id")
            .values_list(
                "id", "partner_id", "status", "amount", "currency", "reference", "note", "decided_at", "paid_at"
            ),
            "payments": await Payment.all()
            .order_by("id")
            .values_list("id", "external_id", "amount", "refunded_amount"),
            "refunds": await Refund.all().order_by("id").values_list("id", "external_id", "payment_id", "amount"),
            "events": await BillingEvent.all().order_by("id").values_list("id", "external_id", "kind", "result"),
            "audit": await AuditEvent.all().count(),
            "outbox": await OutboxMessage.all().count(),
        }

    def refused(self, call: Callable[[], Coroutine], *codes: UserErrorCode) -> UserErrorCode:
        """The call fails with one of the codes and changes nothing."""
        before = self.run(self.snapshot())
        try:
            self.run(call())
        except UserInputError as error:
            code = error.problems[0].code
        else:
            raise AssertionError(f"expected one of {codes}, the call succeeded")
        assert code in codes, (code, codes)
        assert self.run(self.snapshot()) == before, f"{code} changed the ledger"
        return code

    # --- billing events --------------------------------------------------------------------------------------

    def _pay(self, external_id: str, customer: str, amount: int, currency: str, paid_at: datetime) -> None:
        expected = self.expected_earning(customer, amount, currency, paid_at)
        arguments = {
            "external_id": external_id,
            "organization_id": self.world.customer_ids[customer],
            "amount": text(amount, currency),
            "currency": currency,
            "paid_at": paid_at,
            "plan_code": None,
        }
        call = partial(billing.record_payment, self.world.billing_key(), self.world.settings, **arguments)
        if expected == "NO_RATE":
            self.refused(call, UserErrorCode.NO_EXCHANGE_RATE)
            return
        result = self.run(call())
        waiting = self.waiting.pop(external_id, Waiting(currency))
        payment = PaymentModel(
            external_id,
            customer,
            amount,
            currency,
            paid_at,
            result["payment_id"],
            expected,
            refunded=min(amount, sum(waiting.amounts)),
            refund_ids=waiting.refund_ids,
        )
        self.payments[external_id] = payment
        self.events.append(Event("payment", arguments, result))
        row = self.query(lambda: Payment.get(id=payment.id).values("amount", "currency", "refunded_amount", "paid_at"))
        assert row == {"amount": amount, "currency": currency, "refunded_amount": payment.refunded, "paid_at": paid_at}
        if expected is None:
            assert result["commission_id"] is None
            return
        line = self.query(
            lambda: Commission.get(id=result["commission_id"]).values(
                "partner_id",
                "type",
                "rule_id",
                "customer_id",
                "payment_id",
                "refund_id",
                "status",
                "amount",
                "currency",
                "original_amount",
                "original_currency",
                "hold_until",
                "source_key",
            )
        )
        assert {
            k: line[k]
            for k in (
                "partner_id",
                "type",
                "rule_id",
                "customer_id",
                "payment_id",
                "refund_id",
                "currency",
                "original_amount",
                "original_currency",
                "hold_until",
                "source_key",
            )
        } == {
            "partner_id": self.world.partner_ids[expected.partner],
            "type": expected.type,
            "rule_id": expected.rule.id,
            "customer_id": self.world.customer_ids[customer],
            "payment_id": payment.id,
            "refund_id": None,
            "currency": PARTNERS[expected.partner].currency,
            "original_amount": amount,
            "original_currency": currency,
            "hold_until": paid_at + timedelta(days=expected.rule.spec.hold_days),
            "source_key": f"payment:{payment.id}",
        }
        whole = expected.earned > 0 and taken_by_refunds(expected.earned, payment.refunded, amount) >= expected.earned
        assert line["status"] == (REVERSED if whole else expected.status), (line, expected)
        # the amount (after any refund that waited for this payment) is checked by the invariants

    @rule(payment=payment_specs)
    def pay(self, payment: PaymentSpec) -> None:
        """A payment, possibly reported late (paid up to 12 days ago). CHF has no rate: refused with
        NO_EXCHANGE_RATE when it earns a commission that must be converted, nothing kept."""
        self._pay(
            self.next_id("pay"),
            payment.customer,
            payment.amount,
            payment.currency,
            now() - timedelta(hours=payment.hours_ago),
        )

    @precondition(lambda self: bool(self.payments))
    @rule(
        pick=picks,
        size=st.sampled_from(["some", "half", "all", "one", "too_much", "other_currency"]),
        some=picks,
        settled=st.booleans(),
    )
    def refund(self, pick: int, size: str, some: int, settled: bool) -> None:
        """A partial or whole refund of what is left of a payment (maybe one whose line a payout holds or
        paid); more than is left, or in another currency: refused, nothing kept."""
        payments = list(self.payments.values())
        candidates = [p for p in payments if p.left > 0] if size not in ("too_much", "other_currency") else payments
        if settled:
            claimed = set(
                self.query(
                    lambda: Commission.filter(refund_id=None, payout_id__not_isnull=True).values_list(
                        "payment_id", flat=True
                    )
                )
            )
            candidates = [p for p in candidates if p.id in claimed] or candidates
        payment = (candidates or payments)[pick % len(candidates or payments)]
        currency, code = payment.currency, None
        if size == "too_much" or payment.left == 0:
            amount, code = payment.left + 1 + some % 1000, UserErrorCode.INVALID_VALUE
        elif size == "other_currency":
            currency = "GBP" if payment.currency != "GBP" else "EUR"
            amount, code = 1, UserErrorCode.CURRENCY_MISMATCH
        else:
            amount = {
                "all": payment.left,
                "half": max(1, payment.left // 2),
                "one": 1,
                "some": 1 + some % payment.left,
            }[size]
        arguments = {
            "external_id": self.next_id("refund"),
            "payment_external_id": payment.external_id,
            "amount": text(amount, currency),
            "currency": currency,
            "refunded_at": now(),
        }
        call = partial(billing.record_refund, self.world.billing_key(), **arguments)
        if code is not None:
            self.refused(call, code)
            return
        result = self.run(call())
        assert result["payment_id"] == payment.id
        payment.refunded += amount
        payment.refund_ids.add(result["refund_id"])
        self.events.append(Event("refund", arguments, result))

    @precondition(lambda self: len(self.waiting) < 3)
    @rule(pick=picks, new=st.booleans(), amount=st.integers(min_value=1, max_value=50_000), currency=rated_currencies)
    def refund_before_its_payment(self, pick: int, new: bool, amount: int, currency: str) -> None:
        """A refund whose payment is not known yet waits for it."""
        if new or not self.waiting:
            external_id = self.next_id("pay")
            self.waiting[external_id] = Waiting(currency)
        else:
            external_id = sorted(self.waiting)[pick % len(self.waiting)]
        waiting = self.waiting[external_id]
        arguments = {
            "external_id": self.next_id("refund"),
            "payment_external_id": external_id,
            "amount": text(amount, waiting.currency),
            "currency": waiting.currency,
            "refunded_at": now(),
        }
        result = self.run(billing.record_refund(self.world.billing_key(), **arguments))
        assert result["payment_id"] is None
        waiting.amounts.append(amount)
        waiting.refund_ids.add(result["refund_id"])
        self.events.append(Event("refund", arguments, result))

    @precondition(lambda self: bool(self.waiting))
    @rule(
        pick=picks,
        customer=st.sampled_from(list(CUSTOMERS)),
        extra=st.integers(min_value=0, max_value=300_000),
        hours_ago=st.integers(min_value=0, max_value=24 * 12),
    )
    def pay_after_its_refunds(self, pick: int, customer: str, extra: int, hours_ago: int) -> None:
        """The payment the waiting refunds are for arrives: they are applied at once."""
        external_id = sorted(self.waiting)[pick % len(self.waiting)]
        waiting = self.waiting[external_id]
        amount = max(1, sum(waiting.amounts) + extra - 1000)  # sometimes less than the refunds: they are capped
        self._pay(external_id, customer, amount, waiting.currency, now() - timedelta(hours=hours_ago))

    @precondition(lambda self: bool(self.events))
    @rule(pick=picks, altered=st.booleans())
    def replay(self, pick: int, altered: bool) -> None:
        """An event sent again: the first answer, nothing changes; with other content: CONFLICT."""
        event = self.events[pick % len(self.events)]
        arguments = dict(event.arguments)
        if altered:
            arguments["amount"] = str(Decimal(arguments["amount"]) + 1)
        if event.kind == "payment":
            call = partial(billing.record_payment, self.world.billing_key(), self.world.settings, **arguments)
        else:
            call = partial(billing.record_refund, self.world.billing_key(), **arguments)
        if altered:
            self.refused(call, UserErrorCode.CONFLICT)
            return
        before = self.run(self.snapshot())
        assert self.run(call()) == event.result
        assert self.run(self.snapshot()) == before

    # --- time ------------------------------------------------------------------------------------------------

    @rule(
        days=st.integers(min_value=0, max_value=35),
        hours=st.integers(min_value=0, max_value=23),
        new_rule=st.none()
        | st.tuples(st.sampled_from([Program.SERVICE_PARTNER, Program.AFFILIATE, Program.EXPERT]), any_rules),
    )
    def release(self, days: int, hours: int, new_rule: tuple[Program, RuleSpec] | None) -> None:
        """The clock moves on; the commissions job releases exactly the lines whose hold ended. Meanwhile the
        operator may have replaced a program's rule."""
        if new_rule is not None:
            self._replace_rule(*new_rule)
        self.clock.shift(timedelta(days=days, hours=hours))
        due = self.query(lambda: Commission.filter(status=PENDING).values_list("id", "hold_until"))
        expected = sorted(i for i, until in due if until <= now())
        summary = self.run(run_job("commissions", self.world.settings))
        assert summary == f"{len(expected)} commission line(s) released"
        released = self.query(lambda: Commission.filter(id__in=expected, status=APPROVED).values_list("id", flat=True))
        assert sorted(released) == expected

    # --- payouts ---------------------------------------------------------------------------------------------

    async def _claimable(self, partner: str) -> dict[int, int]:
        """Approved lines no payout holds, in the payout currency: line id to amount."""
        rows = await Commission.filter(
            partner_id=self.world.partner_ids[partner],
            status=APPROVED,
            payout_id=None,
            currency=PARTNERS[partner].currency,
        ).values_list("id", "amount")
        return dict(rows)

    def _check_new_payout(
        self, partner: str, payout_id: int, claimable: dict[int, int], requested_by: int | None
    ) -> None:
        row = self.query(
            lambda: Payout.get(id=payout_id).values("partner_id", "status", "amount", "currency", "requested_by_id")
        )
        assert row == {
            "partner_id": self.world.partner_ids[partner],
            "status": PayoutStatus.REQUESTED,
            "amount": sum(claimable.values()),
            "currency": PARTNERS[partner].currency,
            "requested_by_id": requested_by,
        }
        claimed = self.query(lambda: Commission.filter(payout_id=payout_id).values_list("id", flat=True))
        assert sorted(claimed) == sorted(claimable)
        self.payouts[payout_id] = PayoutModel(partner, PayoutStatus.REQUESTED, sum(claimable.values()))

    def _payable(self, partner: str, claimable: dict[int, int]) -> bool:
        total = sum(claimable.values())
        return total > 0 and total >= threshold(PARTNERS[partner].currency, now().date())

    @precondition(lambda self: any(self.balances.values()))
    @rule(who=st.sampled_from(["with a balance", "richest", "monthly run", *sorted(PARTNERS)]))
    def request_payout(self, who: str) -> None:
        """A partner's administrator claims the whole approved balance, below the threshold (or at zero or
        less) nothing is kept; or the monthly run requests a payout for each partner with automatic payouts
        whose balance reaches the threshold. Only once some partner has a balance other than zero."""
        if who == "monthly run":
            self._monthly_run()
            return
        if who == "with a balance":
            who = next(k for k, v in sorted(self.balances.items()) if v)
        elif who == "richest":
            who = max(sorted(self.balances), key=self.balances.get)
        claimable = self.run(self._claimable(who))
        shown = self.run(payouts.balance(self.world.admin(who), self.world.settings, self.world.partner_ids[who]))
        assert (shown.currency, shown.approved, shown.threshold) == (
            PARTNERS[who].currency,
            sum(claimable.values()),
            threshold(PARTNERS[who].currency, now().date()),
        )
        call = partial(payouts.request_payout, self.world.admin(who), self.world.settings, self.world.partner_ids[who])
        if not self._payable(who, claimable):
            self.refused(call, UserErrorCode.BELOW_THRESHOLD)
            return
        row = self.run(call())
        self._check_new_payout(who, row["id"], claimable, self.world.admin_ids[who])

    def _monthly_run(self) -> None:
        automatic = sorted((k for k, spec in PARTNERS.items() if spec.automatic), key=self.world.partner_ids.get)
        claimable = {k: self.run(self._claimable(k)) for k in automatic}
        payable = [k for k in automatic if self._payable(k, claimable[k])]
        known = set(self.query(lambda: Payout.all().values_list("id", flat=True)))
        summary = self.run(run_job("payouts", self.world.settings))
        assert summary == (
            f"{len(payable)} payout(s) created, {len(automatic) - len(payable)} partner(s) below the threshold"
        )
        created = self.query(lambda: Payout.exclude(id__in=known).order_by("id").values_list("id", "partner_id"))
        assert [self.partner_key(p) for _, p in created] == payable
        for payout_id, partner_id in created:
            partner = self.partner_key(partner_id)
            self._check_new_payout(partner, payout_id, claimable[partner], None)

    @precondition(lambda self: any(p.status in OPEN_PAYOUT for p in self.payouts.values()))
    @rule(
        pick=picks,
        decision=st.sampled_from(
            ["approve", "mark_paid", "approve+mark_paid", "reject", "approve any", "mark_paid any", "reject any"]
        ),
    )
    def decide(self, pick: int, decision: str) -> None:
        """The operator approves, marks paid (or both at once) or rejects a payout in a state that allows it
        (if there is one), or any payout: from a state that does not allow it, PAYOUT_DECIDED and nothing
        changes."""
        decisions, _, anyone = decision.partition(" ")
        first = decisions.split("+")[0]
        fitting = {"approve": (PayoutStatus.REQUESTED,), "mark_paid": (PayoutStatus.APPROVED,), "reject": OPEN_PAYOUT}
        candidates = [] if anyone else sorted(i for i, p in self.payouts.items() if p.status in fitting[first])
        candidates = candidates or sorted(self.payouts)
        payout_id = candidates[pick % len(candidates)]
        for one in decisions.split("+"):
            self._decide(payout_id, one)

    def _decide(self, payout_id: int, decision: str) -> None:
        payout = self.payouts[payout_id]
        operator = self.world.operator()
        allowed_from, after, call = {
            "approve": (
                (PayoutStatus.REQUESTED,),
                PayoutStatus.APPROVED,
                partial(payouts.approve_payout, operator, payout_id),
            ),
            "mark_paid": (
                (PayoutStatus.APPROVED,),
                PayoutStatus.PAID,
                partial(payouts.mark_paid, operator, payout_id, f"BANK-{payout_id}"),
            ),
            "reject": (
                OPEN_PAYOUT,
                PayoutStatus.REJECTED,
                partial(payouts.reject_payout, operator, payout_id, "Check it."),
            ),
        }[decision]
        if payout.status not in allowed_from:
            self.refused(call, UserErrorCode.PAYOUT_DECIDED)
            return
        lines = self.query(
            lambda: (
                Commission.filter(payout_id=payout_id)
                .order_by("id")
                .values_list("id", "partner_id", "payment_id", "status", "amount", "currency")
            )
        )
        row = self.run(call())
        assert (row["status"], row["amount"]) == (after, payout.amount)
        payout.status = after
        if after is PayoutStatus.PAID:
            for line in lines:
                self.paid_lines[line[0]] = (*line[:3], PAID, *line[4:], payout_id)
        if after is PayoutStatus.REJECTED:
            released = self.query(
                lambda: Commission.filter(id__in=[line[0] for line in lines]).values_list("status", "payout_id")
            )
            assert set(released) <= {(APPROVED, None)}

    # --- the invariants --------------------------------------------------------------------------------------

    @invariant()
    def ledger_is_consistent(self) -> None:
        self.run(self._check_ledger())

    async def _check_ledger(self) -> None:
        moment = now()
        lines = (
            await Commission.all()
            .order_by("id")
            .values(
                "id",
                "source_key",
                "partner_id",
                "payment_id",
                "refund_id",
                "payout_id",
                "status",
                "amount",
                "currency",
                "hold_until",
            )
        )
        payout_rows = {
            p["id"]: p for p in await Payout.all().values("id", "partner_id", "status", "amount", "currency")
        }
        payment_rows = {p["external_id"]: p for p in await Payment.all().values("id", "external_id", "refunded_amount")}

        # every line has a known status; none twice for the same source and partner
        assert {line["status"] for line in lines} <= set(STATUSES)
        keys = [(line["source_key"], line["partner_id"]) for line in lines]
        assert len(keys) == len(set(keys)), "a line exists twice for one (source_key, partner)"

        # lines by status: held and reversed lines are unclaimed, held ones still held, paid ones in a paid payout
        for line in lines:
            if line["status"] in (PENDING, REVERSED):
                assert line["payout_id"] is None, line
            if line["status"] == PENDING:
                assert line["hold_until"] > moment, line
            if line["payout_id"] is not None:
                payout = payout_rows[line["payout_id"]]
                assert (payout["partner_id"], payout["currency"]) == (line["partner_id"], line["currency"]), line
                expected_status = PAID if payout["status"] == PayoutStatus.PAID else APPROVED
                assert line["status"] == expected_status and payout["status"] != PayoutStatus.REJECTED, (line, payout)
            elif line["status"] == PAID:
                raise AssertionError(f"a paid line outside a payout: {line}")

        # paid lines never change, and lines become paid only when their payout is marked paid
        paid_now = {
            line["id"]: (
                line["id"],
                line["partner_id"],
                line["payment_id"],
                line["status"],
                line["amount"],
                line["currency"],
                line["payout_id"],
            )
            for line in lines
            if line["status"] == PAID
        }
        for line_id, before in self.paid_lines.items():
            assert paid_now.get(line_id) == before, f"paid line {line_id} changed: {before} -> {paid_now.get(line_id)}"
        assert set(paid_now) == set(self.paid_lines)

        # every payout is worth exactly its lines; a paid one holds only paid lines, a rejected one none
        assert {i: (self.partner_key(p["partner_id"]), p["status"], p["amount"]) for i, p in payout_rows.items()} == {
            i: (p.partner, p.status, p.amount) for i, p in self.payouts.items()
        }
        claimed: dict[int, list[dict]] = defaultdict(list)
        for line in lines:
            if line["payout_id"] is not None:
                claimed[line["payout_id"]].append(line)
        for payout_id, payout in payout_rows.items():
            held = claimed.get(payout_id, [])
            if payout["status"] == PayoutStatus.REJECTED:
                assert not held, f"rejected payout {payout_id} holds lines"
                continue
            assert held and sum(line["amount"] for line in held) == payout["amount"], (payout, held)
            if payout["status"] == PayoutStatus.PAID:
                assert {line["status"] for line in held} == {PAID}

        # payments: at most one partner each, its refund lines included; what refunds took is the rounded
        # share of the cumulative refund, never more than the line earned
        by_payment: dict[int, list[dict]] = defaultdict(list)
        for line in lines:
            assert line["payment_id"] is not None, line
            by_payment[line["payment_id"]].append(line)
        assert set(by_payment) <= {p.id for p in self.payments.values()}, "a line for an unknown payment"
        net_of: dict[str, int] = defaultdict(int)
        for payment in self.payments.values():
            assert payment_rows[payment.external_id]["refunded_amount"] == payment.refunded, payment
            own = by_payment.get(payment.id, [])
            assert len({line["partner_id"] for line in own}) <= 1, f"payment {payment.id} pays two partners: {own}"
            if payment.earning is None:
                assert not own, f"payment {payment.id} earns nothing, yet: {own}"
                continue
            earning = payment.earning
            main = [line for line in own if line["refund_id"] is None]
            adjustments = [line for line in own if line["refund_id"] is not None]
            assert len(main) == 1, own
            line = main[0]
            assert line["partner_id"] == self.world.partner_ids[earning.partner]
            assert {a["refund_id"] for a in adjustments} <= payment.refund_ids
            assert all(a["source_key"] == f"refund:{a['refund_id']}" for a in adjustments)
            assert all(a["amount"] > 0 if a["status"] == REVERSED else a["amount"] < 0 for a in adjustments), own
            assert all(a["status"] != PENDING for a in adjustments), own
            reversed_parts = sum(a["amount"] for a in adjustments if a["status"] == REVERSED)
            netted = -sum(a["amount"] for a in adjustments if a["status"] != REVERSED)
            assert line["amount"] + reversed_parts == earning.earned, (earning, own)
            taken = reversed_parts + netted + (line["amount"] if line["status"] == REVERSED else 0)
            assert 0 <= taken <= earning.earned, (earning, own)
            assert taken == taken_by_refunds(earning.earned, payment.refunded, payment.amount), (payment, own)
            net_of[earning.partner] += earning.earned - taken

        # per partner: the lines sum to pending + approved + paid + reversed (and the SQL totals agree);
        # the balance is the approved unclaimed lines; paid and claimed lines reconcile with payouts;
        # what is not reversed is what the payments earned, less what refunds took.
        # The resolvers' sums depend on the lines only: asked again only when the lines changed.
        ask_resolvers = lines != self.lines_checked
        self.lines_checked = lines
        for partner, partner_id in self.world.partner_ids.items():
            own = [line for line in lines if line["partner_id"] == partner_id]
            sums = {status: sum(line["amount"] for line in own if line["status"] == status) for status in STATUSES}
            assert sum(line["amount"] for line in own) == sum(sums.values())
            unclaimed = sum(line["amount"] for line in own if line["status"] == APPROVED and line["payout_id"] is None)
            self.balances[partner] = unclaimed
            if ask_resolvers:
                totals = await commissions.commission_totals(
                    partner_id, commissions.CommissionFilter(), PARTNERS[partner].currency
                )
                assert (totals.pending, totals.approved, totals.paid, totals.reversed) == tuple(
                    sums[status] for status in STATUSES
                ), partner
                assert await commissions.approved_balance(partner_id) == unclaimed
            in_payouts = {
                status: sum(
                    p["amount"] for p in payout_rows.values() if p["partner_id"] == partner_id and p["status"] == status
                )
                for status in PayoutStatus
            }
            assert sums[PAID] == in_payouts[PayoutStatus.PAID], partner
            claimed_open = sum(line["amount"] for line in own if line["status"] == APPROVED and line["payout_id"])
            assert claimed_open == in_payouts[PayoutStatus.REQUESTED] + in_payouts[PayoutStatus.APPROVED], partner
            assert sums[PENDING] + sums[APPROVED] + sums[PAID] == net_of[partner], partner


# --- running it -------------------------------------------------------------------------------------------------

LEDGER_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=not EXPLORE,
    database=settings.default.database if EXPLORE else None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=False,
)


def run_machine(tmp_path: Any, machine_settings: settings = LEDGER_SETTINGS, steps: Any = None) -> None:
    """The machine on a database of its own (SQLite) or the PostgreSQL test database, with one loop."""
    database_url = POSTGRES_URL or f"sqlite://{tmp_path / 'ledger.sqlite3'}"
    config = test_settings(database_url, payout_threshold=THRESHOLD)
    with asyncio.Runner() as runner:
        database = AsyncExitStack()
        runner.run(_open(database, database_url))
        try:
            with time_machine.travel(START, tick=False):
                world = runner.run(make_world(config))
            if steps is None:
                run_state_machine_as_test(lambda: LedgerMachine(runner, world), settings=machine_settings)
            else:
                steps(runner, world)
        finally:
            runner.run(database.aclose())


async def _open(database: AsyncExitStack, database_url: str) -> None:
    await database.enter_async_context(open_database(database_url))
    await Tortoise.generate_schemas()
    if POSTGRES_URL:
        await _empty_all_tables()


@pytest.mark.slow  # LEDGER_EXAMPLES random stories against a real database
def test_the_ledger_stays_consistent_over_random_events(tmp_path):
    run_machine(tmp_path)


def test_a_scripted_story_reaches_every_kind_of_step(tmp_path):
    """The machine's rules in a fixed order, the invariants after each: whatever examples hypothesis picks,
    these paths are always taken: a payout paid, then a refund of one of its payments (a negative line
    netted by the next payout), a rejection, a refund waiting for its payment, a payment without a rate,
    refused refunds and decisions, replays."""

    def story(runner: asyncio.Runner, world: World) -> None:
        machine = LedgerMachine(runner, world)
        try:

            def step(rule_: Callable[..., None], **arguments: Any) -> None:
                rule_(machine, **arguments)
                machine.ledger_is_consistent()

            percent = partial(RuleSpec, CommissionRuleKind.PERCENT, flat=None, recurrence=(Recurrence.LIFETIME, None))
            step(
                LedgerMachine.program_rules,
                service=percent(rate="20.00", hold_days=30),
                affiliate=RuleSpec(CommissionRuleKind.FLAT, None, ("25.00", "USD"), (Recurrence.LIFETIME, None), 0),
                expert=percent(rate="17.35", hold_days=14),
                east_expert=None,
            )
            for customer, amount, currency in (
                ("invited", 100_000, "EUR"),
                ("linked", 10_000, "USD"),
                ("coded", 50_000, "GBP"),
                ("alone", 5_000, "USD"),
                ("selected", 20_000, "CHF"),
            ):  # the last: NO_EXCHANGE_RATE
                step(LedgerMachine.pay, payment=PaymentSpec(customer, amount, currency, 0))
            step(LedgerMachine.refund, pick=0, size="some", some=12_345, settled=False)  # held: the line shrinks
            step(LedgerMachine.release, days=31, hours=0, new_rule=None)
            step(LedgerMachine.request_payout, who="north")
            step(LedgerMachine.decide, pick=0, decision="approve+mark_paid")
            step(LedgerMachine.refund, pick=0, size="half", some=0, settled=True)  # paid: a negative line
            step(LedgerMachine.request_payout, who="south")
            step(LedgerMachine.decide, pick=0, decision="reject")
            step(LedgerMachine.refund_before_its_payment, pick=0, new=True, amount=3_000, currency="EUR")
            step(LedgerMachine.pay_after_its_refunds, pick=0, customer="invited", extra=150_000, hours_ago=0)
            step(
                LedgerMachine.release,
                days=31,
                hours=0,
                new_rule=(Program.SERVICE_PARTNER, percent(rate="33.33", hold_days=0)),
            )
            step(LedgerMachine.request_payout, who="monthly run")
            step(LedgerMachine.decide, pick=0, decision="mark_paid any")  # the paid one: PAYOUT_DECIDED
            step(LedgerMachine.refund, pick=0, size="too_much", some=0, settled=False)
            step(LedgerMachine.refund, pick=0, size="other_currency", some=0, settled=False)
            for index in range(len(machine.events)):
                step(LedgerMachine.replay, pick=index, altered=index % 2 == 1)

            lines = runner.run(_all_lines())
            assert {(status, amount < 0, refund is not None) for status, amount, refund in lines} >= {
                (PAID, False, False),
                (APPROVED, True, True),
                (REVERSED, False, True),
            }
            assert {p.status for p in machine.payouts.values()} >= {
                PayoutStatus.PAID,
                PayoutStatus.REJECTED,
                PayoutStatus.REQUESTED,
            }
            assert {p.partner for p in machine.payouts.values() if p.status is PayoutStatus.REQUESTED} >= {"north"}
        finally:
            machine.teardown()

    run_machine(tmp_path, steps=story)


async def _all_lines() -> list[tuple]:
    return await Commission.all().values_list("status", "amount", "refund_id")

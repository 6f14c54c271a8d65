"""Reports: commission sums by period and dimension, the customer funnel, the partner
leaderboard, and the same as CSV at /reports/{name}.csv, streamed.

Partners, people and API keys are made through the API; the ledger (payments, refunds,
commission lines) is written with the models, as the billing code writes it (a refund line
keeps its payment's id), so that many lines across currencies, products, types, statuses and
dates are quick to make. Every expected figure is computed here from those raw rows, never by
the code under test. Time is the frozen `clock`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import logging
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from strawberry.relay import GlobalID
from tortoise import connections

from partner_portal.models.billing import License, Payment, Refund
from partner_portal.models.catalog import Plan, Product
from partner_portal.models.commissions import Commission
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.invitations import Invitation
from partner_portal.models.organizations import Organization
from tests.support import (
    Partner,
    Person,
    add_member,
    create_api_key,
    create_organization,
    make_operator,
    make_partner,
    operator,
    register,
)

# --- queries ------------------------------------------------------------------------------------------

COMMISSION_REPORT = """
query Report($groupBy: [ReportDimension!]!, $period: ReportPeriod! = MONTH, $filter: CommissionReportFilter) {
  reports {
    commissions(groupBy: $groupBy, period: $period, filter: $filter) {
      rows { period partner { id name } product { id name } program type status currency count
             amount { amount currency } }
      totals { currency count amount { amount currency } }
    }
  }
}"""
FUNNEL = """
query Funnel($partnerId: ID, $period: ReportPeriod! = MONTH, $from: DateTime, $until: DateTime) {
  reports {
    customerFunnel(partnerId: $partnerId, period: $period, from: $from, until: $until) {
      rows { partner { id name } period invited registered trial paid }
    }
  }
}"""
LEADERBOARD = """
query Board($by: LeaderboardMetric! = COMMISSION, $currency: String, $first: Int! = 10, $from: DateTime,
            $until: DateTime) {
  reports {
    partnerLeaderboard(by: $by, currency: $currency, first: $first, from: $from, until: $until) {
      rank partner { id name } commission { amount currency } newCustomers payingCustomers
    }
  }
}"""

ALL_DIMENSIONS = ["PERIOD", "PARTNER", "PRODUCT", "PROGRAM", "TYPE", "STATUS"]
PROGRAM_OF_TYPE = {"PARTNER": "SERVICE_PARTNER", "SELF": "SERVICE_PARTNER", "AFFILIATE": "AFFILIATE", "CODE": "EXPERT"}
EXPONENT = {"EUR": 2, "USD": 2, "JPY": 0}
# Dates across months and ISO weeks, with the edges: 2026-03-01 is a Sunday, 2026-03-02 a Monday,
# 2026-01-01 (a Thursday) is in the ISO week that starts on Monday 2025-12-29.
EDGES = [
    datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(2026, 2, 1, tzinfo=UTC),
    datetime(2025, 12, 31, 12, tzinfo=UTC),
]
FIRST_DAY = datetime(2025, 12, 20, tzinfo=UTC)
START_OF_TESTS = datetime(2026, 3, 2, 9, tzinfo=UTC)  # the frozen clock's moment


def pk(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


def gid(type_name: str, value: int) -> str:
    return str(GlobalID(type_name, str(value)))


def decimal_of(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-EXPONENT[currency])


def period_of(moment: datetime, period: str) -> date:
    day = moment.astimezone(UTC).date()
    if period == "WEEK":
        return day - timedelta(days=day.weekday())
    if period == "MONTH":
        return day.replace(day=1)
    return day


# --- the world of these tests ----------------------------------------------------------------------------


@dataclass
class World:
    operator: Person  # every operator permission, VIEW_ALL_REPORTS among them
    reports_key: str  # reports:read
    billing_key: str  # billing:write only
    northwind: Partner  # paid out in EUR (and, in the ledger below, some lines in other currencies)
    fabrikam: Partner


@pytest.fixture
async def world(clock, api) -> World:
    reviewer = await operator(api)
    northwind = await make_partner(api, reviewer, programs=["SERVICE_PARTNER", "AFFILIATE", "EXPERT"])
    fabrikam = await make_partner(
        api, reviewer, "admin@fabrikam.example", "Fabrikam Affiliates", programs=["AFFILIATE"]
    )
    return World(
        reviewer,
        await create_api_key(api, reviewer, ["REPORTS_READ"]),
        await create_api_key(api, reviewer, ["BILLING_WRITE"]),
        northwind,
        fabrikam,
    )


@dataclass
class Ledger:
    lines: list[dict]  # every commission line as written: partner_id, product_id, type, status, ...
    products: dict[int, str]


async def write_ledger(world: World, count: int = 240, seed: int = 7) -> Ledger:
    """Payments (with and without a catalog plan), refunds, and their commission lines, as the
    billing code writes them, for both partners, in three currencies, on many dates."""
    rng = random.Random(seed)
    moment = START_OF_TESTS
    products = {}
    plans: list[tuple[int | None, int | None]] = [(None, None)]  # (plan id, product id); no plan at all
    for code, name in (("ANALYTICS", "Analytics Pro"), ("BACKUP", "=Backup Suite")):
        product = await Product.create(code=code, name=name, created_at=moment)
        plan = await Plan.create(
            product=product, code=f"{code}_PLAN", name=name, prices={"EUR": 1000}, created_at=moment
        )
        products[product.id] = name
        plans.append((plan.id, product.id))
    customers = [await Organization.create(name=name) for name in ("Contoso", "Globex", "+Initech", "Umbrella")]
    partners = [pk(world.northwind.id), pk(world.fabrikam.id)]
    lines, payments, refunds = [], [], []
    for n in range(count):
        paid_at = EDGES[n] if n < len(EDGES) else FIRST_DAY + timedelta(seconds=rng.randrange(130 * 86400))
        plan_id, product_id = rng.choice(plans)
        currency = rng.choice(["EUR", "EUR", "USD", "JPY"])
        customer = rng.choice(customers)
        payments.append(
            Payment(
                external_id=f"pay-{n}",
                organization=customer,
                plan_id=plan_id,
                amount=rng.randrange(1000, 90000),
                currency=currency,
                paid_at=paid_at,
                created_at=paid_at,
            )
        )
        line = {
            "partner_id": rng.choice(partners),
            "customer_id": customer.id,
            "product_id": product_id,
            "type": rng.choice(list(PROGRAM_OF_TYPE)),
            "status": rng.choice(["PENDING", "APPROVED", "PAID", "REVERSED"]),
            "currency": currency,
            "amount": rng.randrange(1, 20000),
            "created_at": paid_at,
            "payment": f"pay-{n}",
            "refund": None,
        }
        lines.append(line)
        if rng.random() < 0.25:  # a refund after payout: a negative approved line on the same payment
            refunded_at = paid_at + timedelta(days=rng.randrange(1, 20))
            refunds.append(
                {"external_id": f"refund-{n}", "payment": f"pay-{n}", "currency": currency, "refunded_at": refunded_at}
            )
            lines.append(
                {
                    **line,
                    "status": "APPROVED",
                    "amount": -rng.randrange(1, line["amount"] + 1),
                    "created_at": refunded_at,
                    "refund": f"refund-{n}",
                }
            )
    await Payment.bulk_create(payments, batch_size=500)
    payment_ids = dict(await Payment.filter(external_id__startswith="pay-").values_list("external_id", "id"))
    await Refund.bulk_create(
        [
            Refund(
                external_id=r["external_id"],
                payment_external_id=r["payment"],
                payment_id=payment_ids[r["payment"]],
                amount=500,
                currency=r["currency"],
                refunded_at=r["refunded_at"],
                applied_at=r["refunded_at"],
            )
            for r in refunds
        ],
        batch_size=500,
    )
    refund_ids = dict(await Refund.filter(external_id__startswith="refund-").values_list("external_id", "id"))
    for line in lines:  # a refund line keeps its payment's id, as the billing code writes it
        line["payment_id"] = payment_ids[line.pop("payment")]
        refund = line.pop("refund")
        line["refund_id"] = refund_ids[refund] if refund else None
    await Commission.bulk_create(
        [
            Commission(
                source_key=f"{'refund' if line['refund_id'] else 'payment'}:{line['refund_id'] or line['payment_id']}",
                partner_id=line["partner_id"],
                customer_id=line["customer_id"],
                payment_id=line["payment_id"],
                refund_id=line["refund_id"],
                type=line["type"],
                status=line["status"],
                amount=line["amount"],
                currency=line["currency"],
                original_amount=line["amount"],
                original_currency=line["currency"],
                created_at=line["created_at"],
            )
            for line in lines
        ],
        batch_size=500,
    )
    return Ledger(lines, products)


def expected_groups(lines: list[dict], group_by: list[str], period: str = "MONTH") -> dict[tuple, tuple[int, int]]:
    """(count, sum) per group and currency, computed from the raw rows."""
    groups: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        key = {
            "PERIOD": period_of(line["created_at"], period).isoformat(),
            "PARTNER": line["partner_id"],
            "PRODUCT": line["product_id"],
            "PROGRAM": PROGRAM_OF_TYPE[line["type"]],
            "TYPE": line["type"],
            "STATUS": line["status"],
        }
        group = groups[(*(key[d] for d in group_by), line["currency"])]
        group[0] += 1
        group[1] += line["amount"]
    return {key: (count, total) for key, (count, total) in groups.items()}


def reported_groups(rows: list[dict], group_by: list[str]) -> dict[tuple, tuple[int, int]]:
    """The report's rows in the same shape; every dimension not grouped by must be null."""
    found = {}
    for row in rows:
        values = {
            "PERIOD": row["period"],
            "PARTNER": row["partner"] and pk(row["partner"]["id"]),
            "PRODUCT": row["product"] and pk(row["product"]["id"]),
            "PROGRAM": row["program"],
            "TYPE": row["type"],
            "STATUS": row["status"],
        }
        for dimension in set(ALL_DIMENSIONS) - set(group_by):
            assert values[dimension] is None, (dimension, row)
        assert row["amount"]["currency"] == row["currency"]
        key = (*(values[d] for d in group_by), row["currency"])
        assert key not in found, f"group {key} twice"
        found[key] = (row["count"], Decimal(row["amount"]["amount"]))
    return found


def as_money(groups: dict[tuple, tuple[int, int]]) -> dict[tuple, tuple[int, Decimal]]:
    return {key: (count, decimal_of(total, key[-1])) for key, (count, total) in groups.items()}


async def commission_report(
    api, group_by: list[str], *, period: str = "MONTH", filter: dict | None = None, **credentials
) -> dict:
    return (
        await api.data(COMMISSION_REPORT, {"groupBy": group_by, "period": period, "filter": filter}, **credentials)
    )["reports"]["commissions"]


def in_range(line: dict, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or line["created_at"] >= start) and (end is None or line["created_at"] < end)


# --- commission report: totals equal the raw rows ---------------------------------------------------------


GROUPINGS = [
    ([], "MONTH"),
    (["PERIOD"], "DAY"),
    (["PERIOD"], "WEEK"),
    (["PERIOD"], "MONTH"),
    (["PARTNER", "PRODUCT", "PROGRAM"], "MONTH"),
    (["TYPE", "STATUS"], "MONTH"),
    (ALL_DIMENSIONS, "WEEK"),
]


async def test_every_group_of_the_commission_report_equals_the_sum_of_its_raw_rows(clock, api, world):
    ledger = await write_ledger(world)
    expected_totals = {key[0]: value for key, value in as_money(expected_groups(ledger.lines, [])).items()}
    assert set(expected_totals) == {"EUR", "USD", "JPY"}

    for group_by, period in GROUPINGS:
        report = await commission_report(api, group_by, period=period, token=world.operator.token)

        assert reported_groups(report["rows"], group_by) == as_money(expected_groups(ledger.lines, group_by, period)), (
            group_by,
            period,
        )
        totals = {t["currency"]: (t["count"], Decimal(t["amount"]["amount"])) for t in report["totals"]}
        assert totals == expected_totals
    # the same through a reports:read API key
    assert await commission_report(
        api, ALL_DIMENSIONS, period="DAY", api_key=world.reports_key
    ) == await commission_report(api, ALL_DIMENSIONS, period="DAY", token=world.operator.token)


async def test_filters_narrow_the_commission_report_to_the_matching_raw_rows(clock, api, world):
    ledger = await write_ledger(world)
    northwind, product = pk(world.northwind.id), next(iter(ledger.products))
    start, end = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    cases = [
        ({"partnerId": world.northwind.id}, lambda line: line["partner_id"] == northwind),
        ({"from": start.isoformat(), "until": end.isoformat()}, lambda line: in_range(line, start, end)),
        ({"status": "APPROVED"}, lambda line: line["status"] == "APPROVED"),
        ({"type": "CODE"}, lambda line: line["type"] == "CODE"),
        ({"program": "SERVICE_PARTNER"}, lambda line: line["type"] in ("PARTNER", "SELF")),
        ({"productId": gid("Product", product)}, lambda line: line["product_id"] == product),
        ({"currency": "jpy"}, lambda line: line["currency"] == "JPY"),
        # another offset: 01:00 in UTC+1 is midnight UTC, so Sunday 23:59:59 UTC is out, Monday 00:00 in
        (
            {"from": "2026-03-02T01:00:00+01:00", "until": "2026-03-09T00:00:00Z"},
            lambda line: in_range(line, datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)),
        ),
        (
            {"partnerId": world.fabrikam.id, "program": "AFFILIATE", "from": start.isoformat(), "currency": "EUR"},
            lambda line: (
                line["partner_id"] == pk(world.fabrikam.id)
                and line["type"] == "AFFILIATE"
                and in_range(line, start, None)
                and line["currency"] == "EUR"
            ),
        ),
    ]
    group_by = ["PERIOD", "PARTNER", "PRODUCT", "TYPE", "STATUS"]
    for filter, matches in cases:
        report = await commission_report(api, group_by, period="WEEK", filter=filter, api_key=world.reports_key)
        expected = as_money(expected_groups([line for line in ledger.lines if matches(line)], group_by, "WEEK"))
        assert expected, filter  # every case selects something
        assert reported_groups(report["rows"], group_by) == expected, filter


async def test_refund_lines_count_under_their_payments_product_and_program(clock, api, world):
    """A refund line (negative, with the refund's id) counts under its payment's product and the
    program of its type: product and program sums are net of refunds."""
    ledger = await write_ledger(world, count=60)
    refunds = [line for line in ledger.lines if line["refund_id"] is not None]
    assert refunds and any(line["product_id"] for line in refunds)

    report = await commission_report(
        api, ["PRODUCT", "PROGRAM"], filter={"status": "APPROVED"}, token=world.operator.token
    )

    approved = [line for line in ledger.lines if line["status"] == "APPROVED"]
    assert reported_groups(report["rows"], ["PRODUCT", "PROGRAM"]) == as_money(
        expected_groups(approved, ["PRODUCT", "PROGRAM"])
    )
    named = {row["product"]["name"] for row in report["rows"] if row["product"]}
    assert named <= set(ledger.products.values())


async def test_partner_staff_read_their_own_partners_report_only(clock, api, world):
    ledger = await write_ledger(world, count=80)
    northwind = pk(world.northwind.id)
    own = [line for line in ledger.lines if line["partner_id"] == northwind]
    group_by = ["PERIOD", "PRODUCT", "TYPE", "STATUS"]
    portal = await register(api, "portal@northwind.example")
    await add_member(
        api, world.northwind.admin, world.northwind.id, portal.email, partner_permissions=["MANAGE_PARTNER_PORTAL"]
    )

    # allowed: the partner's MANAGE_PARTNER_PORTAL holders, with or without naming the partner
    for person in (world.northwind.admin, portal):
        report = await commission_report(api, group_by, token=person.token)
        assert reported_groups(report["rows"], group_by) == as_money(expected_groups(own, group_by))
        named = await commission_report(api, group_by, filter={"partnerId": world.northwind.id}, token=person.token)
        assert named == report


# --- permissions ------------------------------------------------------------------------------------------


async def test_who_may_read_which_report(clock, api, world):
    await write_ledger(world, count=20)
    customers_only = await register(api, "carol@northwind.example")
    await add_member(
        api,
        world.northwind.admin,
        world.northwind.id,
        customers_only.email,
        partner_permissions=["ADMINISTER_CUSTOMERS"],
    )
    no_partner = await register(api, "nora@acme.example")
    await create_organization(api, no_partner, "Acme GmbH")
    payouts_operator = await register(api, "paula@vendor.example")
    await make_operator(api, payouts_operator, ["MANAGE_PAYOUTS"])
    by_partner = {"groupBy": ["PARTNER"]}
    own = {"groupBy": ["STATUS"]}
    fabrikam = {"groupBy": ["STATUS"], "filter": {"partnerId": world.fabrikam.id}}

    async def code(query: str, variables: dict, **credentials) -> str:
        return await api.error_code(query, variables, **credentials)

    # commissions: anonymous, a member without MANAGE_PARTNER_PORTAL, another organization, the partner
    # breakdown for partner staff, an API key without reports:read, an organization that is no partner
    assert await code(COMMISSION_REPORT, own) == "UNAUTHENTICATED"
    assert await code(COMMISSION_REPORT, own, token=customers_only.token) == "FORBIDDEN"
    assert await code(COMMISSION_REPORT, fabrikam, token=world.northwind.admin.token) == "NOT_FOUND"
    assert await code(COMMISSION_REPORT, by_partner, token=world.northwind.admin.token) == "FORBIDDEN"
    assert await code(COMMISSION_REPORT, own, api_key=world.billing_key) == "FORBIDDEN"
    assert await code(COMMISSION_REPORT, own, token=no_partner.token) == "FORBIDDEN"
    assert await code(COMMISSION_REPORT, own, token=payouts_operator.token) == "NO_ORGANIZATION"
    assert (
        await code(
            COMMISSION_REPORT, {**own, "filter": {"partnerId": gid("Organization", 99999)}}, token=world.operator.token
        )
        == "NOT_FOUND"
    )
    # allowed: the breakdown by partner for operators with VIEW_ALL_REPORTS and reports:read keys
    assert (await commission_report(api, ["PARTNER"], token=world.operator.token))["rows"]
    assert (await commission_report(api, ["PARTNER"], api_key=world.reports_key))["rows"]
    assert (await commission_report(api, ["STATUS"], filter=fabrikam["filter"], api_key=world.reports_key))["rows"]

    # the funnel: the same rules
    assert await code(FUNNEL, {}) == "UNAUTHENTICATED"
    assert await code(FUNNEL, {}, token=customers_only.token) == "FORBIDDEN"
    assert await code(FUNNEL, {"partnerId": world.fabrikam.id}, token=world.northwind.admin.token) == "NOT_FOUND"
    assert await code(FUNNEL, {}, api_key=world.billing_key) == "FORBIDDEN"
    assert (await api.data(FUNNEL, {}, token=world.northwind.admin.token))["reports"]["customerFunnel"]["rows"] == []
    assert (await api.data(FUNNEL, {}, api_key=world.reports_key))["reports"]["customerFunnel"]["rows"] == []

    # the leaderboard: operators with VIEW_ALL_REPORTS and reports:read keys only
    assert await code(LEADERBOARD, {}) == "UNAUTHENTICATED"
    assert await code(LEADERBOARD, {}, token=world.northwind.admin.token) == "FORBIDDEN"
    assert await code(LEADERBOARD, {}, token=payouts_operator.token) == "FORBIDDEN"
    assert await code(LEADERBOARD, {}, api_key=world.billing_key) == "FORBIDDEN"
    assert await code(LEADERBOARD, {"first": 101}, token=world.operator.token) == "BAD_USER_INPUT"
    assert (await api.data(LEADERBOARD, {"currency": "EUR"}, token=world.operator.token))["reports"][
        "partnerLeaderboard"
    ]
    assert (await api.data(LEADERBOARD, {"currency": "EUR"}, api_key=world.reports_key))["reports"][
        "partnerLeaderboard"
    ]


# --- the customer funnel ---------------------------------------------------------------------------------


async def test_the_customer_funnel_counts_each_stage_per_partner_and_period(clock, api, world):
    rng = random.Random(3)
    partners = [pk(world.northwind.id), pk(world.fabrikam.id)]
    invitations, relationships = [], []
    for _ in range(60):
        created = FIRST_DAY + timedelta(seconds=rng.randrange(100 * 86400))
        invitations.append({"partner_id": rng.choice(partners), "created_at": created})
    customers = []
    for n in range(40):
        customer = await Organization.create(name=f"Customer {n}")
        stage = rng.choice(["registered", "trial", "trial-then-paid", "paid-without-license"])
        if stage != "registered" and stage != "paid-without-license":
            await License.create(
                organization=customer,
                status="TRIAL" if stage == "trial" else "ACTIVE",
                plan="Pro",
                updated_at=START_OF_TESTS,
            )
        if stage in ("trial-then-paid", "paid-without-license"):
            for k in range(rng.randrange(1, 3)):  # one or two payments: a customer counts once
                await Payment.create(
                    external_id=f"p-{n}-{k}",
                    organization=customer,
                    amount=1000,
                    currency="EUR",
                    paid_at=START_OF_TESTS,
                    created_at=START_OF_TESTS,
                )
        started = FIRST_DAY + timedelta(seconds=rng.randrange(100 * 86400))
        relationships.append(
            {"partner_id": rng.choice(partners), "customer_id": customer.id, "started_at": started, "stage": stage}
        )
        customers.append(customer)
    # a customer that left and came back in the same period counts once
    again = dict(relationships[0], started_at=relationships[0]["started_at"] + timedelta(seconds=1))
    await Invitation.bulk_create(
        [
            Invitation(
                partner_id=i["partner_id"],
                email=f"i{n}@example.com",
                organization_name="X",
                token_hash=f"{n:064d}",
                status="OPEN",
                expires_at=i["created_at"] + timedelta(days=14),
                created_at=i["created_at"],
            )
            for n, i in enumerate(invitations)
        ]
    )
    await CustomerRelationship.bulk_create(
        [
            CustomerRelationship(
                partner_id=r["partner_id"],
                customer_id=r["customer_id"],
                source="INVITATION",
                started_at=r["started_at"],
                ended_at=r["started_at"] + timedelta(seconds=1) if r is relationships[0] else None,
            )
            for r in [*relationships, again]
        ]
    )
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)

    def expected(period: str, partner: int | None) -> dict[tuple, dict]:
        rows: dict[tuple, dict] = defaultdict(lambda: {"invited": 0, "registered": 0, "trial": 0, "paid": 0})
        for i in invitations:
            if (partner is None or i["partner_id"] == partner) and start <= i["created_at"] < end:
                rows[(i["partner_id"], period_of(i["created_at"], period).isoformat())]["invited"] += 1
        for r in relationships:  # `again` is the same customer in the same period
            if (partner is None or r["partner_id"] == partner) and start <= r["started_at"] < end:
                row = rows[(r["partner_id"], period_of(r["started_at"], period).isoformat())]
                row["registered"] += 1
                row["trial"] += r["stage"] != "registered"
                row["paid"] += r["stage"] in ("trial-then-paid", "paid-without-license")
        return dict(rows)

    for period, partner, credentials in (
        ("WEEK", None, {"api_key": world.reports_key}),
        ("MONTH", None, {"token": world.operator.token}),
        ("MONTH", pk(world.northwind.id), {"token": world.northwind.admin.token}),
    ):
        rows = (
            await api.data(
                FUNNEL, {"period": period, "from": start.isoformat(), "until": end.isoformat()}, **credentials
            )
        )["reports"]["customerFunnel"]["rows"]
        found = {
            (pk(r["partner"]["id"]), r["period"]): {k: r[k] for k in ("invited", "registered", "trial", "paid")}
            for r in rows
        }
        assert found == expected(period, partner), (period, partner)
        assert [r["period"] for r in rows] == sorted(r["period"] for r in rows)


# --- the leaderboard --------------------------------------------------------------------------------------


async def test_the_leaderboard_ranks_partners_by_each_metric(clock, api, world):
    ledger = await write_ledger(world, count=120)
    third = await make_partner(api, world.operator, "admin@contoso.example", "Contoso Partners", programs=["AFFILIATE"])
    customer = await Organization.create(name="Lonely customer")
    await CustomerRelationship.create(
        partner_id=pk(third.id), customer=customer, source="SELECTED", started_at=datetime(2026, 2, 3, tzinfo=UTC)
    )
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    names = {
        pk(world.northwind.id): "Northwind Partners",
        pk(world.fabrikam.id): "Fabrikam Affiliates",
        pk(third.id): "Contoso Partners",
    }
    commission, paying = defaultdict(int), defaultdict(set)
    for line in ledger.lines:
        if in_range(line, start, end) and line["status"] != "REVERSED":
            if line["currency"] == "EUR":
                commission[line["partner_id"]] += line["amount"]
            if line["refund_id"] is None:
                paying[line["partner_id"]].add(line["customer_id"])
    new_customers = {pk(third.id): 1}

    board = (
        await api.data(
            LEADERBOARD,
            {"currency": "EUR", "from": start.isoformat(), "until": end.isoformat()},
            api_key=world.reports_key,
        )
    )["reports"]["partnerLeaderboard"]
    ranked = sorted(commission, key=lambda p: (-commission[p], p))
    assert [(e["rank"], pk(e["partner"]["id"]), e["partner"]["name"]) for e in board] == [
        (rank, p, names[p]) for rank, p in enumerate(ranked, start=1)
    ]
    for entry in board:
        partner = pk(entry["partner"]["id"])
        assert Decimal(entry["commission"]["amount"]) == decimal_of(commission[partner], "EUR")
        assert entry["payingCustomers"] == len(paying[partner])
        assert entry["newCustomers"] == new_customers.get(partner, 0)

    by_new = (
        await api.data(LEADERBOARD, {"by": "NEW_CUSTOMERS", "currency": "EUR", "first": 1}, token=world.operator.token)
    )["reports"]["partnerLeaderboard"]
    assert [(pk(e["partner"]["id"]), e["newCustomers"]) for e in by_new] == [(pk(third.id), 1)]
    by_paying = await api.data(
        LEADERBOARD,
        {"by": "PAYING_CUSTOMERS", "currency": "EUR", "from": start.isoformat(), "until": end.isoformat()},
        token=world.operator.token,
    )
    assert [e["payingCustomers"] for e in by_paying["reports"]["partnerLeaderboard"]] == sorted(
        (len(c) for c in paying.values()), reverse=True
    )


# --- query counts --------------------------------------------------------------------------------------------


async def test_reports_use_the_same_number_of_queries_whatever_the_data_size(clock, api, world):
    async def counts() -> list[int]:
        found = []
        for query, variables in (
            (COMMISSION_REPORT, {"groupBy": ALL_DIMENSIONS, "period": "DAY"}),
            (FUNNEL, {"period": "WEEK"}),
            (LEADERBOARD, {"currency": "EUR"}),
        ):
            with api.count_queries() as counter:
                await api.data(query, variables, token=world.operator.token)
            found.append(counter.count)
        return found

    await write_ledger(world, count=10, seed=1)
    small = await counts()
    await write_ledger_more(world)
    assert await counts() == small
    # authentication (the session, the operator's permissions: one or two queries), then: the groups (the
    # totals are their sums); invitations and relationships; the ranking and the two other metrics of those
    assert small[0] + 1 == small[1] == small[2] - 1 <= 4


async def write_ledger_more(world: World) -> None:
    customer = await Organization.create(name="Big spender")
    partners = [pk(world.northwind.id), pk(world.fabrikam.id)]
    await Commission.bulk_create(
        [
            Commission(
                source_key=f"extra:{n}",
                partner_id=partners[n % 2],
                customer=customer,
                type="AFFILIATE",
                status="PAID",
                amount=n,
                currency="EUR",
                created_at=FIRST_DAY + timedelta(hours=n),
            )
            for n in range(500)
        ],
        batch_size=500,
    )
    await CustomerRelationship.create(
        partner_id=partners[0], customer=customer, source="SELECTED", started_at=FIRST_DAY
    )


# --- CSV ------------------------------------------------------------------------------------------------------


def parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


async def get_csv(api, name: str, params: dict | None = None, **credentials):
    headers = {}
    if credentials.get("token"):
        headers["authorization"] = f"Bearer {credentials['token']}"
    if credentials.get("api_key"):
        headers["x-api-key"] = credentials["api_key"]
    return await api.client.get(f"/reports/{name}.csv", params=params or {}, headers=headers)


async def test_csv_reports_equal_the_graphql_reports(clock, api, world):
    ledger = await write_ledger(world, count=80)
    group_by = ["PERIOD", "PARTNER", "PRODUCT", "PROGRAM", "TYPE", "STATUS"]

    response = await get_csv(
        api, "commissions", {"groupBy": ",".join(group_by), "period": "week"}, api_key=world.reports_key
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="commissions-')
    rows = parse_csv(response.text)
    assert list(rows[0]) == [
        "period",
        "partner_id",
        "partner_name",
        "product_id",
        "product_name",
        "program",
        "type",
        "status",
        "currency",
        "count",
        "amount",
    ]
    found = {
        (
            r["period"],
            pk(r["partner_id"]),
            pk(r["product_id"]) if r["product_id"] else None,
            r["program"],
            r["type"],
            r["status"],
            r["currency"],
        ): (int(r["count"]), Decimal(r["amount"]))
        for r in rows
    }
    assert found == as_money(expected_groups(ledger.lines, group_by, "WEEK"))
    # CSV injection: a text cell starting with = + - @ gets a leading apostrophe
    assert {r["product_name"] for r in rows if r["product_name"]} == {"Analytics Pro", "'=Backup Suite"}

    # the row-level export: every matching line, with the filters of the report
    start = datetime(2026, 2, 1, tzinfo=UTC)
    lines = parse_csv(
        (
            await get_csv(
                api, "commission-lines", {"from": "2026-02-01", "status": "APPROVED"}, token=world.operator.token
            )
        ).text
    )
    expected = [line for line in ledger.lines if line["created_at"] >= start and line["status"] == "APPROVED"]
    assert len(lines) == len(expected)
    assert sum(Decimal(r["amount"]) for r in lines if r["currency"] == "EUR") == decimal_of(
        sum(line["amount"] for line in expected if line["currency"] == "EUR"), "EUR"
    )
    assert {r["customer_name"] for r in lines} <= {"Contoso", "Globex", "'+Initech", "Umbrella"}
    assert [pk(r["id"]) for r in lines] == sorted(pk(r["id"]) for r in lines)

    # the funnel and the leaderboard
    funnel = await get_csv(api, "customer-funnel", {"period": "MONTH"}, token=world.northwind.admin.token)
    assert funnel.status_code == 200 and funnel.text.startswith("period,partner_id,partner_name,invited")
    board = parse_csv(
        (await get_csv(api, "partner-leaderboard", {"currency": "EUR", "first": "5"}, api_key=world.reports_key)).text
    )
    graphql_board = (await api.data(LEADERBOARD, {"currency": "EUR", "first": 5}, api_key=world.reports_key))[
        "reports"
    ]["partnerLeaderboard"]
    assert [(r["partner_id"], r["commission"]) for r in board] == [
        (e["partner"]["id"], e["commission"]["amount"]) for e in graphql_board
    ]


LINE_IDS = """
query Lines {
  commissions(first: 100) { lines { edges { node { id customerId payment { id } product { id } } } } }
}"""


async def test_the_csv_lines_carry_the_global_ids_graphql_shows(clock, api, world):
    # given: Northwind's lines, some of payments with a catalog plan
    await write_ledger(world, count=60)
    partner = world.northwind.admin

    # when: the partner exports its lines and reads them through GraphQL
    rows = parse_csv((await get_csv(api, "commission-lines", {}, token=partner.token)).text)
    edges = (await api.data(LINE_IDS, token=partner.token))["commissions"]["lines"]["edges"]

    # then: every id column holds the id GraphQL shows for the same object (empty where GraphQL has null)
    def linked(node: dict, name: str) -> str:
        return (node[name] or {}).get("id", "")

    graphql = {
        e["node"]["id"]: (e["node"]["customerId"] or "", linked(e["node"], "payment"), linked(e["node"], "product"))
        for e in edges
    }
    exported = {r["id"]: (r["customer_id"], r["payment_id"], r["product_id"]) for r in rows}
    assert len(exported) == len(rows) < 100
    assert exported == graphql
    assert any(product for _, _, product in exported.values())
    assert {r["partner_id"] for r in rows} == {world.northwind.id}
    assert all(GlobalID.from_id(r["id"]).type_name == "Commission" for r in rows)


NUMBER = re.compile(r"-?\d+(\.\d+)?(?=$|[,;|\t\r\n\"])")  # a whole number cell, e.g. -2.50
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def test_no_csv_cell_starts_a_formula_under_any_separator(clock, api, world):
    """OWASP CSV injection: a spreadsheet may split a row on `;` (European locales), tab or `|`
    rather than `,`, or ignore the quoting; then no piece of a text cell may start a formula.
    Negative amounts stay plain numbers."""
    names = ["Contoso;=cmd|' /C calc'!A0", "Globex, -2+3", "Initech\t@SUM(1)", ' "=HYPERLINK(""x"")', "Umbrella"]
    partner_id = pk(world.northwind.id)
    for number, name in enumerate(names):
        customer = await Organization.create(name=name)
        payment = await Payment.create(
            external_id=f"pay-{number}",
            organization=customer,
            amount=1000,
            currency="EUR",
            paid_at=START_OF_TESTS,
            created_at=START_OF_TESTS,
        )
        await Commission.create(
            source_key=f"payment:{payment.id}",
            partner_id=partner_id,
            customer_id=customer.id,
            payment_id=payment.id,
            type="SELF",
            status="APPROVED",
            amount=-250,
            currency="EUR",
            original_amount=1000,
            original_currency="EUR",
            created_at=START_OF_TESTS,
        )

    response = await get_csv(api, "commission-lines", {}, api_key=world.reports_key)

    assert response.status_code == 200
    rows = parse_csv(response.text)
    assert sorted(r["customer_name"] for r in rows) == sorted(
        ["Contoso;'=cmd|' /C calc'!A0", "Globex, '-2+3", "Initech\t'@SUM(1)", ' "\'=HYPERLINK(""x"")', "Umbrella"]
    )
    assert {r["amount"] for r in rows} == {"-2.50"}
    for separator in (",", ";", "\t", "|", "\n"):
        pieces = [piece.lstrip(' "') for piece in response.text.split(separator)]
        assert [p for p in pieces if p.startswith(FORMULA_STARTS) and not NUMBER.match(p)] == [], separator


async def test_csv_reports_refuse_as_graphql_does(clock, api, world):
    customers_only = await register(api, "carol@northwind.example")
    await add_member(
        api,
        world.northwind.admin,
        world.northwind.id,
        customers_only.email,
        partner_permissions=["ADMINISTER_CUSTOMERS"],
    )
    cases = [
        ("commissions", {"groupBy": "STATUS"}, {}, 401),
        ("commission-lines", {}, {}, 401),
        ("commission-lines", {}, {"token": "pps_not-a-session"}, 401),
        ("commission-lines", {}, {"token": customers_only.token}, 403),
        ("commission-lines", {}, {"api_key": world.billing_key}, 403),
        ("commission-lines", {"partnerId": world.fabrikam.id}, {"token": world.northwind.admin.token}, 404),
        ("commissions", {"groupBy": "PARTNER"}, {"token": world.northwind.admin.token}, 403),
        ("partner-leaderboard", {}, {"token": world.northwind.admin.token}, 403),
        ("customer-funnel", {}, {"token": customers_only.token}, 403),
        ("commissions", {"groupBy": "COLOUR"}, {"api_key": world.reports_key}, 400),
        ("commission-lines", {"from": "yesterday"}, {"api_key": world.reports_key}, 400),
        ("commission-lines", {"status": "LOST"}, {"api_key": world.reports_key}, 400),
        ("commission-lines", {"currency": "XXXX"}, {"api_key": world.reports_key}, 400),
        ("commission-lines", {"from": "2026-03-01", "until": "2026-02-01"}, {"api_key": world.reports_key}, 400),
        ("nothing", {}, {"api_key": world.reports_key}, 404),
    ]
    for name, params, credentials, status in cases:
        response = await get_csv(api, name, params, **credentials)
        assert response.status_code == status, (name, params, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"]
    # allowed: partner staff (own lines), operators and reports:read keys (every partner's)
    for credentials in (
        {"token": world.northwind.admin.token},
        {"token": world.operator.token},
        {"api_key": world.reports_key},
    ):
        response = await get_csv(api, "commission-lines", {}, **credentials)
        assert response.status_code == 200 and response.text.startswith("id,created_at,partner_id")


async def insert_lines(partner_id: int, customer_id: int, count: int) -> None:
    """`count` ledger lines in one INSERT … SELECT over a generated series (seconds apart from
    FIRST_DAY, amounts 100 + n % 7 cents, statuses cycling): 100,000 lines in about a second."""
    connection = connections.get("default")
    columns = (
        "source_key, partner_id, customer_id, type, status, amount, currency, original_amount, "
        "original_currency, exchange_rate, rate_bp, created_at"
    )
    values = (
        f"'payment:' || n, {int(partner_id)}, {int(customer_id)}, 'SELF', "
        "CASE n % 3 WHEN 0 THEN 'PENDING' WHEN 1 THEN 'APPROVED' ELSE 'PAID' END, 100 + n % 7, 'EUR', "
        "100 + n % 7, 'EUR', '1', 0"
    )
    if connection.capabilities.dialect == "postgres":
        await connection.execute_script(
            f"INSERT INTO commissions ({columns}) SELECT {values}, "
            f"timestamptz '{FIRST_DAY.isoformat()}' + n * interval '1 second' "
            f"FROM generate_series(0, {count - 1}) AS n"
        )
    else:  # the text tortoise writes: 2025-12-20 00:00:00+00:00
        await connection.execute_script(
            f"WITH RECURSIVE series(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM series WHERE n < {count - 1}) "
            f"INSERT INTO commissions ({columns}) SELECT {values}, "
            f"strftime('%Y-%m-%d %H:%M:%S', '{FIRST_DAY:%Y-%m-%d %H:%M:%S}', '+' || n || ' seconds') || '+00:00' "
            f"FROM series"
        )


def bounded(statement: str, size: int) -> bool:
    """The statement ends in `LIMIT size`, inline or as its last parameter (`LIMIT ?: [..., size]`)."""
    return bool(
        re.search(rf"LIMIT {size}$", statement)
        or (re.search(r"LIMIT (\?|\$\d+)(:|$)", statement) and statement.endswith(f"{size}]"))
    )


class _Statements(logging.Handler):
    """Records every SQL statement tortoise sends, into the shared event list."""

    def __init__(self, events: list) -> None:
        super().__init__(logging.DEBUG)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(("sql", record.getMessage()))


@pytest.mark.slow  # writes 100,000 lines
async def test_a_100000_line_export_streams_in_bounded_batches(clock, api, world):
    """The export reads the ledger in keyset batches (`LIMIT 2000`) and sends each batch before it
    reads the next, so neither the lines nor the file are ever held whole.

    httpx's ASGI transport collects a whole body before it answers, so it cannot show streaming:
    this test drives the ASGI app itself, as a server does, and records in order each SQL
    statement the app sends and each body chunk it writes."""
    from partner_portal.resolvers.reports import EXPORT_BATCH_SIZE

    partner = pk(world.northwind.id)
    customer = await Organization.create(name="@Mass Customer")
    await insert_lines(partner, customer.id, 100_000)
    app = api.client._transport.app  # noqa: SLF001 — the app under test, already running (its lifespan)
    events: list[tuple[str, object]] = []
    received = Received()
    requested, finished = False, asyncio.Event()

    async def receive() -> dict:
        """The request once, then (as a server does) nothing until the client goes away."""
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            received.status = message["status"]
        elif message["type"] == "http.response.body":
            if message.get("body"):
                received.most_blocks = max(received.most_blocks, sys.getallocatedblocks())
                received.take(message["body"])
                events.append(("chunk", len(message["body"])))
            if not message.get("more_body"):
                finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/reports/commission-lines.csv",
        "raw_path": b"/reports/commission-lines.csv",
        "query_string": f"partnerId={world.northwind.id}".encode(),
        "root_path": "",
        "headers": [(b"host", b"portal.test"), (b"authorization", f"Bearer {world.northwind.admin.token}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("portal.test", 80),
    }
    handler = _Statements(events)
    sql_log = logging.getLogger("tortoise.db_client")
    level = sql_log.level
    sql_log.setLevel(logging.DEBUG)
    sql_log.addHandler(handler)
    blocks_before = sys.getallocatedblocks()
    try:
        await app(scope, receive, send)
    finally:
        sql_log.removeHandler(handler)
        sql_log.setLevel(level)

    assert received.status == 200
    assert received.rows == 100_000 and received.header[:3] == ["id", "created_at", "partner_id"]
    assert received.amount == Decimal(sum(100 + n % 7 for n in range(100_000))).scaleb(-2)
    assert received.customer_names == {"'@Mass Customer"}  # CSV injection guarded
    batches = [i for i, (kind, text) in enumerate(events) if kind == "sql" and 'FROM "commissions"' in str(text)]
    assert len(batches) == 100_000 // EXPORT_BATCH_SIZE + 1  # the last one finds nothing more
    assert all(bounded(str(events[i][1]), EXPORT_BATCH_SIZE) and '"id">' in str(events[i][1]) for i in batches)
    # each batch is written out before the next one is read: a chunk between every two batch queries,
    # none bigger than a batch
    for before, after in itertools.pairwise(batches):
        assert any(kind == "chunk" for kind, _ in events[before:after]), (before, after)
    assert max(size for kind, size in events if kind == "chunk") < received.bytes / 40
    # memory: the interpreter's allocated blocks grow by a batch's worth at most, while holding the
    # 100,000 lines (a dict of 17 values each) would add well over 1,700,000
    assert received.most_blocks - blocks_before < 400_000, received.most_blocks - blocks_before


@dataclass
class Received:
    """What a client receives of the lines export, parsed chunk by chunk."""

    status: int | None = None
    header: list[str] | None = None
    rows: int = 0
    bytes: int = 0
    amount: Decimal = Decimal(0)
    customer_names: set = None
    tail: bytes = b""
    most_blocks: int = 0  # the most memory blocks the interpreter held while a chunk was sent

    def take(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        complete, _, self.tail = (self.tail + chunk).rpartition(b"\r\n")
        if not complete:
            return
        for row in csv.reader(io.StringIO(complete.decode())):
            if self.header is None:
                self.header, self.customer_names = row, set()
                continue
            self.rows += 1
            self.amount += Decimal(row[13])
            self.customer_names.add(row[5])

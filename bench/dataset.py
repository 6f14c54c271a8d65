"""The benchmark dataset: partners, customers, licenses, payments and a commission ledger at scale.

At `--scale 1`: 1,000 partners, 100,000 customer organizations (one partner with 10,000),
1,000,000 payments each earning one commission line, over the two years before now.
Rows are built in Python from a fixed seed and bulk-inserted (sqlite3 `executemany` in one
transaction; asyncpg `COPY` on PostgreSQL); tables come from the models (`generate_schemas`)
or from the migrations (`--schema migrate`). Every column the generator does not set
takes the model's default, so columns added later do not break it.

What a benchmark needs to sign in is written next to the data (`<database>.json`): session
tokens of partner administrators (stored hashed, as `resolvers/identity.py` does) and a
`billing:write` API key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.models import Model

from partner_portal.models import tortoise_internals
from partner_portal.models.billing import License, Payment
from partner_portal.models.catalog import ExchangeRate, Plan, Product
from partner_portal.models.commissions import Commission, CommissionRule
from partner_portal.models.customers import CustomerRelationship
from partner_portal.models.db import apply_migrations, open_database, record_migrations_applied
from partner_portal.models.identity import ApiKey, SessionToken, User
from partner_portal.models.invitations import Invitation
from partner_portal.models.organizations import Membership, Organization
from partner_portal.models.partners import PartnerProfile, ProgramEnrollment
from partner_portal.models.payouts import Payout
from partner_portal.models.referrals import Referral

SEED = 20261129
PARTNER_STAFF = 3  # users per partner: an administrator and two staff members
SESSION_PARTNERS = 64  # partners whose administrator gets a session token (the load run spreads over them)
CURRENCIES = (("USD", 0.60), ("EUR", 0.30), ("GBP", 0.10))
RATES = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79")}  # per USD
LICENSES = (("ACTIVE", 0.60), ("TRIAL", 0.15), ("PAST_DUE", 0.05), ("CANCELED", 0.12), ("EXPIRED", 0.08))
DELEGATED = ("MANAGE_MEMBERS", "MANAGE_SETTINGS", "ORDER_LICENSES", "VIEW_BILLING")
COUNTRIES = ("US", "DE", "GB", "FR", "NL", "ES", "IT", "CA", "AT", "CH", "SE", "PL")
WORDS = (
    "Acme",
    "Blue",
    "Cedar",
    "Delta",
    "Echo",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nova",
    "Orbit",
    "Pine",
    "Quartz",
    "River",
    "Summit",
    "Tide",
    "Umber",
    "Vertex",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
)
SUFFIXES = ("GmbH", "Ltd", "Inc", "AG", "BV", "SARL", "LLC", "Systems", "Labs", "Studio")
COMMISSION_RATE_BP = 2000  # 20.00 percent
HOLD = timedelta(days=30)


@dataclass
class PlanPrices:
    id: int
    code: str
    prices: dict[str, int]


@dataclass
class Dataset:
    """Generated rows by table (in insertion order) and what benchmarks need to sign in."""

    tables: dict[type[Model], tuple[Sequence[str], list[tuple]]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, model: type[Model], columns: Sequence[str], rows: list[tuple]) -> None:
        self.tables[model] = (columns, rows)

    def counts(self) -> dict[str, int]:
        return {tortoise_internals.table(model): len(rows) for model, (_, rows) in self.tables.items()}


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _token(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=43))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _name(rng: random.Random, number: int) -> str:
    return f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES)} {number}"


def build(scale: float, seed: int = SEED, moment: datetime | None = None) -> Dataset:
    """Every row of the dataset, deterministic for a seed (dates relative to `moment`)."""
    rng = random.Random(seed)
    moment = (moment or datetime.now(UTC)).replace(microsecond=0)
    two_years = timedelta(days=730)
    partners = max(3, round(1_000 * scale))
    customers = max(30, round(100_000 * scale))
    big_customers = max(10, round(10_000 * scale))
    lines_wanted = max(100, round(1_000_000 * scale))
    data = Dataset()

    # catalog, rules, rates
    products = [(i, f"PRODUCT{i}", f"Product {i}", moment - two_years) for i in (1, 2, 3)]
    plans: list[PlanPrices] = []
    plan_rows = []
    for product_id, *_ in products:
        for level, usd in ((1, 2_900), (2, 9_900)):
            plan_id = len(plans) + 1
            prices = {c: int(usd * RATES[c]) for c in RATES}
            plans.append(PlanPrices(plan_id, f"P{product_id}-{level}", prices))
            plan_rows.append(
                (
                    plan_id,
                    product_id,
                    f"P{product_id}-{level}",
                    f"Plan {product_id}.{level}",
                    prices,
                    moment - two_years,
                )
            )
    data.add(Product, ("id", "code", "name", "created_at"), products)
    data.add(Plan, ("id", "product_id", "code", "name", "prices", "created_at"), plan_rows)
    data.add(
        ExchangeRate,
        ("id", "currency", "rate", "valid_from", "created_at"),
        [
            (i, c, str(RATES[c]), (moment - two_years - timedelta(days=365)).date(), moment - two_years)
            for i, c in enumerate(("EUR", "GBP"), start=1)
        ],
    )
    programs = ("AFFILIATE", "EXPERT", "RESELLER", "SERVICE_PARTNER")
    data.add(
        CommissionRule,
        ("id", "program", "kind", "rate_bp", "recurrence", "hold_days", "active", "created_at"),
        [
            (i, p, "PERCENT", COMMISSION_RATE_BP, "LIFETIME", 30, True, moment - two_years)
            for i, p in enumerate(programs, start=1)
        ],
    )

    # organizations, users, memberships
    organizations, users, memberships = [], [], []
    profiles, enrollments = [], []
    partner_currency: dict[int, str] = {}
    partner_admin: dict[int, int] = {}
    for index in range(partners):
        org_id = index + 1
        name = "Bench Partner Big 1" if index == 0 else _name(rng, org_id)
        created = moment - two_years - timedelta(days=rng.randint(1, 365))
        organizations.append(
            (org_id, name, name.casefold(), f"https://partner{org_id}.example", rng.choice(COUNTRIES), "en", created)
        )
        currency = "USD" if index == 0 else _pick(rng, CURRENCIES)
        partner_currency[org_id] = currency
        profiles.append((org_id, org_id, f"BP{org_id:06d}", currency, rng.random() < 0.5, None, created))
        joined = ["SERVICE_PARTNER"] + [
            p
            for p, share in (("AFFILIATE", 0.5), ("EXPERT", 0.3), ("RESELLER", 0.2))
            if index == 0 or rng.random() < share
        ]
        for program in joined:
            enrollments.append((len(enrollments) + 1, org_id, program, created))
        for staff in range(PARTNER_STAFF):
            user_id = len(users) + 1
            users.append(
                (
                    user_id,
                    f"partner{org_id}.{staff}@bench.example",
                    f"Partner {org_id} person {staff}",
                    created,
                    created,
                )
            )
            if staff == 0:
                partner_admin[org_id] = user_id
                memberships.append((len(memberships) + 1, org_id, user_id, "ADMINISTRATOR", [], created))
            else:
                memberships.append(
                    (
                        len(memberships) + 1,
                        org_id,
                        user_id,
                        "MEMBER",
                        ["ADMINISTER_CUSTOMERS"] if staff == 1 else ["MANAGE_PARTNER_PORTAL"],
                        created,
                    )
                )

    relationships, licenses, referrals = [], [], []
    customer_currency: dict[int, str] = {}
    earner: dict[int, tuple[int, str]] = {}  # customer -> (partner, commission type)
    customer_ids = []
    # the big partner's customers are spread over the whole id range, as a real one's would be
    big_partner_customers = set(rng.sample(range(customers), big_customers))
    for index in range(customers):
        org_id = partners + index + 1
        customer_ids.append(org_id)
        name = _name(rng, org_id)
        created = moment - two_years + timedelta(seconds=rng.randint(0, int(two_years.total_seconds()) - 86_400))
        organizations.append(
            (
                org_id,
                name,
                name.casefold(),
                None if rng.random() < 0.3 else f"https://c{org_id}.example",
                rng.choice(COUNTRIES),
                rng.choice(("en", "en", "de", "fr")),
                created,
            )
        )
        user_id = len(users) + 1
        users.append((user_id, f"customer{org_id}@bench.example", f"Customer {org_id} admin", created, created))
        memberships.append((len(memberships) + 1, org_id, user_id, "ADMINISTRATOR", [], created))
        customer_currency[org_id] = _pick(rng, CURRENCIES)
        status = _pick(rng, LICENSES)
        plan = rng.choice(plans)
        seats = rng.choice((1, 1, 2, 3, 5, 10, 25))
        mrr = plan.prices[customer_currency[org_id]] * seats if status in ("ACTIVE", "PAST_DUE") else 0
        licenses.append(
            (
                org_id - partners,
                org_id,
                status,
                plan.code,
                seats,
                mrr,
                customer_currency[org_id],
                created + timedelta(days=14) if status == "TRIAL" else None,
                created,
            )
        )
        if index in big_partner_customers:
            partner = 1
        elif rng.random() < 0.85:
            partner = rng.randint(2, partners)
        else:
            partner = None
        if partner is not None:
            if rng.random() < 0.05:  # an earlier partner, ended: history
                previous = rng.randint(2, partners)
                relationships.append(
                    (
                        len(relationships) + 1,
                        org_id,
                        previous,
                        "SELECTED",
                        created,
                        created + timedelta(days=30),
                        [],
                        None,
                        None,
                        name,
                        name.casefold(),
                        status,
                    )
                )
                started = created + timedelta(days=30)
            else:
                started = created
            source = "INVITATION" if rng.random() < 0.6 else "SELECTED"
            grant = sorted(rng.sample(DELEGATED, rng.randint(1, 4))) if rng.random() < 0.5 else []
            expires = moment + timedelta(days=rng.randint(1, 365)) if grant and rng.random() < 0.1 else None
            relationships.append(
                (
                    len(relationships) + 1,
                    org_id,
                    partner,
                    source,
                    started,
                    None,
                    grant,
                    expires,
                    started if grant else None,
                    name,
                    name.casefold(),
                    status,
                )
            )
            earner[org_id] = (partner, "PARTNER" if source == "INVITATION" else "SELF")
        else:
            partner = rng.randint(2, partners)
            kind = "AFFILIATE" if rng.random() < 0.6 else "CODE"
            referrals.append((len(referrals) + 1, org_id, partner, kind, created))
            earner[org_id] = (partner, kind)

    # payments and their commission lines: about ten monthly payments a customer, exactly `lines_wanted`
    counts = [rng.randint(1, 19) for _ in customer_ids]
    surplus = sum(counts) - lines_wanted
    position = 0
    while surplus != 0:
        i = position % len(counts)
        if surplus > 0 and counts[i] > 1:
            counts[i] -= 1
            surplus -= 1
        elif surplus < 0 and counts[i] < 24:
            counts[i] += 1
            surplus += 1
        position += 1
    payments, lines = [], []
    payouts: dict[tuple[int, int], list] = {}  # (partner, month index) -> payout row
    payment_id = 0
    for org_id, count in zip(customer_ids, counts, strict=True):
        partner, kind = earner[org_id]
        currency = customer_currency[org_id]
        payout_currency = partner_currency[partner]
        plan = rng.choice(plans)
        monthly = plan.prices[currency] * rng.choice((1, 1, 2, 3, 5))
        start = moment - timedelta(days=30 * count) + timedelta(seconds=rng.randint(0, 29 * 86_400))
        for month in range(count):
            payment_id += 1
            paid_at = start + timedelta(days=30 * month)
            payments.append(
                (payment_id, f"bench-{payment_id}", org_id, plan.id, monthly, currency, 0, paid_at, paid_at)
            )
            factor = RATES[payout_currency] / RATES[currency]
            amount = int((Decimal(monthly) * factor * COMMISSION_RATE_BP / 10_000).to_integral_value())
            age = moment - paid_at
            payout_id = None
            if rng.random() < 0.03:
                status = "REVERSED"
            elif age < HOLD:
                status = "PENDING"
            elif age < 2 * HOLD:
                status = "APPROVED"
            else:
                status = "PAID"
                key = (partner, age.days // 30)
                payout = payouts.get(key)
                if payout is None:
                    payout = [
                        len(payouts) + 1,
                        partner,
                        "PAID",
                        0,
                        payout_currency,
                        "BANK_TRANSFER",
                        {},
                        paid_at + 2 * HOLD,
                        paid_at + 2 * HOLD,
                        paid_at + 2 * HOLD + timedelta(days=3),
                        f"BENCH-{len(payouts) + 1}",
                    ]
                    payouts[key] = payout
                payout[3] += amount
                payout_id = payout[0]
            lines.append(
                (
                    payment_id,
                    f"payment:{payment_id}",
                    partner,
                    org_id,
                    payment_id,
                    _rule_of(kind),
                    payout_id,
                    kind,
                    status,
                    amount,
                    payout_currency,
                    monthly,
                    currency,
                    str(factor.normalize()),
                    COMMISSION_RATE_BP,
                    paid_at + HOLD,
                    paid_at,
                )
            )

    # invitations: many for the big partner, a few for the others
    invitations = []
    for partner in range(1, partners + 1):
        count = max(10, round(2_000 * scale)) if partner == 1 else rng.randint(0, 6)
        for _ in range(count):
            invitation_id = len(invitations) + 1
            created = moment - timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86_400))
            status = _pick(rng, (("OPEN", 0.3), ("ACCEPTED", 0.5), ("EXPIRED", 0.15), ("REVOKED", 0.05)))
            invitations.append(
                (
                    invitation_id,
                    partner,
                    f"prospect{invitation_id}@bench.example",
                    f"Prospect {invitation_id}",
                    status,
                    _digest(f"invitation-{seed}-{invitation_id}"),
                    created + timedelta(days=14),
                    partner_admin[partner],
                    created,
                )
            )

    # credentials for the benchmarks
    sessions, tokens = [], {}
    for partner in range(1, min(partners, SESSION_PARTNERS) + 1):
        token = _token(rng, "pps_")
        tokens[str(partner)] = token
        sessions.append(
            (len(sessions) + 1, _digest(token), partner_admin[partner], moment, moment + timedelta(days=365))
        )
    api_key = _token(rng, "ppk_")

    data.add(Organization, ("id", "name", "search_name", "website", "country", "language", "created_at"), organizations)
    data.add(User, ("id", "email", "name", "created_at", "email_verified_at"), users)  # verified: partner staff act
    data.add(Membership, ("id", "organization_id", "user_id", "role", "permissions", "created_at"), memberships)
    data.add(
        PartnerProfile,
        ("id", "organization_id", "code", "payout_currency", "listed_in_directory", "tier", "approved_at"),
        profiles,
    )
    data.add(ProgramEnrollment, ("id", "partner_id", "program", "enrolled_at"), enrollments)
    data.add(
        CustomerRelationship,
        (
            "id",
            "customer_id",
            "partner_id",
            "source",
            "started_at",
            "ended_at",
            "grant_permissions",
            "grant_expires_at",
            "grant_updated_at",
            "customer_name",
            "customer_search_name",
            "license_status",
        ),
        relationships,
    )
    data.add(
        License,
        ("id", "organization_id", "status", "plan", "seats", "mrr_amount", "currency", "trial_ends_at", "updated_at"),
        licenses,
    )
    data.add(Referral, ("id", "customer_id", "partner_id", "type", "created_at"), referrals)
    data.add(
        Invitation,
        (
            "id",
            "partner_id",
            "email",
            "organization_name",
            "status",
            "token_hash",
            "expires_at",
            "created_by_id",
            "created_at",
        ),
        invitations,
    )
    data.add(
        Payout,
        (
            "id",
            "partner_id",
            "status",
            "amount",
            "currency",
            "method",
            "destination",
            "requested_at",
            "decided_at",
            "paid_at",
            "reference",
        ),
        [tuple(p) for p in payouts.values()],
    )
    data.add(
        Payment,
        (
            "id",
            "external_id",
            "organization_id",
            "plan_id",
            "amount",
            "currency",
            "refunded_amount",
            "paid_at",
            "created_at",
        ),
        payments,
    )
    data.add(
        Commission,
        (
            "id",
            "source_key",
            "partner_id",
            "customer_id",
            "payment_id",
            "rule_id",
            "payout_id",
            "type",
            "status",
            "amount",
            "currency",
            "original_amount",
            "original_currency",
            "exchange_rate",
            "rate_bp",
            "hold_until",
            "created_at",
        ),
        lines,
    )
    data.add(SessionToken, ("id", "token_hash", "user_id", "created_at", "expires_at"), sessions)
    data.add(
        ApiKey,
        ("id", "name", "prefix", "key_hash", "scopes", "created_at"),
        [(1, "bench billing", api_key[:10], _digest(api_key), ["billing:write"], moment)],
    )
    data.meta = {
        "scale": scale,
        "seed": seed,
        "generated_for": moment.isoformat(),
        "big_partner_id": 1,
        "big_partner_customers": big_customers,
        "partners": partners,
        "customers": customers,
        "commission_lines": len(lines),
        "session_tokens": tokens,
        "api_key": api_key,
        "customer_ids": {"first": partners + 1, "last": partners + customers},
        "plan_codes": [p.code for p in plans],
    }
    return data


def _rule_of(kind: str) -> int:
    """The id of the program-default rule that earned a line of this type (see the rules above)."""
    return {"AFFILIATE": 1, "CODE": 2, "PARTNER": 4, "SELF": 4}[kind]


# --- writing -------------------------------------------------------------------------------------


def _defaults(model: type[Model], given: Sequence[str], moment: datetime) -> tuple[list[str], tuple]:
    """The columns the generator leaves out, with the model's default (or NULL) for each."""
    columns, values = [], []
    stored = tortoise_internals.columns(model)
    for name, field_object in tortoise_internals.fields(model).items():
        column = stored.get(name)
        if column is None or column in given:
            continue
        if getattr(field_object, "auto_now_add", False) or getattr(field_object, "auto_now", False):
            value: Any = moment
        elif callable(field_object.default):
            value = field_object.default()
        elif field_object.default is not None:
            value = field_object.default
        elif field_object.null:
            value = None
        else:
            raise RuntimeError(
                f"{tortoise_internals.table(model)}.{column} needs a value: teach bench/dataset.py about it"
            )
        columns.append(column)
        values.append(value)
    return columns, tuple(values)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return str(value)  # tortoise's own SQLite format: "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _postgres_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _prepared(data: Dataset, moment: datetime) -> Iterable[tuple[str, list[str], Iterable[tuple]]]:
    for model, (columns, rows) in data.tables.items():
        extra_columns, extra_values = _defaults(model, columns, moment)
        yield tortoise_internals.table(model), [*columns, *extra_columns], (row + extra_values for row in rows)


def write_sqlite(path: Path, data: Dataset) -> None:
    moment = datetime.now(UTC)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # a fresh, disposable file: no journal and a large page cache while loading, WAL afterwards
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-500000")
        connection.execute("BEGIN")
        for table, columns, rows in _prepared(data, moment):
            sql = (
                f'INSERT INTO "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) '
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            connection.executemany(sql, ([_sqlite_value(v) for v in row] for row in rows))
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


async def write_postgres(url: str, data: Dataset) -> None:
    import asyncpg

    moment = datetime.now(UTC)
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        async with connection.transaction():
            for table, columns, rows in _prepared(data, moment):
                await connection.copy_records_to_table(
                    table, columns=columns, records=([_postgres_value(v) for v in row] for row in rows)
                )
                if "id" in columns:
                    await connection.execute(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)'
                    )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def create_tables(database_url: str, schema: str) -> None:
    """An empty database with the project's tables: from the models, or by the migrations."""
    if schema == "migrate":
        await apply_migrations(database_url)
        return
    async with open_database(database_url):
        await Tortoise.generate_schemas()
        await record_migrations_applied()  # what /readyz checks


async def _recreate_postgres(url: str) -> None:
    import asyncpg

    *server, name = url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)
    admin = await asyncpg.connect("/".join(server) + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def meta_path(database_url: str) -> Path:
    """Where the credentials of a generated dataset are kept (next to a SQLite file, else var/bench)."""
    if database_url.startswith("sqlite://"):
        return Path(database_url.split("://", 1)[1].split("?", 1)[0]).with_suffix(".json")
    return Path("var/bench") / (database_url.rsplit("/", 1)[1].split("?", 1)[0] + ".json")


def generate(database_url: str, scale: float, *, schema: str = "generate", seed: int = SEED) -> dict[str, Any]:
    """Recreate the database and fill it; returns the dataset's description (also written to disk)."""
    started = time.perf_counter()
    data = build(scale, seed)
    built = time.perf_counter()
    if database_url.startswith("sqlite://"):
        path = Path(database_url.split("://", 1)[1].split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        asyncio.run(create_tables(database_url, schema))
        write_sqlite(path, data)
    else:
        asyncio.run(_recreate_postgres(database_url))
        asyncio.run(create_tables(database_url, schema))
        asyncio.run(write_postgres(database_url, data))
    finished = time.perf_counter()
    meta = {
        **data.meta,
        "database_url": database_url,
        "schema": schema,
        "rows": data.counts(),
        "seconds": {
            "build": round(built - started, 1),
            "write": round(finished - built, 1),
            "total": round(finished - started, 1),
        },
    }
    target = meta_path(database_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(meta, indent=2))
    return meta


def load_meta(database_url: str) -> dict[str, Any]:
    path = meta_path(database_url)
    if not path.exists():
        raise SystemExit(f"No dataset for {database_url}: run `python -m bench generate` first ({path} missing).")
    return json.loads(path.read_text())

"""The GraphQL operations the benchmarks send, and the raw SQL each is compared with.

The raw SQL is written once for SQLite and PostgreSQL (quoted identifiers, the partner id
inlined as an integer), and answers what the GraphQL operation answers.
"""

from __future__ import annotations

TYPENAME = "{ __typename }"
VIEWER = "{ viewer { id } }"

MY_CUSTOMERS = """
query MyCustomers($after: String) {
  myCustomers(first: 100, after: $after) {
    edges {
      cursor
      node {
        id source startedAt endedAt
        grant { permissions expiresAt }
        customer { id name website country }
        license { status plan seats monthlyRecurringRevenue { amount currency } trialEndsAt }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# The load run asks for the API's default page (20), as a frontend does.
MY_CUSTOMERS_DEFAULT_PAGE = MY_CUSTOMERS.replace("first: 100, ", "")

DASHBOARD = """
{
  partnerDashboard {
    customers openInvitations activeCustomers trialCustomers
    totalCommission { amount currency }
    paidCommission { amount currency }
    openCommission { amount currency }
  }
}
"""

COMMISSIONS_PAGE = """
{
  commissions(first: 20) {
    lines { edges { node { id type status amount { amount currency } customerName createdAt } } }
  }
}
"""

UPDATE_ORGANIZATION = """
mutation Rename($input: UpdateOrganizationInput!) {
  updateOrganization(input: $input) { organization { id name } errors { code message } }
}
"""

RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id } commission { id status } errors { code message } }
}
"""

REPORT = """
{
  reports {
    commissions(groupBy: [PERIOD], period: MONTH) {
      rows { period currency count amount { amount currency } }
      totals { currency count amount { amount currency } }
    }
  }
}
"""


def my_customers_sql(partner_id: int) -> str:
    """One query for the page, as the resolver's: the page's ids in name order (the name kept on
    the relationship, read from its index), then their relationship, customer and license (the
    same keyset order as the API's)."""
    partner = int(partner_id)
    return f"""
SELECT r."id", r."customer_id", r."source", r."started_at", r."ended_at", r."grant_permissions",
       r."grant_expires_at", o."name", o."website", o."country", o."language", o."created_at",
       l."status", l."plan", l."seats", l."mrr_amount", l."currency", l."trial_ends_at", l."updated_at"
FROM "customer_relationships" r
JOIN "organizations" o ON o."id" = r."customer_id"
LEFT JOIN "licenses" l ON l."organization_id" = r."customer_id"
WHERE r."id" IN (
  SELECT r2."id" FROM "customer_relationships" r2
  WHERE r2."partner_id" = {partner} AND r2."ended_at" IS NULL
  ORDER BY r2."ended_at", r2."customer_name", r2."id" LIMIT 101
)
ORDER BY r."customer_name", r."id"
"""


def dashboard_sql(partner_id: int) -> list[str]:
    """The dashboard's figures as the resolver computes them, in its one statement: the current
    customers counted by the copy of their license status, open invitations, open commission (pending
    and approved lines), paid commission (paid payouts)."""
    partner = int(partner_id)
    return [
        f"""
SELECT COUNT(CASE WHEN "license_status" = 'ACTIVE' THEN "partner_id" END) AS active,
       COUNT(CASE WHEN "license_status" = 'TRIAL' THEN "partner_id" END) AS trial,
       COUNT("partner_id") AS customers,
       (SELECT COUNT("partner_id") FROM "invitations"
        WHERE "partner_id" = {partner} AND "status" = 'OPEN' AND "expires_at" > CURRENT_TIMESTAMP) AS open_invitations,
       (SELECT SUM("amount") FROM "commissions"
        WHERE "partner_id" = {partner} AND "status" IN ('PENDING', 'APPROVED')) AS open_commission,
       (SELECT SUM("amount") FROM "payouts" WHERE "partner_id" = {partner} AND "status" = 'PAID') AS paid_commission
FROM "customer_relationships" WHERE "partner_id" = {partner} AND "ended_at" IS NULL
"""
    ]


def ledger_sql(partner_id: int) -> str:
    """The same commission figures summed over every line of the ledger (for comparison)."""
    return f"""
SELECT "status", SUM("amount") AS amount FROM "commissions"
WHERE "partner_id" = {int(partner_id)} GROUP BY "status"
"""


def report_sql(partner_id: int, sqlite: bool) -> list[str]:
    """The commission report by month: count and sum per month and currency, and per currency."""
    month = (
        "strftime('%Y-%m-01', \"created_at\")"
        if sqlite
        else "to_char(date_trunc('month', \"created_at\" AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
    )
    partner = int(partner_id)
    return [
        f"""
SELECT {month} AS period, "currency", COUNT("partner_id") AS count, SUM("amount") AS amount
FROM "commissions" WHERE "partner_id" = {partner}
GROUP BY 1, 2 ORDER BY 1, 2
""",
        f"""
SELECT "currency", COUNT("partner_id") AS count, SUM("amount") AS amount
FROM "commissions" WHERE "partner_id" = {partner} GROUP BY "currency" ORDER BY "currency"
""",
    ]

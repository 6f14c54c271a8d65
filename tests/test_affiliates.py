"""Affiliate links: creating them (landing only on allowed hosts), `GET /r/{code}` (click recorded with
a hashed address, signed cookie, redirect), the referral a signup with the cookie's value creates
(window, first touch, no self-referral), the commission it earns, and the report's figures in a
fixed number of queries. Through GraphQL and HTTP on the real app; the clock is frozen."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from partner_portal.models.affiliates import AffiliateClick
from partner_portal.resolvers import affiliates
from tests.conftest import START, start_api, test_settings
from tests.documents import CREATE_ORGANIZATION, CREATE_RULE, SET_EXCHANGE_RATE
from tests.support import (
    Partner,
    Person,
    add_member,
    create_api_key,
    create_organization,
    make_partner,
    operator,
    register,
)

RECORD_PAYMENT = """
mutation Pay($input: RecordPaymentInput!) {
  recordPayment(input: $input) { commission { type amount { amount currency } } errors { field code message } }
}"""
CREATE_LINK = """
mutation Link($input: CreateAffiliateLinkInput!) {
  createAffiliateLink(input: $input) { link { id code campaign landingUrl active } errors { field code message } }
}"""
UPDATE_LINK = """
mutation Update($input: UpdateAffiliateLinkInput!) {
  updateAffiliateLink(input: $input) { link { id active campaign } errors { field code } }
}"""
ATTRIBUTE = """
mutation Attribute($input: AttributeSignupInput!) {
  attributeSignup(input: $input) { attributed partnerId linkCode errors { field code message } }
}"""
FIGURES = "clicks signups payingCustomers commission { amount currency }"
REPORT = f"""
query Report($from: Date!, $until: Date!, $partnerId: ID) {{
  affiliateReport(from: $from, until: $until, partnerId: $partnerId) {{
    links {{ link {{ code }} figures {{ {FIGURES} }} }}
    total {{ {FIGURES} }}
    byDay {{ day figures {{ {FIGURES} }} }}
  }}
}}"""
LINKS = "query Links($partnerId: ID) { affiliateLinks(partnerId: $partnerId) { totalCount edges { node { code } } } }"
MY_CUSTOMERS = "query Customers { myCustomers { totalCount } }"
NODE = "query Node($id: ID!) { node(id: $id) { ... on AffiliateLink { code } } }"
COOKIE = "pp_affiliate"


# --- helpers ------------------------------------------------------------------------------------------


@pytest.fixture
async def world(api):
    reviewer = await operator(api)
    key = await create_api_key(api, reviewer, ["BILLING_WRITE"], "Billing")
    rate = await api.data(
        SET_EXCHANGE_RATE, {"input": {"currency": "EUR", "rate": "1", "validFrom": "2020-01-01"}}, token=reviewer.token
    )
    assert rate["setExchangeRate"]["errors"] == []
    rule = await api.data(
        CREATE_RULE,
        {
            "input": {
                "program": "AFFILIATE",
                "kind": "PERCENT",
                "rate": "20.00",
                "recurrence": "LIFETIME",
                "holdDays": 30,
            }
        },
        token=reviewer.token,
    )
    assert rule["createCommissionRule"]["errors"] == []
    northwind = await make_partner(api, reviewer)  # SERVICE_PARTNER and AFFILIATE, paid out in EUR
    fabrikam = await make_partner(api, reviewer, "admin@fabrikam.example", "Fabrikam", programs=["AFFILIATE"])
    return {"operator": reviewer, "key": key, "northwind": northwind, "fabrikam": fabrikam}


async def new_link(api, partner: Partner, **fields) -> dict:
    payload = (await api.data(CREATE_LINK, {"input": fields}, token=partner.admin.token))["createAffiliateLink"]
    assert payload["errors"] == [], payload["errors"]
    return payload["link"]


async def click(api, code: str, **headers) -> tuple[str, str | None]:
    """(Location, the cookie's value) of a visit of /r/{code}; the jar is cleared (a fresh browser). The
    Location's last parameter, `pp_affiliate`, is the cookie's value (tests/test_attribution.py): it is
    checked and left out."""
    api.client.cookies.clear()
    response = await api.client.get(f"/r/{code}", follow_redirects=False, headers=headers)
    assert response.status_code == 302, response.text
    api.client.cookies.clear()
    location, token = response.headers["location"], response.cookies.get(COOKIE)
    if token is not None:
        head, _, fragment = location.partition("#")
        assert head.endswith(f"{COOKIE}={token}"), location
        location = head.removesuffix(f"{COOKIE}={token}")[:-1] + (f"#{fragment}" if fragment else "")
    return location, token


async def sign_up(api, email: str, token: str | None, name: str = "Contoso") -> tuple[Person, str]:
    person = await register(api, email)
    payload = (
        await api.data(CREATE_ORGANIZATION, {"input": {"name": name, "affiliateToken": token}}, token=person.token)
    )["createOrganization"]
    assert payload["errors"] == [], payload["errors"]
    return person, payload["organization"]["id"]


async def pay(api, world, external_id: str, customer_id: str, amount: str = "100.00") -> dict | None:
    payload = (
        await api.data(
            RECORD_PAYMENT,
            {
                "input": {
                    "externalId": external_id,
                    "organizationId": customer_id,
                    "amount": {"amount": amount, "currency": "EUR"},
                    "paidAt": datetime.now(UTC).isoformat(),
                }
            },
            api_key=world["key"],
        )
    )["recordPayment"]
    assert payload["errors"] == [], payload["errors"]
    return payload["commission"]


async def attribute(api, world, customer_id: str, **fields) -> dict:
    return (await api.data(ATTRIBUTE, {"input": {"organizationId": customer_id, **fields}}, api_key=world["key"]))[
        "attributeSignup"
    ]


FIRST_DAY = START.date()


async def report(api, partner: Partner, start: date = FIRST_DAY, until: date = FIRST_DAY) -> dict:
    return (await api.data(REPORT, {"from": start.isoformat(), "until": until.isoformat()}, token=partner.admin.token))[
        "affiliateReport"
    ]


def figures(clicks=0, signups=0, paying=0, commission="0.00") -> dict:
    return {
        "clicks": clicks,
        "signups": signups,
        "payingCustomers": paying,
        "commission": {"amount": commission, "currency": "EUR"},
    }


# --- end to end ---------------------------------------------------------------------------------------------


async def test_click_cookie_signup_payment_earns_affiliate_commission_outside_my_customers(clock, api, world):
    northwind = world["northwind"]
    link = await new_link(api, northwind, code="Spring-26", campaign="Newsletter", landingUrl="/pricing?plan=pro")
    assert link["code"] == "spring-26" and link["landingUrl"] == "http://localhost:8000/pricing?plan=pro"

    api.client.cookies.clear()
    response = await api.client.get(
        "/r/spring-26",
        follow_redirects=False,
        headers={"user-agent": "Mozilla/5.0 Test", "referer": "https://blog.example/p"},
    )
    assert response.status_code == 302
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "Max-Age=7776000" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # development; production adds it
    token = response.cookies[COOKIE]
    # PUBLIC_URL's scheme and port; the token also as a parameter, for a frontend on another origin
    assert response.headers["location"] == f"http://localhost:8000/pricing?plan=pro&{COOKIE}={token}"
    api.client.cookies.clear()

    clicks = await AffiliateClick.all().values("ip_hash", "user_agent", "referrer", "day")
    assert len(clicks) == 1
    assert clicks[0]["user_agent"] == "Mozilla/5.0 Test" and clicks[0]["referrer"] == "https://blog.example/p"
    assert len(clicks[0]["ip_hash"]) == 64 and "127.0.0.1" not in clicks[0]["ip_hash"]
    assert clicks[0]["day"] == START.date()

    clock.shift(timedelta(days=3))
    _, customer_id = await sign_up(api, "carol@contoso.example", token)
    line = await pay(api, world, "inv-1", customer_id)

    assert line == {"type": "AFFILIATE", "amount": {"amount": "20.00", "currency": "EUR"}}
    assert (await api.data(MY_CUSTOMERS, token=northwind.admin.token))["myCustomers"]["totalCount"] == 0
    stats = await report(api, northwind, START.date(), START.date() + timedelta(days=3))
    assert stats["links"] == [{"link": {"code": "spring-26"}, "figures": figures(1, 1, 1, "20.00")}]
    assert stats["total"] == figures(1, 1, 1, "20.00")
    assert [d["day"] for d in stats["byDay"]] == [(START.date() + timedelta(days=i)).isoformat() for i in range(4)]
    assert stats["byDay"][0]["figures"] == figures(clicks=1)
    assert stats["byDay"][3]["figures"] == figures(0, 1, 1, "20.00")


async def test_the_report_takes_a_fixed_number_of_queries(clock, api, world):
    northwind = world["northwind"]
    first = await new_link(api, northwind, code="one")
    _, token = await click(api, first["code"])
    await sign_up(api, "a@a.example", token)
    with api.count_queries() as small:
        await report(api, northwind)

    for n in range(5):
        link = await new_link(api, northwind, code=f"more-{n}")
        for _ in range(3):
            _, token = await click(api, link["code"])
        _, customer_id = await sign_up(api, f"b{n}@b.example", token)
        await pay(api, world, f"inv-{n}", customer_id)
    with api.count_queries() as large:
        stats = await report(api, northwind, START.date() - timedelta(days=30), START.date())

    assert stats["total"] == figures(16, 6, 5, "100.00")
    assert len(stats["byDay"]) == 31
    assert large.count == small.count


# --- window, first touch, self-referral ---------------------------------------------------------------------


async def test_a_partner_creates_links_up_to_the_maximum(clock, api, world, monkeypatch):
    # given: a maximum of 2 (the report lists every link)
    monkeypatch.setattr(affiliates, "MAX_LINKS_PER_PARTNER", 2)
    for _ in range(2):
        await new_link(api, world["northwind"])

    # when
    refused = (await api.data(CREATE_LINK, {"input": {}}, token=world["northwind"].admin.token))["createAffiliateLink"]
    others = (await api.data(CREATE_LINK, {"input": {}}, token=world["fabrikam"].admin.token))["createAffiliateLink"]

    # then
    assert refused["link"] is None and [e["code"] for e in refused["errors"]] == ["LIMIT_REACHED"]
    assert others["errors"] == []


async def test_attribution_window_a_day_inside_and_a_day_outside(clock, api, world):
    northwind = world["northwind"]
    await new_link(api, northwind, code="window")
    _, early = await click(api, "window")
    clock.shift(timedelta(days=1))
    _, late = await click(api, "window")

    clock.move_to(START + timedelta(days=90, hours=12))  # late: 89.5 days ago; early: 90.5 days ago
    _, inside = await sign_up(api, "in@in.example", late, "Inside")
    _, outside = await sign_up(api, "out@out.example", early, "Outside")  # registration works, unattributed

    assert await pay(api, world, "inv-in", inside) == {
        "type": "AFFILIATE",
        "amount": {"amount": "20.00", "currency": "EUR"},
    }
    assert await pay(api, world, "inv-out", outside) is None
    refused = await attribute(api, world, outside, affiliateToken=early)
    assert refused["attributed"] is False
    assert [e["code"] for e in refused["errors"]] == ["ATTRIBUTION_EXPIRED"]


async def test_first_touch_wins(clock, api, world):
    northwind, fabrikam = world["northwind"], world["fabrikam"]
    await new_link(api, northwind, code="north")
    await new_link(api, fabrikam, code="fab")
    _, north_token = await click(api, "north")
    _, fab_token = await click(api, "fab")

    _, customer_id = await sign_up(api, "c@c.example", north_token)
    again = await attribute(api, world, customer_id, affiliateToken=fab_token)
    by_code = await attribute(api, world, customer_id, code="fab")

    assert [e["code"] for e in again["errors"]] == ["ALREADY_REFERRED"]
    assert [e["code"] for e in by_code["errors"]] == ["ALREADY_REFERRED"]
    await pay(api, world, "inv-1", customer_id)
    assert (await report(api, northwind))["total"]["commission"]["amount"] == "20.00"
    assert (await report(api, fabrikam))["total"] == figures(clicks=1)


async def test_an_integrator_attributes_a_signup_by_code(clock, api, world):
    await new_link(api, world["fabrikam"], code="fab")
    _, customer_id = await sign_up(api, "c@c.example", None)

    done = await attribute(api, world, customer_id, code="FAB")

    assert done["errors"] == [] and done["attributed"] is True and done["linkCode"] == "fab"
    assert done["partnerId"] == world["fabrikam"].id


async def test_a_partner_cannot_refer_itself_or_its_members(clock, api, world):
    northwind = world["northwind"]
    await new_link(api, northwind, code="self")
    member = await register(api, "staff@northwind.example")
    await add_member(api, northwind.admin, northwind.id, member.email)

    own = await attribute(api, world, northwind.id, code="self")
    _, token = await click(api, "self")
    staff_org = (
        await api.data(
            CREATE_ORGANIZATION, {"input": {"name": "Side Business", "affiliateToken": token}}, token=member.token
        )
    )["createOrganization"]
    assert staff_org["errors"] == []  # created, but not referred
    by_staff = await attribute(api, world, staff_org["organization"]["id"], affiliateToken=token)

    assert [e["code"] for e in own["errors"]] == ["SELF_REFERRAL"]
    assert [e["code"] for e in by_staff["errors"]] == ["SELF_REFERRAL"]
    assert (await report(api, northwind))["total"]["signups"] == 0


async def test_forged_or_unknown_tokens_are_refused(clock, api, world):
    await new_link(api, world["northwind"], code="real")
    _, customer_id = await sign_up(api, "c@c.example", "not-a-token")
    _, token = await click(api, "real")

    forged = await attribute(
        api, world, customer_id, affiliateToken=token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    )
    nothing = await attribute(api, world, customer_id)
    unknown = await attribute(api, world, customer_id, code="nope")

    assert [e["code"] for e in forged["errors"]] == ["INVALID_TOKEN"]
    assert [e["code"] for e in nothing["errors"]] == ["REQUIRED"]
    assert [e["code"] for e in unknown["errors"]] == ["INVALID_VALUE"]


# --- the redirect never leaves the allowed hosts ---------------------------------------------------------------


@pytest.mark.parametrize(
    "landing",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http://localhost/x",
        "https://localhost@evil.example/",
        "https://evil.example@localhost:8443/",
        "https://localhost.evil.example/",
        "ftp://localhost/",
        "/path\nLocation: https://evil.example",
        "https://localhost:444/",
        "https://localhost:8000/",
        "http://localhost:8001/",
    ],
)
async def test_landing_outside_the_allowed_hosts_is_refused(clock, api, world, landing):
    payload = (await api.data(CREATE_LINK, {"input": {"landingUrl": landing}}, token=world["northwind"].admin.token))[
        "createAffiliateLink"
    ]

    assert payload["link"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("landingUrl", "INVALID_VALUE")]


async def test_configured_hosts_and_the_default_landing(clock, database_url):
    settings = test_settings(
        database_url,
        affiliate_allowed_hosts=["www.vendor.example", "vendor.example"],
        affiliate_default_url="https://www.vendor.example/welcome",
    )
    async for api in start_api(settings):
        reviewer = await operator(api)
        northwind = await make_partner(api, reviewer)
        default = await new_link(api, northwind, code="home")
        other = await new_link(api, northwind, code="other", landingUrl="https://vendor.example/b?x=1#top")
        assert default["landingUrl"] == "https://www.vendor.example/"
        assert other["landingUrl"] == "https://vendor.example/b?x=1#top"

        location, token = await click(api, "other")
        assert location == "https://vendor.example/b?x=1#top" and token
        assert await click(api, "unknown") == ("https://www.vendor.example/welcome", None)
        disabled = (
            await api.data(
                UPDATE_LINK, {"input": {"linkId": other["id"], "active": False}}, token=northwind.admin.token
            )
        )["updateAffiliateLink"]
        assert disabled["errors"] == [] and disabled["link"]["active"] is False
        assert await click(api, "other") == ("https://www.vendor.example/welcome", None)
        assert await click(api, "evil.example%3F%22x") == ("https://www.vendor.example/welcome", None)


async def test_the_landing_keeps_the_scheme_and_port_of_the_public_url(clock, api, world):
    northwind = world["northwind"]
    full = await new_link(api, northwind, code="full", landingUrl="http://localhost:8000/signup?x=1")
    secure = await new_link(api, northwind, code="secure", landingUrl="https://localhost/pricing")

    assert full["landingUrl"] == "http://localhost:8000/signup?x=1"
    assert (await click(api, "full"))[0] == "http://localhost:8000/signup?x=1"
    assert secure["landingUrl"] == "https://localhost/pricing"  # https on the allowed host stays allowed
    assert (await click(api, "secure"))[0] == "https://localhost/pricing"


@pytest.mark.parametrize(
    ("public_url", "landing", "expected"),
    [
        ("https://partners.vendor.test:8443/portal", "/pricing", "https://partners.vendor.test:8443/pricing"),
        (
            "https://partners.vendor.test:8443",
            "https://partners.vendor.test:8443/a",
            "https://partners.vendor.test:8443/a",
        ),
        ("https://partners.vendor.test:8443", "https://partners.vendor.test:9443/a", None),
        ("http://partners.vendor.test:8000", "/pricing", "https://partners.vendor.test/pricing"),
        ("http://partners.vendor.test:8000", "http://partners.vendor.test:8000/a", None),
    ],
)
async def test_production_keeps_the_port_of_an_https_public_url_only(
    clock, database_url, public_url, landing, expected
):
    settings = test_settings(database_url, environment="production", public_url=public_url)
    async for api in start_api(settings):
        northwind = await make_partner(api, await operator(api))
        payload = (await api.data(CREATE_LINK, {"input": {"landingUrl": landing}}, token=northwind.admin.token))[
            "createAffiliateLink"
        ]
        assert (payload["link"] or {}).get("landingUrl") == expected, payload["errors"]


async def test_production_cookies_are_secure(clock, database_url):
    settings = test_settings(database_url, environment="production")
    async for api in start_api(settings):
        reviewer = await operator(api)
        northwind = await make_partner(api, reviewer)
        await new_link(api, northwind, code="secure")
        response = await api.client.get("/r/secure", follow_redirects=False)
        assert "Secure" in response.headers["set-cookie"]


# --- who may ---------------------------------------------------------------------------------------------------


async def test_who_may_create_read_and_attribute(clock, api, world):
    northwind, fabrikam = world["northwind"], world["fabrikam"]
    link = await new_link(api, northwind, code="mine")
    staff = await register(api, "staff@northwind.example")
    await add_member(api, northwind.admin, northwind.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])
    manager = await register(api, "manager@northwind.example")
    await add_member(api, northwind.admin, northwind.id, manager.email, partner_permissions=["MANAGE_PARTNER_PORTAL"])
    customer = await register(api, "c@c.example")
    customer_org = await create_organization(api, customer, "Customer")
    service_only = await make_partner(
        api, world["operator"], "admin@tailspin.example", "Tailspin", programs=["SERVICE_PARTNER"]
    )
    reports_key = await create_api_key(api, world["operator"], ["REPORTS_READ"], "BI")
    create = {"input": {"code": "new-one"}}
    named = {"input": {"partnerId": northwind.id, "code": "new-two"}}

    assert await api.error_code(CREATE_LINK, create) == "UNAUTHENTICATED"
    assert await api.error_code(CREATE_LINK, create, token=staff.token) == "FORBIDDEN"
    assert await api.error_code(CREATE_LINK, create, token=customer.token) == "FORBIDDEN"
    assert await api.error_code(CREATE_LINK, create, token=service_only.admin.token) == "FORBIDDEN"
    assert await api.error_code(CREATE_LINK, named, token=fabrikam.admin.token) == "NOT_FOUND"
    assert (await api.data(CREATE_LINK, named, token=manager.token))["createAffiliateLink"]["errors"] == []
    taken = await api.data(CREATE_LINK, {"input": {"code": "MINE"}}, token=fabrikam.admin.token)
    assert [e["code"] for e in taken["createAffiliateLink"]["errors"]] == ["LINK_CODE_TAKEN"]

    assert (await api.data(LINKS, token=manager.token))["affiliateLinks"]["totalCount"] == 2
    assert await api.error_code(LINKS, token=staff.token) == "FORBIDDEN"
    assert await api.error_code(LINKS, {"partnerId": northwind.id}, token=fabrikam.admin.token) == "NOT_FOUND"
    assert (
        await api.error_code(
            REPORT, {"from": "2026-03-01", "until": "2026-03-02", "partnerId": northwind.id}, token=fabrikam.admin.token
        )
        == "NOT_FOUND"
    )
    assert (
        await api.error_code(REPORT, {"from": "2026-03-03", "until": "2026-03-02"}, token=manager.token)
        == "BAD_USER_INPUT"
    )
    assert (await api.data(NODE, {"id": link["id"]}, token=manager.token))["node"] == {"code": "mine"}
    assert await api.error_code(NODE, {"id": link["id"]}, token=fabrikam.admin.token) == "NOT_FOUND"
    disable = {"input": {"linkId": link["id"], "active": False}}
    assert await api.error_code(UPDATE_LINK, disable, token=fabrikam.admin.token) == "NOT_FOUND"
    assert await api.error_code(UPDATE_LINK, disable, token=staff.token) == "FORBIDDEN"

    attribution = {"input": {"organizationId": customer_org["id"], "code": "mine"}}
    assert await api.error_code(ATTRIBUTE, attribution) == "UNAUTHENTICATED"
    assert await api.error_code(ATTRIBUTE, attribution, token=world["operator"].token) == "UNAUTHENTICATED"
    assert await api.error_code(ATTRIBUTE, attribution, api_key=reports_key) == "FORBIDDEN"
    assert (await api.data(ATTRIBUTE, attribution, api_key=world["key"]))["attributeSignup"]["attributed"] is True


async def test_a_link_tells_the_address_to_share_which_records_a_click(clock, api, world):
    # given
    link = await new_link(api, world["northwind"], code="spring-news")
    query = "query Links { affiliateLinks { edges { node { code url } } } }"

    # when
    shown = (await api.data(query, token=world["northwind"].admin.token))["affiliateLinks"]["edges"][0]["node"]
    response = await api.client.get(shown["url"].removeprefix(api.settings.public_url), follow_redirects=False)

    # then: PUBLIC_URL/r/{code}, and it is the link that counts clicks
    assert shown == {"code": link["code"], "url": f"{api.settings.public_url}/r/spring-news"}
    assert response.status_code == 302
    assert (await report(api, world["northwind"]))["total"]["clicks"] == 1

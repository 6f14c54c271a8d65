"""Attribution answers (issue 16, item 11): `GET /r/{code}` hands the click's token over twice, as the
HttpOnly cookie and as the `pp_affiliate` query parameter of the landing address. A single-page
frontend on another origin passes the parameter to `createOrganization(input: {affiliateToken})`; a
frontend on the API's origin lets the server read the cookie. Either way `attribution` says whether
the new organization was attributed, and why not. Through HTTP and GraphQL on the real app."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import START
from tests.support import Partner, Person, add_member, make_partner, operator, register

TOKEN = "pp_affiliate"
CREATE_LINK = """
mutation Link($input: CreateAffiliateLinkInput!) {
  createAffiliateLink(input: $input) { link { id code landingUrl } errors { field code message } }
}"""
DISABLE_LINK = """
mutation Disable($input: UpdateAffiliateLinkInput!) {
  updateAffiliateLink(input: $input) { link { active } errors { code } }
}"""
CREATE_ORGANIZATION = """
mutation Create($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization { id name }
    attribution { attributed source reason }
    errors { field code message }
  }
}"""
SIGNUPS = """
query Signups($day: Date!) { affiliateReport(from: $day, until: $day) { total { signups } } }"""


@pytest.fixture
async def world(api) -> dict[str, Partner]:
    reviewer = await operator(api)
    northwind = await make_partner(api, reviewer)  # SERVICE_PARTNER and AFFILIATE
    fabrikam = await make_partner(api, reviewer, "admin@fabrikam.example", "Fabrikam", programs=["AFFILIATE"])
    for partner, code, landing in (
        (northwind, "spring", "/pricing?plan=pro#compare"),
        (northwind, "autumn", "/"),
        (fabrikam, "fab", "/"),
    ):
        created = (
            await api.data(CREATE_LINK, {"input": {"code": code, "landingUrl": landing}}, token=partner.admin.token)
        )["createAffiliateLink"]
        assert created["errors"] == [], created["errors"]
    return {"northwind": northwind, "fabrikam": fabrikam}


@pytest.fixture
def northwind(world) -> Partner:
    return world["northwind"]


async def visit(api, code: str) -> tuple[str, str | None]:
    """(Location, the cookie's value) of a visit of /r/{code}; the browser keeps the cookie."""
    response = await api.client.get(f"/r/{code}", follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"], response.cookies.get(TOKEN)


def token_in(location: str) -> str | None:
    """What a single-page frontend reads: the `pp_affiliate` parameter of the landing address."""
    values = parse_qs(urlsplit(location).query).get(TOKEN)
    return values[0] if values else None


async def sign_up(api, person: Person, name: str = "Contoso", **fields) -> dict:
    payload = (await api.data(CREATE_ORGANIZATION, {"input": {"name": name, **fields}}, token=person.token))[
        "createOrganization"
    ]
    assert payload["errors"] == [] and payload["organization"]["name"] == name, payload["errors"]
    return payload["attribution"]


async def signups(api, partner: Partner) -> int:
    report = await api.data(SIGNUPS, {"day": START.date().isoformat()}, token=partner.admin.token)
    return report["affiliateReport"]["total"]["signups"]


ATTRIBUTED = {"attributed": True, "source": "INPUT", "reason": None}


# --- a single-page frontend on another origin --------------------------------------------------------------


async def test_a_single_page_frontend_passes_the_token_of_the_landing_address(clock, api, northwind):
    location, cookie = await visit(api, "spring")
    api.client.cookies.clear()  # another origin: the frontend never sees the API's cookie

    landing = urlsplit(location)
    token = token_in(location)
    person = await register(api, "pat@contoso.example")

    assert (landing.scheme, landing.netloc, landing.path, landing.fragment) == (
        "http",
        "localhost:8000",
        "/pricing",
        "compare",
    )
    assert landing.query == f"plan=pro&{TOKEN}={token}" and token == cookie
    assert await sign_up(api, person, affiliateToken=token) == ATTRIBUTED
    assert await signups(api, northwind) == 1


async def test_a_changed_token_is_not_attributed_and_says_why(clock, api, northwind):
    location, _ = await visit(api, "spring")
    api.client.cookies.clear()
    token = token_in(location)
    changed = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person, affiliateToken=changed) == {
        "attributed": False,
        "source": "INPUT",
        "reason": "INVALID_TOKEN",
    }
    for n, code in enumerate(["spring", "no-such-link"]):  # a link code, known or not, is no token
        assert await sign_up(api, person, f"Contoso {n}", affiliateToken=code) == {
            "attributed": False,
            "source": "INPUT",
            "reason": "INVALID_TOKEN",
        }
    assert await signups(api, northwind) == 0


async def test_a_token_older_than_the_window_is_expired(clock, api, northwind):
    location, _ = await visit(api, "spring")
    api.client.cookies.clear()
    clock.shift(timedelta(days=api.settings.affiliate_window_days, seconds=1))
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person, affiliateToken=token_in(location)) == {
        "attributed": False,
        "source": "INPUT",
        "reason": "EXPIRED",
    }


async def test_a_link_disabled_after_the_click_is_inactive(clock, api, northwind):
    location, _ = await visit(api, "autumn")
    api.client.cookies.clear()
    links = await api.data("query { affiliateLinks { edges { node { id code } } } }", token=northwind.admin.token)
    autumn = next(e["node"]["id"] for e in links["affiliateLinks"]["edges"] if e["node"]["code"] == "autumn")
    disabled = await api.data(DISABLE_LINK, {"input": {"linkId": autumn, "active": False}}, token=northwind.admin.token)
    assert disabled["updateAffiliateLink"]["errors"] == []
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person, affiliateToken=token_in(location)) == {
        "attributed": False,
        "source": "INPUT",
        "reason": "LINK_INACTIVE",
    }


async def test_a_partner_member_is_a_self_referral(clock, api, northwind):
    location, _ = await visit(api, "spring")
    api.client.cookies.clear()
    staff = await register(api, "staff@northwind.example")
    await add_member(api, northwind.admin, northwind.id, staff.email)

    assert await sign_up(api, staff, "Side Business", affiliateToken=token_in(location)) == {
        "attributed": False,
        "source": "INPUT",
        "reason": "SELF_REFERRAL",
    }


# --- a frontend on the API's origin (server-rendered) -----------------------------------------------------


async def test_a_frontend_on_the_api_origin_is_attributed_by_the_cookie(clock, api, northwind):
    await visit(api, "spring")  # the browser keeps the HttpOnly cookie and sends it to /graphql
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person) == {"attributed": True, "source": "COOKIE", "reason": None}
    assert await signups(api, northwind) == 1


async def test_the_input_token_comes_before_the_cookie(clock, api, world):
    fabrikam_location, _ = await visit(api, "fab")
    api.client.cookies.clear()
    await visit(api, "spring")  # the cookie names Northwind's link
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person, affiliateToken=token_in(fabrikam_location)) == ATTRIBUTED
    assert await signups(api, world["northwind"]) == 0
    assert await signups(api, world["fabrikam"]) == 1


async def test_a_changed_cookie_is_not_attributed_and_says_why(clock, api, northwind):
    api.client.cookies.set(TOKEN, "forged.value.here", domain="portal.test")
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person) == {"attributed": False, "source": "COOKIE", "reason": "INVALID_TOKEN"}


async def test_without_token_or_cookie_there_is_no_attribution(clock, api, northwind):
    person = await register(api, "pat@contoso.example")

    assert await sign_up(api, person) is None
    assert await sign_up(api, person, "Contoso 2", affiliateToken="") is None


# --- unknown codes and the redirect's target ---------------------------------------------------------------


async def test_an_unknown_code_lands_on_the_default_page_with_no_token(clock, api, northwind):
    location, cookie = await visit(api, "does-not-exist")
    person = await register(api, "pat@contoso.example")

    assert (location, cookie) == (api.settings.public_url, None)
    assert await sign_up(api, person) is None


@pytest.mark.parametrize(
    "landing",
    ["/a?pp_affiliate=someone-elses-token&b=1", "/a?b=1&pp_affiliate=", "https://localhost/a?b=1"],
)
async def test_the_redirect_only_adds_its_token_to_the_saved_landing(clock, api, northwind, landing):
    created = (
        await api.data(CREATE_LINK, {"input": {"code": "saved", "landingUrl": landing}}, token=northwind.admin.token)
    )["createAffiliateLink"]
    assert created["errors"] == [], created["errors"]
    location, cookie = await visit(api, "saved")

    saved, went = urlsplit(created["link"]["landingUrl"]), urlsplit(location)
    assert (went.scheme, went.netloc, went.path) == (saved.scheme, saved.netloc, saved.path)
    assert parse_qs(went.query, keep_blank_values=True) == {"b": ["1"], TOKEN: [cookie]}

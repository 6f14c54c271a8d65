"""Signing up through the portal over HTTP (issue 17): registering, creating one's first
organization, and the affiliate landing that carries a partner's attribution into that sign-up
(`GET /r/{code}` → landing page with `?pp_affiliate=` → register → create organization)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import PASSWORD, START, Api
from tests.portal_forms import csrf_of, sign_in
from tests.support import Partner, _verify, make_partner, operator, register

CREATE_LINK = """
mutation Link($input: CreateAffiliateLinkInput!) {
  createAffiliateLink(input: $input) { link { code } errors { field code message } }
}"""
SIGNUPS = "query Signups($day: Date!) { affiliateReport(from: $day, until: $day) { total { signups } } }"
VIEWER = "{ viewer { name email memberships { role organization { name country website } } } }"


async def signups(api: Api, partner: Partner) -> int:
    report = await api.data(SIGNUPS, {"day": START.date().isoformat()}, token=partner.admin.token)
    return report["affiliateReport"]["total"]["signups"]


async def register_in_portal(api: Api, email: str = "pat@contoso.example", name: str = "Pat Contoso", **extra):
    page = await api.client.get("/register", **extra)
    fields = {"csrf": csrf_of(page.text), "name": name, "email": email, "password": PASSWORD, "next": "/"}
    return await api.client.post("/register", data=fields, **extra)


async def create_in_portal(api: Api, **fields):
    page = await api.client.get("/organization/new")
    assert page.status_code == 200, page.text
    return await api.client.post("/organization/new", data={"csrf": csrf_of(page.text), **fields})


# --- register ----------------------------------------------------------------------------------


async def test_the_sign_in_page_links_to_registration(api):
    page = await api.client.get("/sign-in")
    german = await api.client.get("/register", headers={"accept-language": "de"})

    assert 'href="/register"' in page.text
    assert "<h1>Konto anlegen</h1>" in german.text


async def test_registering_signs_the_person_in_and_mails_a_verification_link(api):
    registered = await register_in_portal(api)
    home = await api.client.get("/")
    account = await api.client.get("/account")

    assert not api.settings.registrations_by_mail  # the tests' development settings: signed in at once
    assert registered.status_code == 303 and registered.headers["location"] == "/"
    assert "Pat Contoso" in home.text and 'href="/organization/new"' in home.text  # no organization yet
    assert "not verified" in account.text
    await _verify(api, "pat@contoso.example")  # the link was mailed


async def test_registration_problems_are_shown_on_the_form(api):
    await register(api, "pat@contoso.example")

    taken = await register_in_portal(api)
    page = await api.client.get("/register")
    weak = await api.client.post(
        "/register",
        data={"csrf": csrf_of(page.text), "name": "Pat", "email": "new@contoso.example", "password": "short"},
    )

    assert taken.status_code == 400 and "exists already" in taken.text
    assert 'value="pat@contoso.example"' in taken.text  # what was typed stays
    assert weak.status_code == 400 and "too short" in weak.text
    assert "pp_session" not in api.client.cookies


async def test_registering_without_the_csrf_token_is_refused(api):
    await api.client.get("/register")

    refused = await api.client.post(
        "/register", data={"name": "Pat", "email": "pat@contoso.example", "password": PASSWORD}
    )

    assert refused.status_code == 403
    assert (await sign_in(api, "pat@contoso.example"))[0] == 400  # no account was made


async def test_where_registrations_are_confirmed_by_mail_the_person_is_told_to_look(api):
    api.settings.confirm_registrations = True
    try:
        registered = await register_in_portal(api)
    finally:
        api.settings.confirm_registrations = None

    assert registered.status_code == 200
    assert "Check your mailbox" in registered.text and "pat@contoso.example" in registered.text
    assert "pp_session" not in api.client.cookies


async def test_a_signed_in_person_opening_register_goes_home(api):
    await register(api, "pat@contoso.example")
    await sign_in(api, "pat@contoso.example")

    response = await api.client.get("/register")

    assert response.status_code == 303 and response.headers["location"] == "/"


# --- create an organization --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_anonymous_visitors_cannot_create_an_organization(api, method):
    if method == "GET":
        response = await api.client.get("/organization/new")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=%2Forganization%2Fnew"
    else:
        page = await api.client.get("/sign-in")
        response = await api.client.post("/organization/new", data={"csrf": csrf_of(page.text), "name": "Contoso"})
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


async def test_a_person_creates_an_organization_and_acts_for_it(api):
    person = await register(api, "pat@contoso.example", "Pat Contoso")
    await sign_in(api, person.email)

    empty = await create_in_portal(api, name="   ")
    created = await create_in_portal(api, name="Contoso GmbH", country="DE", website="https://contoso.example")
    page = await api.client.get(created.headers["location"])
    home = await api.client.get("/")

    assert empty.status_code == 400 and 'role="alert"' in empty.text
    assert created.status_code == 303 and created.headers["location"] == "/organization/new?notice=created"
    assert "Your organization is created." in page.text and "register-referred" not in page.text
    assert "Contoso GmbH" in home.text
    assert api.client.cookies["pp_org"]
    memberships = (await api.data(VIEWER, token=person.token))["viewer"]["memberships"]
    assert memberships == [
        {
            "role": "ADMINISTRATOR",
            "organization": {"name": "Contoso GmbH", "country": "DE", "website": "https://contoso.example"},
        }
    ]


async def test_the_create_organization_page_reads_in_german(api):
    await register(api, "pat@contoso.example")
    await sign_in(api, "pat@contoso.example")

    page = await api.client.get("/organization/new", headers={"accept-language": "de"})

    assert "<h1>Organisation anlegen</h1>" in page.text
    assert '<option value="DE" >Deutschland</option>' in page.text


# --- the affiliate landing carries attribution into the sign-up --------------------------------


@pytest.fixture
async def northwind(api) -> Partner:
    partner = await make_partner(api, await operator(api))  # SERVICE_PARTNER and AFFILIATE
    created = await api.data(CREATE_LINK, {"input": {"code": "spring", "landingUrl": "/"}}, token=partner.admin.token)
    assert created["createAffiliateLink"]["errors"] == []
    return partner


async def land(api: Api, code: str) -> str:
    """A visitor opens the affiliate link and its landing page (a portal page) in the browser; the token."""
    clicked = await api.client.get(f"/r/{code}")
    assert clicked.status_code == 302
    landing = urlsplit(clicked.headers["location"])
    token = parse_qs(landing.query)["pp_affiliate"][0]
    api.client.cookies.clear()  # the portal keeps the token itself (the API may be on another origin)
    opened = await api.client.get(f"{landing.path}?{landing.query}", follow_redirects=True)
    assert opened.status_code == 200 and "<h1>Sign in</h1>" in opened.text  # "/" asks to sign in
    return token


async def test_a_visitor_of_an_affiliate_link_signs_up_and_the_partner_is_attributed(clock, api, northwind):
    token = await land(api, "spring")
    kept = api.client.cookies.get("pp_affiliate")

    registered = await register_in_portal(api)
    created = await create_in_portal(api, name="Contoso GmbH")
    page = await api.client.get(created.headers["location"])

    assert kept == token  # kept in an HttpOnly cookie by the portal
    assert next(c for c in api.client.cookies.jar if c.name == "pp_affiliate").has_nonstandard_attr("HttpOnly")
    assert registered.status_code == 303
    assert created.headers["location"] == "/organization/new?notice=created-referred"
    assert "You came through a partner&#39;s link" in page.text and 'class="register-referred"' in page.text
    assert await signups(api, northwind) == 1


async def test_without_an_affiliate_link_nobody_is_attributed(clock, api, northwind):
    await register_in_portal(api)

    created = await create_in_portal(api, name="Contoso GmbH")

    assert created.headers["location"] == "/organization/new?notice=created"
    assert await signups(api, northwind) == 0


async def test_a_changed_token_in_the_landing_address_attributes_nobody(clock, api, northwind):
    token = await land(api, "spring")
    api.client.cookies.clear()
    await api.client.get(f"/sign-in?pp_affiliate={token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}")

    await register_in_portal(api)
    created = await create_in_portal(api, name="Contoso GmbH")

    assert created.headers["location"] == "/organization/new?notice=created"
    assert await signups(api, northwind) == 0

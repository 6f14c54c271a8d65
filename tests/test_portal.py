"""The web portal over HTTP, as a browser without JavaScript uses it: pages, forms with CSRF tokens,
the session cookie, the security headers, the languages; and the portal's own rules: its GraphQL
documents are valid against schema.graphql and every string it shows has a German translation.
Browser journeys (real Chromium) are in tests/test_portal_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from graphql import build_schema, parse, validate

from partner_portal.portal.graphql_client import load_operations
from partner_portal.portal.i18n import LANGUAGES, translations
from tests.conftest import PASSWORD
from tests.documents import INVITE_CUSTOMER, REGISTER
from tests.portal_forms import csrf_of, sign_in
from tests.support import _mailed_token as mailed_token
from tests.support import make_partner, operator, register

BEGIN_TWO_FACTOR = "mutation B($password: String!) { beginTwoFactorSetup(input: {password: $password}) { secret } }"
CONFIRM_TWO_FACTOR = "mutation C($code: String!) { confirmTwoFactorSetup(input: {code: $code}) { recoveryCodes } }"
REQUEST_PASSWORD_RESET = (
    "mutation R($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { requested } }"
)

ROOT = Path(__file__).resolve().parent.parent
PORTAL = ROOT / "portal"


async def test_an_anonymous_visitor_is_sent_to_sign_in(api):
    response = await api.client.get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in"


async def test_every_page_has_the_security_headers(api):
    for path in ("/sign-in", "/", "/static/portal.css"):
        response = await api.client.get(path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_signing_in_sets_an_http_only_session_cookie_and_shows_the_person(api):
    await register(api, "ada@partner.example", "Ada Lovelace")

    status, _ = await sign_in(api, "ada@partner.example")
    home = await api.client.get("/")

    assert status == 303
    cookie = next(c for c in api.client.cookies.jar if c.name == "pp_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert home.status_code == 200
    assert "Ada Lovelace" in home.text


async def test_a_wrong_password_shows_the_problem_on_the_form(api):
    await register(api, "ada@partner.example", "Ada Lovelace")

    status, html = await sign_in(api, "ada@partner.example", "not the password")

    assert status == 400
    assert 'role="alert"' in html
    assert "pp_session" not in api.client.cookies


async def test_a_form_without_its_csrf_token_is_refused(api):
    await register(api, "ada@partner.example", "Ada Lovelace")
    await api.client.get("/sign-in")  # the browser has its CSRF cookie

    response = await api.client.post("/sign-in", data={"email": "ada@partner.example", "password": PASSWORD})
    forged = await api.client.post(
        "/sign-in", data={"csrf": "forged", "email": "ada@partner.example", "password": PASSWORD}
    )

    assert response.status_code == forged.status_code == 403
    assert "pp_session" not in api.client.cookies


async def test_signing_out_ends_the_session_in_the_api(api):
    await register(api, "ada@partner.example", "Ada Lovelace")
    await sign_in(api, "ada@partner.example")
    token = api.client.cookies["pp_session"]
    home = await api.client.get("/")

    response = await api.client.post("/sign-out", data={"csrf": csrf_of(home.text)})

    assert response.status_code == 303
    assert "pp_session" not in api.client.cookies
    assert await api.error_code("{ viewerSessions(first: 1) { totalCount } }", token=token) == "UNAUTHENTICATED"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_sign_in_never_redirects_to_another_site(api, target):
    await register(api, "ada@partner.example", "Ada Lovelace")
    page = await api.client.get("/sign-in")

    response = await api.client.post(
        "/sign-in",
        data={"csrf": csrf_of(page.text), "email": "ada@partner.example", "password": PASSWORD, "next": target},
    )

    assert response.headers["location"] == "/"


async def test_the_language_follows_the_browser_and_the_switch(api):
    german = await api.client.get("/sign-in", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    english = await api.client.get("/sign-in", headers={"accept-language": "fr, en;q=0.8"})
    assert "<h1>Anmelden</h1>" in german.text and '<html lang="de">' in german.text
    assert "<h1>Sign in</h1>" in english.text

    await api.client.post("/language", data={"csrf": csrf_of(english.text), "language": "de", "next": "/sign-in"})
    switched = await api.client.get("/sign-in", headers={"accept-language": "en"})

    assert "<h1>Anmelden</h1>" in switched.text


def test_every_operation_of_the_portal_is_valid_against_the_schema():
    schema = build_schema((ROOT / "schema.graphql").read_text())
    operations = load_operations()

    problems = {name: [e.message for e in validate(schema, parse(text))] for name, text in operations.items()}

    assert operations
    assert {name: found for name, found in problems.items() if found} == {}


def test_each_operation_is_named_after_its_file():
    for name, text in load_operations().items():
        assert re.search(rf"^(query|mutation) {name}\b", text, re.MULTILINE), name


def portal_messages() -> set[str]:
    """Every message the portal can show: extracted by babel from its templates and Python code."""
    methods = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    found = extract_from_dir(str(PORTAL), methods, keywords={"_": None, "N_": None, "text": (2,)}, options_map={})
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_every_message_has_a_german_translation():
    messages = portal_messages()
    with (PORTAL / "locale" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        german = read_po(source)

    untranslated = {message for message in messages if not (german.get(message) and german[message].string)}
    catalog = (PORTAL / "locale/de/LC_MESSAGES/messages.po").read_text()
    catalog_ids = re.findall(r"^msgid (\".*\")$", catalog, re.MULTILINE)

    assert len(messages) > 10  # the extraction finds the templates' strings
    assert untranslated == set()
    assert sorted({i for i in catalog_ids if catalog_ids.count(i) > 1}) == []  # each message once
    assert translations("de").gettext("Sign in") == "Anmelden"  # and the portal reads the catalog
    assert LANGUAGES == ("en", "de")


async def test_a_forgotten_password_is_reset_from_the_mailed_link(api):
    await register(api, "ada@partner.example", "Ada Lovelace")
    page = await api.client.get("/password/forgot")

    asked = await api.client.post("/password/forgot", data={"csrf": csrf_of(page.text), "email": "ada@partner.example"})
    token = await mailed_token("ada@partner.example", r"/password/reset\?token=([\w-]+)")
    form = await api.client.get(f"/password/reset?token={token}")
    saved = await api.client.post(
        "/password/reset", data={"csrf": csrf_of(form.text), "token": token, "new_password": "a new long passphrase 42"}
    )
    home = await api.client.get("/")

    assert 'role="status"' in asked.text
    assert saved.status_code == 303
    assert "Ada Lovelace" in home.text
    assert (await sign_in(api, "ada@partner.example", "a new long passphrase 42"))[0] == 303


async def test_a_used_reset_link_says_so_in_german(api):
    await register(api, "ada@partner.example", "Ada Lovelace")
    await api.data(REQUEST_PASSWORD_RESET, {"input": {"email": "ada@partner.example"}})
    token = await mailed_token("ada@partner.example", r"/password/reset\?token=([\w-]+)")
    german = {"accept-language": "de"}
    form = await api.client.get(f"/password/reset?token={token}", headers=german)
    fields = {"csrf": csrf_of(form.text), "token": token, "new_password": "a new long passphrase 42"}
    await api.client.post("/password/reset", data=fields, headers=german)

    again = await api.client.post("/password/reset", data=fields, headers=german)

    assert again.status_code == 400
    assert "Dieser Link wurde bereits verwendet" in again.text


async def test_an_account_with_two_factor_sign_in_passes_the_second_step(api):
    ada = await register(api, "ada@partner.example", "Ada Lovelace")
    begun = await api.data(BEGIN_TWO_FACTOR, {"password": PASSWORD}, token=ada.token)
    secret = begun["beginTwoFactorSetup"]["secret"]
    confirmed = await api.data(CONFIRM_TWO_FACTOR, {"code": pyotp.TOTP(secret).now()}, token=ada.token)
    recovery_code = confirmed["confirmTwoFactorSetup"]["recoveryCodes"][0]

    status, step = await sign_in(api, "ada@partner.example")
    challenge = re.search(r'name="challenge" value="([^"]+)"', step).group(1)
    fields = {"csrf": csrf_of(step), "challenge": challenge, "next": "/"}
    wrong = await api.client.post("/sign-in/second-factor", data={**fields, "code": "000000"})
    right = await api.client.post("/sign-in/second-factor", data={**fields, "recovery_code": recovery_code})
    home = await api.client.get("/")

    assert status == 200 and 'autocomplete="one-time-code"' in step
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    assert right.status_code == 303
    assert "Ada Lovelace" in home.text


async def test_the_verification_link_verifies_the_address_after_a_button_press(api):
    registered = await api.data(
        REGISTER, {"input": {"email": "ada@partner.example", "password": PASSWORD, "name": "Ada Lovelace"}}
    )
    token = await mailed_token("ada@partner.example", r"/email/verify\?token=([\w-]+)")
    viewer = "{ viewer { emailVerified } }"
    session = registered["register"]["token"]

    opened = await api.client.get(f"/email/verify?token={token}")
    unverified = await api.data(viewer, token=session)
    pressed = await api.client.post("/email/verify", data={"csrf": csrf_of(opened.text), "token": token})
    again = await api.client.post("/email/verify", data={"csrf": csrf_of(opened.text), "token": token})

    assert unverified["viewer"]["emailVerified"] is False  # opening the link alone changes nothing
    assert pressed.status_code == 200 and "ada@partner.example" in pressed.text
    assert (await api.data(viewer, token=session))["viewer"]["emailVerified"] is True
    assert again.status_code == 400 and "used already" in again.text


async def test_an_invited_customer_accepts_from_the_mailed_link_and_is_signed_in(api):
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    await api.data(
        INVITE_CUSTOMER,
        {"input": {"email": "chris@contoso.example", "organizationName": "Contoso Ltd"}},
        token=partner.admin.token,
    )
    token = await mailed_token("chris@contoso.example", r"/invitations/accept\?token=([\w-]+)")

    page = await api.client.get(f"/invitations/accept?token={token}", headers={"accept-language": "de"})
    fields = {"csrf": csrf_of(page.text), "token": token, "organization_name": "Contoso GmbH", "name": "Chris"}
    short = await api.client.post("/invitations/accept", data={**fields, "password": "short"})
    accepted = await api.client.post("/invitations/accept", data={**fields, "password": "a long passphrase 42"})
    home = await api.client.get("/")
    again = await api.client.get(f"/invitations/accept?token={token}")

    assert "Northwind Partners lädt chris@contoso.example" in page.text
    assert short.status_code == 200 and 'role="alert"' in short.text
    assert accepted.status_code == 303
    assert "Contoso GmbH" in home.text
    assert "accepted already" in again.text


async def test_a_membership_link_asks_to_sign_in_first(api):
    response = await api.client.get("/memberships/accept?token=ppm_x")

    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fmemberships%2Faccept%3Ftoken%3Dppm_x"

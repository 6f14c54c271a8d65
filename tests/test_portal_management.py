"""The management session in the portal over HTTP (portal/views/management.py): partner staff with
ADMINISTER_CUSTOMERS open a session on a customer, see whose organization it is and what the grant
allows, change what it allows, are refused the rest with the reason beside the form (in English and
German), and the session ends explicitly or on its own. The world is built through the API; time is
the frozen `clock`."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from tests.conftest import PASSWORD, START, Api
from tests.management_world import EVERYTHING_BUT_LICENSES, World, build_world, grant
from tests.portal_forms import csrf_of
from tests.support import add_member, register

ORGANIZATION = """
query Organization($id: ID!) { node(id: $id) { ... on Organization { name website country language } } }"""
OPEN_SESSIONS = "{ viewerManagementSessions { id customer { id } } }"
ACTIVITY = """
query Activity($id: ID!) {
  node(id: $id) { ... on Organization { serviceProviderActivity(first: 20) { edges { node { action } } } } }
}"""


async def sign_in(api: Api, email: str) -> None:
    page = await api.client.get("/sign-in")
    response = await api.client.post(
        "/sign-in", data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303


@pytest.fixture
async def world(clock, api: Api) -> World:
    return await build_world(api)


async def start(api: Api, world: World):
    """Staff press "Start management session" (the My customers page's form, any page's CSRF token)."""
    home = await api.client.get("/")
    return await api.client.post(f"{world.page}/start", data={"csrf": csrf_of(home.text)})


def alerts(html: str) -> str:
    """The text of the page's alerts (the reasons the API gave), unescaped, as a person reads it."""
    return unescape(" ".join(re.findall(r'role="alert">(.*?)</div>', html, re.DOTALL)))


async def test_staff_manage_a_customer_within_its_grant(api, world):
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    await sign_in(api, world.staff.email)

    started = await start(api, world)
    page = await api.client.get(started.headers["location"])

    assert started.status_code == 303
    assert started.headers["location"].startswith(world.page)
    assert page.status_code == 200
    html = unescape(page.text)
    assert "You are managing Contoso Ltd for Northwind Partners" in html
    assert "The management session has started." in html
    grant_table = re.search(r'<table class="management-grant">(.*?)</table>', html, re.DOTALL).group(1)
    rows = dict(re.findall(r'<th scope="row">(.*?)</th>\s*<td><span class="[^"]+">(.*?)</span>', grant_table))
    assert rows == {
        "Change settings": "Allowed",
        "Manage members": "Allowed",
        "Order licenses": "Not allowed",
        "View billing": "Allowed",
    }
    assert "The grant has no end date." in html
    assert "chris@contoso.example" in html  # the members, which MANAGE_MEMBERS lets staff see
    assert 'action="/manage/' in html and 'name="code"' in html  # the order form stays visible

    saved = await api.client.post(
        f"{world.page}/settings",
        data={
            "csrf": csrf_of(page.text),
            "name": "Contoso Limited",
            "website": "https://contoso.example",
            "country": "gb",
            "language": "de",
        },
    )
    organization = (await api.data(ORGANIZATION, {"id": world.customer_id}, token=world.customer_admin.token))["node"]

    assert saved.status_code == 303
    assert saved.headers["location"] == f"{world.page}?notice=settings-saved"
    assert organization == {
        "name": "Contoso Limited",
        "website": "https://contoso.example",
        "country": "GB",
        "language": "de",
    }

    refused = await api.client.post(f"{world.page}/license", data={"csrf": csrf_of(page.text), "code": "ABCD-EFGH"})
    api.client.cookies.set("pp_lang", "de")
    refused_de = await api.client.post(f"{world.page}/license", data={"csrf": csrf_of(page.text), "code": "ABCD-EFGH"})
    api.client.cookies.delete("pp_lang")

    assert refused.status_code == refused_de.status_code == 400
    english = "The customer has not granted “Order licenses” to you: only the customer can change that."
    german = "Der Kunde hat Ihnen „Lizenzen bestellen“ nicht freigegeben: Nur der Kunde kann das ändern."
    assert english in alerts(refused.text)
    assert german in alerts(refused_de.text)
    assert 'value="ABCD-EFGH"' in refused.text  # what was typed stays

    session_id = (await api.data(OPEN_SESSIONS, token=world.staff.token))["viewerManagementSessions"][0]["id"]
    ended = await api.client.post(f"{world.page}/end", data={"csrf": csrf_of(page.text), "session": session_id})
    after = await api.client.get(world.page)
    customers = await api.client.get(ended.headers["location"])
    activity = (await api.data(ACTIVITY, {"id": world.customer_id}, token=world.customer_admin.token))["node"]

    assert ended.status_code == 303
    assert ended.headers["location"] == "/partner/customers?notice=management-ended"
    assert (await api.data(OPEN_SESSIONS, token=world.staff.token))["viewerManagementSessions"] == []
    assert "This session has ended" in after.text
    assert "The management session has ended." in customers.text
    actions = [edge["node"]["action"] for edge in activity["serviceProviderActivity"]["edges"]]
    assert {"management_session.start", "organization.update", "management_session.end"} <= set(actions)


async def test_what_the_grant_lacks_is_shown_before_it_is_tried(api, world):
    await sign_in(api, world.staff.email)  # the customer granted nothing yet

    page = await api.client.get((await start(api, world)).headers["location"])
    refused = await api.client.post(
        f"{world.page}/settings",
        data={"csrf": csrf_of(page.text), "name": "Renamed", "website": "", "country": "", "language": "en"},
    )
    organization = (await api.data(ORGANIZATION, {"id": world.customer_id}, token=world.customer_admin.token))["node"]

    html = unescape(page.text)
    assert html.count("Not allowed") == 4
    assert 'id="settings-name"' in html and 'id="member-email"' in html and 'id="license-code"' in html
    assert "The customer has not granted “Change settings” to you" in html
    assert "the customer's members are not shown to you" in html
    assert refused.status_code == 400
    assert "The customer has not granted “Change settings” to you" in alerts(refused.text)
    assert organization["name"] == "Contoso Ltd"


async def test_staff_invite_a_member_in_the_session(api, world):
    await grant(api, world, ["MANAGE_MEMBERS"])
    await sign_in(api, world.staff.email)
    page = await api.client.get((await start(api, world)).headers["location"])

    invited_member = await api.client.post(
        f"{world.page}/members", data={"csrf": csrf_of(page.text), "email": "mia@contoso.example"}
    )
    self_invited = await api.client.post(
        f"{world.page}/members", data={"csrf": csrf_of(page.text), "email": world.staff.email}
    )

    assert invited_member.status_code == 303
    assert invited_member.headers["location"] == f"{world.page}?notice=member-invited"
    assert self_invited.status_code == 400
    assert alerts(self_invited.text)  # staff cannot invite themselves: the API says why


async def test_staff_without_administer_customers_are_refused_at_start(api, world):
    clerk = await register(api, "pat@northwind.example", "Pat Plain")
    await add_member(api, world.partner.admin, world.partner.id, clerk.email)
    await sign_in(api, clerk.email)

    refused = await start(api, world)
    page = await api.client.get(world.page)

    assert refused.status_code == 403
    assert "The management session could not start" in refused.text
    assert "You need the partner permission “Administer customers”" in alerts(refused.text)
    assert (await api.data(OPEN_SESSIONS, token=clerk.token))["viewerManagementSessions"] == []
    assert page.status_code == 404  # the customer is not theirs to see either
    assert "You are managing" not in page.text
    assert 'action="/manage/' not in page.text


async def test_a_session_that_idled_out_is_shown_as_ended(clock, api, world):
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    await sign_in(api, world.staff.email)
    page = await api.client.get((await start(api, world)).headers["location"])
    assert "End session" in page.text

    clock.shift(timedelta(minutes=api.settings.management_session_idle.total_seconds() / 60 + 1))
    idle = await api.client.get(world.page)
    late = await api.client.post(
        f"{world.page}/settings",
        data={"csrf": csrf_of(page.text), "name": "Too late", "website": "", "country": "", "language": "en"},
    )
    organization = (await api.data(ORGANIZATION, {"id": world.customer_id}, token=world.customer_admin.token))["node"]

    assert idle.status_code == 200
    assert "This session has ended" in idle.text
    assert "End session" not in idle.text and 'id="settings-name"' not in idle.text
    assert f'action="{world.page}/start"' in idle.text  # staff may start a new one
    assert late.status_code == 400
    assert "This session has ended" in late.text and alerts(late.text).strip()
    assert organization["name"] == "Contoso Ltd"


async def test_a_session_still_in_use_stays_open(clock, api, world):
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    await sign_in(api, world.staff.email)
    page = await api.client.get((await start(api, world)).headers["location"])
    idle = api.settings.management_session_idle

    clock.shift(idle - timedelta(minutes=1))
    await api.client.post(
        f"{world.page}/settings",
        data={"csrf": csrf_of(page.text), "name": "Still here", "website": "", "country": "", "language": "en"},
    )
    clock.shift(idle - timedelta(minutes=1))
    later = await api.client.get(world.page)

    assert "This session has ended" not in later.text
    assert 'id="settings-name"' in later.text and 'value="Still here"' in later.text


async def test_the_session_forms_need_their_csrf_token(api, world):
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    await sign_in(api, world.staff.email)
    await api.client.get("/")  # the browser has its CSRF cookie

    forged_start = await api.client.post(f"{world.page}/start", data={"csrf": "forged"})
    missing = await api.client.post(f"{world.page}/start")
    page = await api.client.get((await start(api, world)).headers["location"])
    forged_change = await api.client.post(
        f"{world.page}/settings", data={"csrf": "forged", "name": "Forged", "language": "en"}
    )
    organization = (await api.data(ORGANIZATION, {"id": world.customer_id}, token=world.customer_admin.token))["node"]

    assert forged_start.status_code == missing.status_code == forged_change.status_code == 403
    assert "This form has expired" in forged_start.text
    assert "End session" in page.text
    assert organization["name"] == "Contoso Ltd"


async def test_an_anonymous_visitor_is_sent_to_sign_in(api, world):
    response = await api.client.get(world.page)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")


async def test_the_page_says_when_the_grant_ends(api, world):
    await grant(api, world, ["MANAGE_SETTINGS"], expires_at=START + timedelta(days=7))
    await sign_in(api, world.staff.email)

    page = await api.client.get((await start(api, world)).headers["location"])
    api.client.cookies.set("pp_lang", "de")
    german = await api.client.get(world.page)

    assert "The grant ends on Mar 9, 2026, 9:00:00" in unescape(page.text)
    assert "Die Freigabe endet am 09.03.2026, 09:00:00 UTC." in unescape(german.text)


async def test_the_customer_itself_has_no_session_page_on_its_own_organization(api, world):
    await sign_in(api, world.customer_admin.email)

    response = await api.client.get(world.page)

    assert response.status_code == 403
    assert "This is your own organization" in response.text
    assert "You are managing" not in response.text and "/start" not in response.text


async def test_an_unknown_customer_is_not_found(api, world):
    await sign_in(api, world.staff.email)

    response = await api.client.get("/manage/bm90LWFuLWlk")
    overlong = await api.client.get("/manage/" + "T" * 300)

    assert response.status_code == overlong.status_code == 404
    assert "This customer is not yours to manage" in response.text


async def test_the_session_page_in_german(api, world):
    await grant(api, world, EVERYTHING_BUT_LICENSES)
    await sign_in(api, world.staff.email)
    api.client.cookies.set("pp_lang", "de")

    page = await api.client.get((await start(api, world)).headers["location"])

    html = unescape(page.text)
    assert '<html lang="de">' in html
    assert "Sie verwalten Contoso Ltd für Northwind Partners" in html
    assert "Nicht erlaubt" in html and "Einstellungen speichern" in html

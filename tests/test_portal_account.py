"""The account pages of the portal over HTTP (issue 17): profile (name, address, verification),
password, two-factor sign-in with its QR code, the open sessions, the data export and the deletion
of the account. Each page for a signed-in person and refused to anonymous visitors; the API is asked
through GraphQL to prove what the forms did."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pyotp
import pytest

from tests.conftest import PASSWORD, Api
from tests.documents import LOGIN, REGISTER
from tests.portal_forms import csrf_of, sign_in
from tests.support import _mailed_token as mailed_token
from tests.support import create_organization, register

NEW_PASSWORD = "another-Sturdy-passphrase-43"
SESSIONS = "{ viewerSessions(first: 20) { totalCount edges { node { id current } } } }"
VIEWER = "{ viewer { name email emailVerified twoFactorEnabled recoveryCodesLeft } }"
PAGES = ["/account", "/account/password", "/account/two-factor", "/account/sessions", "/account/data"]


async def signed_in(api: Api, email: str = "ada@partner.example", name: str = "Ada Lovelace") -> str:
    """A registered (verified) person signed in through the portal; their session token."""
    await register(api, email, name)
    status, _ = await sign_in(api, email)
    assert status == 303
    return api.client.cookies["pp_session"]


async def post_form(api: Api, page: str, action: str, fields: dict, **kwargs):
    """Open `page`, then send the form of `action` with the page's CSRF token."""
    opened = await api.client.get(page, **kwargs)
    assert opened.status_code == 200, opened.text
    return await api.client.post(action, data={"csrf": csrf_of(opened.text), **fields}, **kwargs)


async def viewer(api: Api, token: str) -> dict:
    return (await api.data(VIEWER, token=token))["viewer"]


# --- who may open the account pages ------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/account/data/export"])
async def test_anonymous_visitors_are_sent_to_sign_in_and_back(api, path):
    response = await api.client.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/sign-in?next={quote(path, safe='')}"


@pytest.mark.parametrize("path", PAGES)
async def test_every_account_page_shows_the_sub_navigation_marking_itself(api, path):
    await signed_in(api)

    page = await api.client.get(path)

    assert page.status_code == 200
    assert '<a class="who" href="/account">Ada Lovelace</a>' in page.text  # the header's name links here
    assert page.text.count("<h1>") == 1
    navigation = re.search(r'<nav class="account-nav".*?</nav>', page.text, re.DOTALL).group(0)
    assert re.findall(r'href="(/account[^"]*)"', navigation) == PAGES
    assert f'<a href="{path}" aria-current="page">' in navigation


async def test_an_expired_session_is_sent_to_sign_in(api):
    token = await signed_in(api)
    await api.data("mutation { logout { sessionsEnded } }", token=token)

    response = await api.client.get("/account/sessions")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")


# --- profile ---------------------------------------------------------------------------------------


async def test_the_profile_shows_the_address_and_changes_the_name(api):
    token = await signed_in(api)

    page = await api.client.get("/account")
    saved = await post_form(api, "/account", "/account/name", {"name": "  Ada   King "})
    after = await api.client.get(saved.headers["location"])
    empty = await post_form(api, "/account", "/account/name", {"name": "   "})

    assert "ada@partner.example" in page.text and "verified" in page.text and "Send the link again" not in page.text
    assert saved.status_code == 303 and saved.headers["location"] == "/account?notice=name-saved"
    assert "Your name is saved." in after.text and ">Ada King</a>" in after.text
    assert empty.status_code == 400 and 'role="alert"' in empty.text
    assert (await viewer(api, token))["name"] == "Ada King"


async def test_a_form_without_its_csrf_token_is_refused(api):
    token = await signed_in(api)
    await api.client.get("/account")

    forged = await api.client.post("/account/name", data={"csrf": "forged", "name": "Mallory"})
    missing = await api.client.post("/account/data/delete", data={"confirmation": "DELETE", "password": PASSWORD})

    assert forged.status_code == missing.status_code == 403
    assert (await viewer(api, token))["name"] == "Ada Lovelace"


async def test_an_unverified_address_can_have_its_link_sent_again(api):
    await api.data(REGISTER, {"input": {"email": "ada@partner.example", "password": PASSWORD, "name": "Ada"}})
    first = await mailed_token("ada@partner.example", r"/email/verify\?token=([\w-]+)")
    await sign_in(api, "ada@partner.example")

    page = await api.client.get("/account")
    sent = await post_form(api, "/account", "/account/email/resend", {})
    second = await mailed_token("ada@partner.example", r"/email/verify\?token=([\w-]+)")

    assert "not verified" in page.text and "Send the link again" in page.text
    assert sent.status_code == 303 and sent.headers["location"] == "/account?notice=link-sent"
    assert second != first


async def test_changing_the_address_asks_for_the_password_and_mails_the_new_address(api):
    token = await signed_in(api)
    fields = {"new_email": "ada@lovelace.example"}

    wrong = await post_form(api, "/account", "/account/email", {**fields, "password": "not-the-Password-42"})
    right = await post_form(api, "/account", "/account/email", {**fields, "password": PASSWORD})

    assert wrong.status_code == 400 and 'role="alert"' in wrong.text and 'value="ada@lovelace.example"' in wrong.text
    assert right.status_code == 303 and right.headers["location"] == "/account?notice=email-pending"
    assert await mailed_token("ada@lovelace.example", r"/email/verify\?token=([\w-]+)")
    assert (await viewer(api, token))["email"] == "ada@partner.example"  # until the link is used


# --- password ----------------------------------------------------------------------------------


async def test_the_password_is_changed_with_the_current_one(api):
    await signed_in(api)

    wrong = await post_form(
        api,
        "/account/password",
        "/account/password",
        {"current_password": "wrong-one-42", "new_password": NEW_PASSWORD},
    )
    changed = await post_form(
        api, "/account/password", "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    still_here = await api.client.get("/account/password?notice=password-changed")

    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    assert changed.status_code == 303
    assert still_here.status_code == 200 and "Your password is changed." in still_here.text
    assert (await sign_in(api, "ada@partner.example", NEW_PASSWORD))[0] == 303


# --- two-factor sign-in ------------------------------------------------------------------------


async def test_two_factor_sign_in_is_set_up_with_a_qr_code_and_turned_off_again(api, clock):
    token = await signed_in(api)

    begun = await post_form(api, "/account/two-factor", "/account/two-factor/begin", {"password": PASSWORD})
    secret = re.search(r'<code id="account-secret" class="account-secret">(\w+)</code>', begun.text).group(1)
    totp = pyotp.TOTP(secret)
    setup = {
        "secret": secret,
        "uri": re.search(r'name="uri" value="([^"]+)"', begun.text).group(1).replace("&amp;", "&"),
    }
    wrong = await api.client.post(
        "/account/two-factor/confirm", data={"csrf": csrf_of(begun.text), **setup, "code": "000000"}
    )
    confirmed = await api.client.post(
        "/account/two-factor/confirm", data={"csrf": csrf_of(begun.text), **setup, "code": totp.now()}
    )
    codes = re.findall(r"<li><code>([\w-]+)</code></li>", confirmed.text)
    status = await api.client.get("/account/two-factor")

    assert begun.status_code == 200
    assert '<svg role="img" class="account-qr"' in begun.text and "<title>" in begun.text  # made on the server
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text and "<svg" in wrong.text  # the QR code again
    assert confirmed.status_code == 200 and len(codes) == 10
    assert "Recovery codes left: 10" in status.text
    assert (await viewer(api, token))["twoFactorEnabled"] is True

    clock.shift(timedelta(seconds=30))  # a code works once per time step
    renewed = await post_form(api, "/account/two-factor", "/account/two-factor/recovery-codes", {"code": totp.now()})
    new_codes = re.findall(r"<li><code>([\w-]+)</code></li>", renewed.text)
    assert renewed.status_code == 200 and len(new_codes) == 10 and set(new_codes).isdisjoint(codes)

    old_code = await post_form(
        api, "/account/two-factor", "/account/two-factor/disable", {"password": PASSWORD, "code": codes[0]}
    )
    disabled = await post_form(
        api, "/account/two-factor", "/account/two-factor/disable", {"password": PASSWORD, "code": new_codes[0]}
    )
    assert old_code.status_code == 400
    assert disabled.status_code == 303 and disabled.headers["location"] == "/account/two-factor?notice=two-factor-off"
    assert (await viewer(api, token))["twoFactorEnabled"] is False


async def test_a_wrong_password_does_not_begin_two_factor_sign_in(api):
    await signed_in(api)

    refused = await post_form(api, "/account/two-factor", "/account/two-factor/begin", {"password": "wrong-one-42"})

    assert refused.status_code == 400 and 'role="alert"' in refused.text and "<svg" not in refused.text


async def test_the_two_factor_page_reads_in_german(api):
    await signed_in(api)

    page = await api.client.get("/account/two-factor", headers={"accept-language": "de"})

    assert page.status_code == 200
    assert "<h1>Zwei-Faktor-Anmeldung</h1>" in page.text
    assert ">Sitzungen</a>" in page.text and ">Meine Daten</a>" in page.text


# --- sessions ----------------------------------------------------------------------------------


async def login(api: Api, email: str = "ada@partner.example", user_agent: str = "curl/8.5.0") -> str:
    data = await api.data(LOGIN, {"input": {"email": email, "password": PASSWORD}}, headers={"user-agent": user_agent})
    return data["login"]["token"]


async def test_the_sessions_are_listed_and_another_one_is_signed_out(api):
    token = await signed_in(api)
    other = await login(api)

    page = await api.client.get("/account/sessions")
    rows = re.findall(r'name="session" value="([^"]+)"', page.text)
    listed = (await api.data(SESSIONS, token=token))["viewerSessions"]["edges"]
    other_id = next(edge["node"]["id"] for edge in listed if not edge["node"]["current"])
    ended = await api.client.post("/account/sessions/end", data={"csrf": csrf_of(page.text), "session": other_id})

    assert len(rows) == 3  # the test's registration, the portal's sign-in, curl's
    assert "this device" in page.text and "Sign out here" in page.text and "curl" in page.text
    assert ended.status_code == 303 and ended.headers["location"] == "/account/sessions?notice=session-ended"
    assert await api.error_code(SESSIONS, token=other) == "UNAUTHENTICATED"
    assert (await api.data(SESSIONS, token=token))["viewerSessions"]["totalCount"] == 2


async def test_signing_out_everywhere_else_keeps_this_session(api):
    token = await signed_in(api)
    others = [await login(api), await login(api, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")]

    ended = await post_form(api, "/account/sessions", "/account/sessions/end-others", {})

    assert ended.status_code == 303 and ended.headers["location"] == "/account/sessions?notice=others-ended"
    assert (await api.data(SESSIONS, token=token))["viewerSessions"]["totalCount"] == 1
    for other in others:
        assert await api.error_code(SESSIONS, token=other) == "UNAUTHENTICATED"


async def test_signing_out_this_session_removes_the_cookie(api):
    token = await signed_in(api)
    page = await api.client.get("/account/sessions")
    listed = (await api.data(SESSIONS, token=token))["viewerSessions"]["edges"]
    current = next(edge["node"]["id"] for edge in listed if edge["node"]["current"])

    ended = await api.client.post("/account/sessions/end", data={"csrf": csrf_of(page.text), "session": current})

    assert ended.status_code == 303 and ended.headers["location"] == "/sign-in"
    assert "pp_session" not in api.client.cookies
    assert await api.error_code(SESSIONS, token=token) == "UNAUTHENTICATED"


async def test_another_persons_session_cannot_be_ended(api):
    await signed_in(api)
    grace = await register(api, "grace@partner.example", "Grace Hopper")
    graces = (await api.data(SESSIONS, token=grace.token))["viewerSessions"]["edges"][0]["node"]["id"]

    refused = await post_form(api, "/account/sessions", "/account/sessions/end", {"session": graces})

    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert (await api.data(SESSIONS, token=grace.token))["viewerSessions"]["totalCount"] == 1


# --- my data -----------------------------------------------------------------------------------


async def test_the_data_export_is_a_json_download(api):
    await signed_in(api)

    page = await api.client.get("/account/data")
    export = await api.client.get("/account/data/export")

    assert 'href="/account/data/export" download' in page.text
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/json")
    assert export.headers["content-disposition"] == 'attachment; filename="partner-portal-my-data.json"'
    assert "ada@partner.example" in json.dumps(export.json())


async def test_the_account_is_deleted_with_the_word_and_the_password(api):
    token = await signed_in(api)

    page = await api.client.get("/account/data")
    fields = {"csrf": csrf_of(page.text), "password": PASSWORD}
    unconfirmed = await api.client.post("/account/data/delete", data={**fields, "confirmation": "delete it"})
    wrong_password = await api.client.post(
        "/account/data/delete", data={**fields, "confirmation": "DELETE", "password": "wrong-one-42"}
    )
    deleted = await api.client.post("/account/data/delete", data={**fields, "confirmation": "DELETE"})
    sign_in_page = await api.client.get(deleted.headers["location"])

    assert "data-confirm=" in page.text
    assert unconfirmed.status_code == 400 and "Type DELETE" in unconfirmed.text
    assert wrong_password.status_code == 400 and 'role="alert"' in wrong_password.text
    assert deleted.status_code == 303 and deleted.headers["location"] == "/sign-in?notice=account-deleted"
    assert "pp_session" not in api.client.cookies
    assert "Your account is deleted." in sign_in_page.text
    assert await api.error_code(SESSIONS, token=token) == "UNAUTHENTICATED"
    assert (await sign_in(api, "ada@partner.example"))[0] == 400


async def test_the_only_administrator_of_a_shared_organization_is_told_why_not(api):
    from tests.support import add_member

    await signed_in(api)
    ada = await register(api, "ada2@partner.example", "Ada Two")
    organization = await create_organization(api, ada)
    await add_member(api, ada, organization["id"], "ada@partner.example")
    api.client.cookies.clear()
    await sign_in(api, "ada2@partner.example")

    refused = await post_form(
        api, "/account/data", "/account/data/delete", {"confirmation": "DELETE", "password": PASSWORD}
    )

    assert refused.status_code == 400 and "only administrator" in refused.text

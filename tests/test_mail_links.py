"""Every link in every mail is `PUBLIC_URL` + a documented portal page (issue 16, item 12).

The mails with a link are caused through the API, one after another, and read from the outbox:
each address in their text and HTML must be `PUBLIC_URL` followed by a `PortalPage` path, with
exactly the parameters docs/mail-links.md lists for it. A template that links somewhere but is not
caused here fails the test, and so does a page missing from the docs (or a documented one that is
no `PortalPage`)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp

from partner_portal.integrations.portal_links import PortalPage
from partner_portal.models.outbox import OutboxMessage
from partner_portal.resolvers.mail import TEMPLATE_DIR, TEMPLATES
from tests.conftest import PASSWORD, Api, start_api, test_settings
from tests.customer_invitations import invited
from tests.documents import LOGIN, REGISTER
from tests.support import Person, invite_member, make_partner, operator, register

PUBLIC_URL = "https://partners.vendor.test/portal/"
DOCS = Path(__file__).parent.parent / "docs" / "mail-links.md"
REQUEST_PASSWORD_RESET = """
mutation Reset($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { errors { code } } }"""
CHANGE_EMAIL = """
mutation Change($input: ChangeEmailInput!) { changeEmail(input: $input) { errors { code } } }"""
VERIFY_EMAIL = """
mutation Verify($input: VerifyEmailInput!) { verifyEmail(input: $input) { errors { code } } }"""
BEGIN_TWO_FACTOR = """
mutation Begin($input: BeginTwoFactorSetupInput!) { beginTwoFactorSetup(input: $input) { secret errors { code } } }"""
CONFIRM_TWO_FACTOR = """
mutation Confirm($input: ConfirmTwoFactorSetupInput!) { confirmTwoFactorSetup(input: $input) { errors { code } } }"""
RESET_TWO_FACTOR = """
mutation Reset($input: ResetTwoFactorInput!) { resetTwoFactor(input: $input) { errors { code } } }"""
ADDRESS = re.compile(r"""(?:[a-z][a-z0-9+.-]*:)?//[^\s"'<>]+|href="([^"]*)\"""", re.IGNORECASE)


def from_address(api: Api, address: str) -> Api:
    """Another client of the same app, connecting from `address`."""
    transport = httpx.ASGITransport(app=api.client._transport.app, client=(address, 40000))  # noqa: SLF001
    return Api(httpx.AsyncClient(transport=transport, base_url="http://portal.test"), api.settings)


async def changed(api: Api, person: Person | None, document: str, fields: dict) -> dict:
    """The payload of a mutation that must succeed, as `person` (None: signed out)."""
    data = await api.data(document, {"input": fields}, token=person.token if person else None)
    payload = next(iter(data.values()))
    assert payload["errors"] == [], payload["errors"]
    return payload


async def mails_to(address: str | None) -> list[dict]:
    """The queued mails (to `address`, or all), oldest first."""
    payloads = await OutboxMessage.all().order_by("id").values_list("payload", flat=True)
    return [mail for mail in payloads if "template" in mail and address in (None, mail["to"])]


def documented_pages() -> dict[str, set[str]]:
    """path → its parameters, from the table of docs/mail-links.md."""
    pages: dict[str, set[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`/"):
            pages[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    return pages


def linking_templates() -> set[str]:
    """The templates whose text shows a `link`."""
    return {name for name in TEMPLATES if "{{ link" in (TEMPLATE_DIR / "en" / f"{name}.txt").read_text()}


def addresses(mail: dict) -> list[str]:
    """Every address in a mail's text and HTML: bare ones and every `href`."""
    found = []
    for body in (mail["text"], html.unescape(mail["html"])):
        for match in ADDRESS.finditer(body):
            found.append(match.group(1) if match.group(1) is not None else match.group(0))
    return found


def test_every_portal_page_is_documented_with_its_parameters():
    assert set(documented_pages()) == {page.value for page in PortalPage}


def test_templates_link_only_through_the_link_they_are_given():
    for path in TEMPLATE_DIR.rglob("*"):
        if path.suffix in (".txt", ".html", ".subject"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"https?:|www\.|mailto:", text), path
            assert set(re.findall(r'href="([^"]*)"', text)) <= {"{{ link }}"}, path


async def test_every_link_in_every_mail_is_a_documented_portal_page(database_url, clock):
    settings = test_settings(
        database_url, public_url=PUBLIC_URL, confirm_registrations=True, login_account_max_failures=3
    )
    async for api in start_api(settings):
        reviewer = await operator(api)  # registration_confirm
        again = await api.data(REGISTER, {"input": {"email": reviewer.email, "password": PASSWORD, "name": "Olga"}})
        assert again["register"]["errors"] == []  # registration_exists
        northwind = await make_partner(api, reviewer)
        await invited(api, northwind.admin, "chris@contoso.example")  # invitation
        await invite_member(api, northwind.admin, northwind.id, "sam@northwind.example")  # membership_invitation
        person = await register(api, "ann@example.com")
        for n in range(settings.login_account_max_failures):  # account_locked
            wrong = {"input": {"email": person.email, "password": "wrong-password-9"}}
            await from_address(api, f"192.0.2.{n}").data(LOGIN, wrong)
        reset = await api.data(REQUEST_PASSWORD_RESET, {"input": {"email": person.email}})
        assert reset["requestPasswordReset"]["errors"] == []  # password_reset
        bo = await register(api, "bo@example.com")
        await changed(api, bo, CHANGE_EMAIL, {"newEmail": "bo@new.example", "password": PASSWORD})
        token = re.search(r"/email/verify\?token=([\w-]+)", (await mails_to("bo@new.example"))[-1]["text"])
        await changed(api, None, VERIFY_EMAIL, {"token": token.group(1)})  # email_verification, email_changed
        secret = (await changed(api, bo, BEGIN_TWO_FACTOR, {"password": PASSWORD}))["secret"]
        await changed(api, bo, CONFIRM_TWO_FACTOR, {"code": pyotp.TOTP(secret).now()})  # two_factor_changed
        await changed(api, reviewer, RESET_TWO_FACTOR, {"userId": bo.user_id})  # two_factor_reset

        mails = await mails_to(None)
        pages = documented_pages()
        assert linking_templates() <= {mail["template"] for mail in mails}
        for mail in mails:
            links = addresses(mail)
            assert bool(links) == (mail["template"] in linking_templates()), mail["template"]
            for link in links:
                parts = urlsplit(link)
                path = "/" + link.removeprefix(PUBLIC_URL).partition("?")[0]
                assert link.startswith(PUBLIC_URL) and path in pages, (mail["template"], link)
                assert set(parse_qs(parts.query)) == pages[path], (mail["template"], link)

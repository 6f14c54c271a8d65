"""Every page of the portal in real Chromium, in English and German, signed in as the person who may see
it, in one world built through the API (tests/portal_world.py):

- axe-core (npm, pinned in tests/accessibility/package.json; `npm ci` there) finds no WCAG 2 A/AA
  violation;
- with the portal's normal Content-Security-Policy, no page loads anything from another origin and none
  has a console or policy error.

The pages are enumerated from the portal's routes, so a new page is walked without a change here; a page
with a path parameter gets a real id of the world (a new parameter name fails until it is added to
`PARAMETERS`). Pages mails link to are opened with a real token where the world has one, else empty."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from playwright.async_api import Error as PlaywrightError

from partner_portal.portal.views import ROUTES
from tests.browser import SLOW, Watched, skip_without_chromium
from tests.portal_world import AXE, Site, World, axe_violations, module_database, readable, signed_in, site_of
from tests.support import Person

pytestmark = [SLOW, pytest.mark.timeout(600)]
skip_without_chromium()

LANGUAGES = {"en": "en-US", "de": "de-DE"}
PHONE_LANGUAGE = {"de": 390}  # the walk under the normal policy shows German at a phone's width
# How far the page is wider than the window, and the deepest elements that stick out (null: it fits).
OVERFLOW = """() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const out = (element) => element.getBoundingClientRect().right > width + 1;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\\s+/).join(".") : "");
  const scrolled = (e) => { // inside a box that scrolls (a wide table's), unless positioned out of it
    if (["absolute", "fixed"].includes(getComputedStyle(e).position)) return false;
    for (let box = e.parentElement; box; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== "visible") return true;
    }
    return false;
  };
  const deepest = [...document.querySelectorAll("body *")].filter(
    (e) => out(e) && !scrolled(e) && ![...e.children].some(out));
  const right = (e) => Math.round(e.getBoundingClientRect().right);
  const words = (e) => (e.textContent || "").trim().slice(0, 30);
  return `${document.documentElement.scrollWidth} px wide: `
    + deepest.slice(0, 6).map((e) => `${name(e)} (to ${right(e)} px) "${words(e)}"`).join("; ");
}"""
# Who opens a page (by path; the first matching prefix wins): None is an anonymous visitor.
ANONYMOUS_PAGES = (
    "/sign-in",
    "/password/",
    "/register",
    "/email/verify",
    "/unlock",
    "/invitations/accept",
    "/partners",
    "/r/",
)
CUSTOMER_PAGES = ("/organization", "/apply")


def visitor(world: World, path: str) -> Person | None:
    if any(path == prefix or path.startswith(prefix) for prefix in ANONYMOUS_PAGES):
        return None
    if any(path == prefix or path.startswith(prefix + "/") for prefix in CUSTOMER_PAGES):
        return world.customer
    if path.startswith("/manage/"):
        return world.staff  # the one in the management session
    return world.partner.admin  # the partner's pages, the account, the start page


# A real value for each path parameter the portal's routes use.
PARAMETERS: dict[str, Callable[[World], str]] = {
    "customerId": lambda world: world.customer_id,
    "customer_id": lambda world: world.customer_id,
    "organizationId": lambda world: world.customer_id,
    "organization_id": lambda world: world.customer_id,
    "partnerId": lambda world: world.partner.id,
    "partner_id": lambda world: world.partner.id,
    "code": lambda world: world.partner.code,  # a partner's code (the directory, choosing a provider)
    "partner_code": lambda world: world.partner.code,
    "affiliate_code": lambda world: world.affiliate_code,
}
# GET routes that only redirect to another page of the walk (nothing of their own to check).
REDIRECTS = {
    "/manage/{customer_id}/{form:str}": "a session form's address opened as a page: the session's page",
}
# A mailed link's real token where the world has one (the others are opened empty: the page's button).
QUERIES: dict[str, Callable[[World], str]] = {
    "/invitations/accept": lambda world: f"?token={world.invitation_token}",
}


@dataclass(frozen=True)
class Visit:
    path: str  # as in ROUTES
    url: str  # with the world's ids and tokens


def visits(world: World) -> list[Visit]:
    """Every GET page of the portal, once."""
    paths = dict.fromkeys(path for path, _, methods in ROUTES if "GET" in methods)
    found = []
    for path in paths:
        if path in REDIRECTS:
            continue
        url = path
        for name in re.findall(r"\{(\w+)(?::\w+)?\}", path):
            assert name in PARAMETERS, f"{path}: add a real value for the path parameter {name!r} to PARAMETERS"
            url = re.sub(r"\{" + name + r"(?::\w+)?\}", PARAMETERS[name](world), url)
        found.append(Visit(path, url + QUERIES.get(path, lambda _: "")(world)))
    return found


@pytest.fixture(scope="module")
async def site(template_database, tmp_path_factory) -> AsyncIterator[Site]:
    database_url = module_database(template_database, tmp_path_factory.mktemp("portal-walk"))
    async with site_of(database_url, filled=True) as running:
        yield running


def need_axe() -> None:
    """axe-core comes from npm: without it the axe tests are skipped with how to get it, but fail under CI."""
    if not AXE.exists():
        message = "axe-core is missing: `(cd tests/accessibility && npm ci)` installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_axe_core_is_installed():
    need_axe()


class Tabs:
    """One tab per person (and language), reused from page to page: a new tab per page costs more than the
    page. Each tab is watched for requests to other origins and console errors."""

    def __init__(self, site: Site, *, bypass_csp: bool = False, widths: dict[str, int] | None = None) -> None:
        self.site = site
        self.bypass_csp = bypass_csp
        self.widths = widths or {}
        self.contexts: list = []
        self.tabs: dict[tuple[str, str], Watched] = {}

    async def of(self, person: Person | None, language: str) -> Watched:
        key = (person.email if person else "", language)
        if key not in self.tabs:
            context = await signed_in(
                self.site.browser,
                self.site.server.url,
                person,
                locale=LANGUAGES[language],
                width=self.widths.get(language, 1280),
                bypass_csp=self.bypass_csp,
            )
            self.contexts.append(context)
            self.tabs[key] = Watched(await context.new_page(), self.site.server.url)
        watched = self.tabs[key]
        watched.foreign.clear()
        watched.console_errors.clear()
        return watched

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_page_has_no_accessibility_violation(site, language):
    """axe-core is injected by the test from a file: `add_script_tag(path=…)` inlines it, which the portal's
    Content-Security-Policy (no inline script) rightly blocks, so these tabs bypass the policy. The portal
    never serves axe; the walk under the normal policy is the next test."""
    need_axe()
    failures = []
    tabs = Tabs(site, bypass_csp=True)
    try:
        for visit in visits(site.world):
            person = visitor(site.world, visit.path)
            page = (await tabs.of(person, language)).page
            try:
                problem = await _open(page, site.server.url, visit)
            except Download:
                continue
            if problem:
                failures.append(f"{visit.url} ({language}): {problem}")
                continue
            violations = await axe_violations(page)
            if violations:
                who = person.email if person else "a visitor"
                failures.append(f"{visit.url} ({language}), as {who}:\n{readable(violations)}")
    finally:
        await tabs.close()
    assert not failures, "accessibility violations (axe-core, WCAG 2 A/AA):\n" + "\n".join(failures)


async def test_the_check_finds_a_violation_when_there_is_one(site):
    """The walk's check is alive: an image without a text alternative and an unlabelled field are found."""
    need_axe()
    tabs = Tabs(site, bypass_csp=True)
    try:
        page = (await tabs.of(None, "en")).page
        await page.goto(f"{site.server.url}/sign-in")
        await page.evaluate(
            """() => document.querySelector("main").insertAdjacentHTML(
                "beforeend", '<img src="/static/favicon.svg"><input type="text" name="unlabelled">')"""
        )
        found = {violation["id"] for violation in await axe_violations(page)}
    finally:
        await tabs.close()
    assert {"image-alt", "label"} <= found, found


async def test_no_page_loads_anything_from_another_origin_or_breaks_the_policy(site):
    """The same walk with the portal's normal Content-Security-Policy: English at a desktop's width, German
    at a phone's. No request to another origin, no console or policy error, the page in its language, and
    nothing wider than the phone (wide tables scroll in their own box)."""
    failures = []
    tabs = Tabs(site, widths=PHONE_LANGUAGE)
    try:
        for language in LANGUAGES:
            for visit in visits(site.world):
                watched = await tabs.of(visitor(site.world, visit.path), language)
                page = watched.page
                try:
                    problem = await _open(page, site.server.url, visit)
                except Download:
                    continue
                where = f"{visit.url} ({language})"
                if problem:
                    failures.append(f"{where}: {problem}")
                    continue
                if watched.foreign:
                    failures.append(f"{where} loads from other origins: {watched.foreign}")
                if watched.console_errors:
                    failures.append(f"{where} console errors: {watched.console_errors}")
                if (lang := await page.get_attribute("html", "lang")) != language:
                    failures.append(f"{where} is in the language {lang!r}")
                if language in PHONE_LANGUAGE and (overflow := await page.evaluate(OVERFLOW)):
                    failures.append(f"{where} is wider than a phone ({PHONE_LANGUAGE[language]} px), {overflow}")
    finally:
        await tabs.close()
    assert not failures, "\n".join(failures)


class Download(Exception):
    """The address is a file to download (an export, a CSV), not a page."""


async def _open(page, origin: str, visit: Visit) -> str | None:
    """Opens the page; what went wrong (an error status, a redirect elsewhere), else None."""
    try:
        response = await page.goto(origin + visit.url)
    except PlaywrightError as error:
        if "Download is starting" in error.message:
            raise Download(visit.url) from error
        raise
    await page.wait_for_load_state("load")
    if response is None or response.status >= 400:
        return f"answered {response.status if response else 'nothing'}"
    landed = page.url.removeprefix(origin).split("?")[0]
    expected = visit.url.split("?")[0]
    if landed != expected:
        return f"redirected to {landed} (the walk opens each page as someone who may see it: see visitor())"
    return None

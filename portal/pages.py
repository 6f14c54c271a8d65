"""Rendering a page: the template in the browser's language, the CSRF token, the security headers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from partner_portal.portal import formatting, security
from partner_portal.portal.graphql_client import Browser
from partner_portal.portal.i18n import LANGUAGE_COOKIE, choose_language, translations
from partner_portal.portal.labels import LABELS

TEMPLATES_FOLDER = Path(__file__).parent / "templates"


@cache
def environment(language: str) -> Environment:
    """One template environment per language, its gettext installed (`{{ _("…") }}` in templates)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_FOLDER),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["label"] = lambda value: label(language, value)
    formatting.install(env, language)  # money, date, datetime, number
    return env


def label(language: str, value: object) -> str:
    """An enum value of the API as its message (`labels.LABELS`), else the value itself."""
    message = LABELS.get(str(value))
    return translations(language).gettext(message) if message else str(value)


def language_of(request: Request) -> str:
    return choose_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def browser_of(request: Request) -> Browser:
    return Browser(
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        language=language_of(request),
    )


def text(request: Request, message: str, **values: Any) -> str:
    """A message of Python code (not a template) in the browser's language."""
    text = translations(language_of(request)).gettext(message)
    return text % values if values else text


def render(request: Request, template: str, *, secure: bool, status_code: int = 200, **values: Any) -> Response:
    language = language_of(request)
    html = (
        environment(language)
        .get_template(template)
        .render(language=language, csrf=security.csrf_token(request), path=request.url.path, **values)
    )
    response = HTMLResponse(html, status_code=status_code)
    security.keep_csrf_token(request, response, secure=secure)
    return response


def redirect(target: str) -> Response:
    """Post/redirect/get: 303, so a reload does not send the form again."""
    return RedirectResponse(target, status_code=303)

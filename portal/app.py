"""The portal's plumbing: its routes (the pages of `views/`), how a page asks the API and renders,
how a form is checked and sent. A page is a function `async def page(portal, request)` in a module of
`views/`, listed in that module's `ROUTES`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles

from partner_portal.portal import security
from partner_portal.portal.affiliate import keep_affiliate_token
from partner_portal.portal.graphql_client import ApiUnavailable, PortalApi, Result
from partner_portal.portal.layout import ORGANIZATION_COOKIE, Layout
from partner_portal.portal.pages import browser_of, redirect, render, text
from partner_portal.portal.problems import problem_texts
from partner_portal.settings import Settings

STATIC_FOLDER = Path(__file__).parent / "static"
MAX_FORM_FIELDS = 50

Page = Callable[["Portal", Request], Awaitable[Response]]


class FormRefused(Exception):
    """A posted form without the browser's CSRF token (expired, or sent from another site)."""


class Portal:
    def __init__(self, settings: Settings) -> None:
        self.api = PortalApi(settings.portal_api_url)
        self.secure = not settings.is_development

    def routes(self) -> list[BaseRoute]:
        """The portal's pages beside the server's own routes, each with the security headers."""
        from partner_portal.portal.views import ROUTES

        routes: list[BaseRoute] = [
            Route(path, security.SecurityHeaders(request_response(self._guarded(page))), methods=methods)
            for path, page, methods in ROUTES
        ]
        routes.append(Mount("/static", security.SecurityHeaders(StaticFiles(directory=STATIC_FOLDER))))
        return routes

    def _guarded(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        """The page, with the answers every page shares: an API that does not answer, an expired form."""

        async def guarded(request: Request) -> Response:
            try:
                return keep_affiliate_token(request, await page(self, request), secure=self.secure)
            except ApiUnavailable:
                return self.unavailable(request)
            except FormRefused:
                return self.refused_form(request)

        guarded.__name__ = getattr(page, "__name__", "page")
        return guarded

    # --- asking the API --------------------------------------------------------------------------

    async def call(self, request: Request, operation: str, variables: dict[str, Any] | None = None) -> Result:
        return await self.api.call(
            operation, variables, token=request.cookies.get(security.SESSION_COOKIE), browser=browser_of(request)
        )

    async def send(
        self, request: Request, operation: str, variables: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """A mutation: its payload and the problems to show (empty when it worked)."""
        result = await self.call(request, operation, variables)
        payload = next(iter(result.data.values()), None) or {}
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if result.errors or errors:
            return payload, problem_texts(request, errors or result.errors)
        return payload, []

    def organization_of(self, request: Request) -> str | None:
        """The organization the person chose to act for (the switch in the menu), if any."""
        chosen = request.cookies.get(ORGANIZATION_COOKIE, "")
        return chosen if 0 < len(chosen) <= 100 and chosen.isascii() and chosen.isprintable() else None

    # --- pages -----------------------------------------------------------------------------------

    async def page(
        self,
        request: Request,
        operation: str,
        template: str,
        variables: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
        notices: Mapping[str, str] | None = None,
        **values: Any,
    ) -> Response:
        """A page for signed-in people: its operation (which spreads `...Layout`) and its template.
        Anonymous visitors go to sign-in and come back. The template gets `data` (the operation's
        answer), `errors` (its GraphQL errors), `layout` (menu, organizations) and `notice`, the text of
        `?notice=<key>` from `notices` (post/redirect/get tells what was done)."""
        result = await self.call(request, operation, variables)
        if result.data.get("viewer") is None and result.errors and request.cookies.get(security.SESSION_COOKIE):
            # A refused non-null field nulls the whole answer (GraphQL): the page stays a page, with the
            # menu (a second request, only in this case) and why it was refused.
            layout_only = await self.call(request, "Home")
            if layout_only.data.get("viewer") is not None:
                result = Result(data={"viewer": layout_only.data["viewer"]}, errors=result.errors)
                values.setdefault("refusals", problem_texts(request, result.errors))
                status_code = 403 if status_code == 200 else status_code
        layout = Layout.of(request, result.data.get("viewer"), self.organization_of(request))
        if layout is None:
            return self.sign_in_first(request)
        notice_key = request.query_params.get("notice", "")
        if notices and notice_key in notices:
            values.setdefault("notice", text(request, notices[notice_key]))
        return self.render(
            request,
            template,
            status_code=status_code,
            layout=layout,
            viewer=layout.viewer,
            data=result.data,
            errors=result.errors,
            **values,
        )

    def sign_in_first(self, request: Request) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/sign-in" if here == "/" else f"/sign-in?{urlencode({'next': here})}")

    def render(self, request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
        return render(request, template, secure=self.secure, status_code=status_code, **values)

    async def form(self, request: Request) -> dict[str, str]:
        """The posted form's text fields; FormRefused when its CSRF token is missing or wrong.
        Checkboxes that share a name come as a list under `name[]` (`form_list`)."""
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            values = {key: value for key, value in form.items() if isinstance(value, str)}
            request.state.form_lists = {
                key: [value for value in form.getlist(key) if isinstance(value, str)] for key in form
            }
        if not security.csrf_valid(request, values.get(security.CSRF_FIELD)):
            raise FormRefused
        return values

    @staticmethod
    def form_list(request: Request, name: str) -> list[str]:
        """Every value of a repeated field (checkboxes) of the form `form` read."""
        return list(getattr(request.state, "form_lists", {}).get(name, []))

    def start_session(self, response: Response, payload: dict[str, Any]) -> Response:
        """The API session of a sign-in payload (`token`, `expiresAt`) becomes the browser's cookie."""
        response.set_cookie(
            security.SESSION_COOKIE,
            payload["token"],
            expires=datetime.fromisoformat(payload["expiresAt"]),
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )
        return response

    def refused_form(self, request: Request) -> Response:
        return self.render(
            request,
            "problem.html",
            status_code=403,
            heading=text(request, "This form has expired"),
            message=text(request, "Go back, reload the page and send the form again."),
        )

    def unavailable(self, request: Request) -> Response:
        return self.render(
            request,
            "problem.html",
            status_code=503,
            heading=text(request, "The portal is unavailable"),
            message=text(request, "The service does not answer at the moment; try again shortly."),
        )


def done(path: str, notice: str) -> Response:
    """Post/redirect/get to `path`, telling it which notice to show."""
    return redirect(f"{path}{'&' if '?' in path else '?'}{urlencode({'notice': notice})}")

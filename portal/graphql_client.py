"""The portal's only way to data: the GraphQL operations in `operations/`, sent over HTTP.

By default the portal calls the API of its own server in-process (an ASGI transport, no socket); with
`PORTAL_API_URL` (a GraphQL endpoint's address) it calls an API on another host. Either way it is an
ordinary GraphQL request: the session token as `Authorization: Bearer`, the browser's address and
User-Agent passed on so that throttles and the list of signed-in devices see the person, not the portal.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp

OPERATIONS_FOLDER = Path(__file__).parent / "operations"
GRAPHQL_RESPONSE = "application/graphql-response+json"
FRAGMENT = re.compile(r"^fragment (\w+) on .*?^}", re.MULTILINE | re.DOTALL)
SPREAD = re.compile(r"\.\.\.(\w+)")
IN_PROCESS_URL = "http://portal.internal/graphql"  # the host is never resolved: the transport is the app


def load_operations(folder: Path = OPERATIONS_FOLDER) -> dict[str, str]:
    """Every `<name>.graphql` document of the folder, by name, with the fragments it spreads (kept in
    `_<name>.graphql` files: `_Layout.graphql` is every signed-in page's menu) appended."""
    fragments = {
        match.group(1): match.group(0)
        for path in sorted(folder.glob("_*.graphql"))
        for match in FRAGMENT.finditer(path.read_text())
    }
    return {path.stem: _with_fragments(path.read_text(), fragments) for path in sorted(folder.glob("[!_]*.graphql"))}


def _with_fragments(document: str, fragments: dict[str, str]) -> str:
    used: dict[str, str] = {}
    pending = SPREAD.findall(document)
    while pending:
        name = pending.pop()
        if name in fragments and name not in used:
            used[name] = fragments[name]
            pending.extend(SPREAD.findall(fragments[name]))
    return "\n".join([document, *used.values()])


@dataclass(frozen=True, slots=True)
class Browser:
    """Who is behind a page request: passed on to the API."""

    address: str | None
    user_agent: str | None
    language: str


@dataclass(slots=True)
class Result:
    """A GraphQL response: `data` and the `errors` list (empty when there were none)."""

    data: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error_codes(self) -> set[str]:
        return {error.get("extensions", {}).get("code", "") for error in self.errors}


@dataclass(slots=True)
class Download:
    """A file the API answered (`PortalApi.download`): its status, the headers to pass on, and the body
    as it arrives (iterate it to the end: that closes the connection)."""

    status_code: int
    content_type: str
    disposition: str
    chunks: AsyncIterator[bytes]

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks])


class ApiUnavailable(Exception):
    """The API did not answer with a GraphQL response (down, overloaded, misconfigured)."""


class PortalApi:
    """Sends the portal's named operations; `bind` gives it the in-process app when no URL is set."""

    def __init__(self, api_url: str | None) -> None:
        self.api_url = api_url
        self.operations = load_operations()
        self._app: ASGIApp | None = None

    def bind(self, app: ASGIApp) -> None:
        self._app = app

    def _client(self, browser: Browser) -> httpx.AsyncClient:
        if self.api_url:
            return httpx.AsyncClient(timeout=10)
        assert self._app is not None, "PortalApi.bind(app) first"
        transport = httpx.ASGITransport(app=self._app, client=(browser.address or "127.0.0.1", 0))
        return httpx.AsyncClient(transport=transport)

    async def call(
        self, operation: str, variables: dict[str, Any] | None = None, *, token: str | None, browser: Browser
    ) -> Result:
        headers = {"accept": GRAPHQL_RESPONSE, "accept-language": browser.language}
        if token:
            headers["authorization"] = f"Bearer {token}"
        headers["user-agent"] = browser.user_agent or ""  # not httpx's own name: the person's browser, or none
        body = {"query": self.operations[operation], "operationName": operation, "variables": variables or {}}
        async with self._client(browser) as client:
            try:
                response = await client.post(self.api_url or IN_PROCESS_URL, json=body, headers=headers)
                payload = response.json()
            except (httpx.HTTPError, ValueError) as error:
                raise ApiUnavailable(str(error)) from error
        if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
            raise ApiUnavailable(f"not a GraphQL response (HTTP {response.status_code})")
        return Result(payload.get("data") or {}, payload.get("errors") or [])

    async def download(self, path: str, params: dict[str, str], *, token: str | None, browser: Browser) -> Download:
        """GET a file of the API beside its GraphQL endpoint (`reports/commission-lines.csv`: relative
        to the GraphQL address without its last part), with the session token, streamed."""
        headers = {"accept-language": browser.language, "user-agent": browser.user_agent or ""}
        if token:
            headers["authorization"] = f"Bearer {token}"
        address = httpx.URL(self.api_url or IN_PROCESS_URL).join(path.lstrip("/"))
        client = self._client(browser)
        try:
            response = await client.send(
                client.build_request("GET", address, params=params, headers=headers), stream=True
            )
        except httpx.HTTPError as error:
            await client.aclose()
            raise ApiUnavailable(str(error)) from error

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            finally:
                await response.aclose()
                await client.aclose()

        return Download(
            response.status_code,
            response.headers.get("content-type", ""),
            response.headers.get("content-disposition", ""),
            chunks(),
        )

"""The test harness: a fresh database per test, the real app over httpx, a frozen clock.

SQLite (default): the tables are made once in a template file, copied for every test.
PostgreSQL (`DATABASE_URL=postgres://…`): the tables are made once in that (fresh)
database, and every test starts from emptied tables.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import time_machine
from asgi_lifespan import LifespanManager
from tortoise import Tortoise, connections

from partner_portal.models.db import open_database, record_migrations_applied
from partner_portal.models.tortoise_internals import children_first, table
from partner_portal.server import build_app
from partner_portal.settings import Settings

POSTGRES_URL = os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith("postgres") else ""
PASSWORD = "a-Sturdy-passphrase-42"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "outbox_poll_seconds": 0,
        "sign_in_rate": "10000/minute",  # tests sign in many people from one address;
        "sign_in_global_rate": "10000/minute",  # tests/test_signin.py sets low rates itself
        **overrides,
    }
    return Settings(**values)


test_settings.__test__ = False  # a helper, not a test


async def create_tables(database_url: str) -> None:
    """The models' tables, with every migration recorded as applied (`/readyz` checks that)."""
    async with open_database(database_url):
        await Tortoise.generate_schemas()
        await record_migrations_applied()


@pytest.fixture(scope="session")
async def template_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Tables from the models (tests/test_migrations.py proves the migrations build the same):
    a SQLite file to copy, or the PostgreSQL database itself."""
    if POSTGRES_URL:
        await create_tables(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    await create_tables(f"sqlite://{path}")
    return str(path)


@pytest.fixture
def database_url(template_database: str, tmp_path: Any) -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    path = tmp_path / "portal.sqlite3"
    shutil.copyfile(template_database, path)
    return f"sqlite://{path}"


async def _empty_all_tables() -> None:
    """DELETE children before parents in one script: about 20× faster than TRUNCATE on small tables."""
    models = children_first(model for app in Tortoise.apps.values() for model in app.values())
    await connections.get("default").execute_script(";".join(f'DELETE FROM "{table(model)}"' for model in models))


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Time stands still at START until the test moves it (`clock.shift`, `clock.move_to`)."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@dataclass
class QueryCounter:
    """Counts SQL statements sent through tortoise while active."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


class _CountingHandler(logging.Handler):
    def __init__(self, counter: QueryCounter) -> None:
        super().__init__(logging.DEBUG)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self.counter.statements.append(record.getMessage())


class Api:
    """GraphQL over the real ASGI app, as a client would call it."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def post(
        self,
        query: str,
        variables: dict | None = None,
        *,
        token: str | None = None,
        api_key: str | None = None,
        headers: dict | None = None,
    ) -> dict:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self._headers(token, api_key, headers),
        )
        assert response.status_code in (200, 400), response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        """The `data` of a response that must have no errors."""
        body = await self.post(query, variables, **kwargs)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error_code(self, query: str, variables: dict | None = None, **kwargs: Any) -> str:
        """The `extensions.code` of the first error of a response that must fail."""
        body = await self.post(query, variables, **kwargs)
        assert body.get("errors"), body
        return body["errors"][0].get("extensions", {}).get("code")

    @staticmethod
    def _headers(token: str | None, api_key: str | None, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if token:
            headers["authorization"] = f"Bearer {token}"
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def count_queries(self) -> _QueryCounting:
        return _QueryCounting()


class _QueryCounting:
    def __enter__(self) -> QueryCounter:
        self.counter = QueryCounter()
        self.handler = _CountingHandler(self.counter)
        self.logger = logging.getLogger("tortoise.db_client")
        self.level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)
        return self.counter

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)


async def start_api(settings: Settings) -> AsyncIterator[Api]:
    app = build_app(settings)
    async with LifespanManager(app):
        if POSTGRES_URL:
            await _empty_all_tables()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
            yield Api(client, settings)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Api]:
    """`start_api` as a context manager: `async with running(settings) as api:`."""
    apis = start_api(settings)
    try:
        yield await anext(apis)
    finally:
        await apis.aclose()


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async for running in start_api(test_settings(database_url)):
        yield running


# --- a real SMTP server (aiosmtpd) -----------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpServer:
    """A running SMTP server on 127.0.0.1: point SMTP_URL at `url`; what it received is in
    `messages` (parsed, `email.message.EmailMessage`) and `envelopes` (sender, recipients)."""

    url: str
    messages: list[Any] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 — aiosmtpd's hook
        import email
        import email.policy

        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd in its own thread, on a free port, for one test."""
    from aiosmtpd.controller import Controller

    port = free_port()
    server = SmtpServer(url=f"smtp://127.0.0.1:{port}")
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# --- a real Redis (RATE_LIMIT_STORAGE=redis://…) ----------------------------------------------


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
async def redis_url() -> str:
    """`TEST_REDIS_URL`, emptied; without a Redis the test is skipped, but not in CI (`CI=true`)."""
    import coredis

    client = coredis.Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    except (coredis.exceptions.ConnectionError, OSError) as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis answers at {REDIS_URL}: {error}")
    return REDIS_URL

"""The HTTP application: `build_app(settings)` returns the Starlette app, its routes and its lifespan.

Routes: `/graphql` (POST JSON, GET for queries; GraphiQL when enabled; web/graphql_view.py),
`/healthz` (the process is up) and `/readyz` (the database answers; web/health.py),
`/webhooks/stripe` (signed billing events, web/stripe_webhooks.py), `/r/{code}` (the affiliate
redirect, web/affiliate_redirect.py), `/reports/{name}.csv` (streamed CSV reports,
web/report_csv.py), and the web portal's pages (portal/app.py). The lifespan opens the
database and runs the outbox worker every OUTBOX_POLL_SECONDS (unless 0); at shutdown the worker
ends after the message in flight and hands the rest of its batch back.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, request_response
from tortoise.contrib.starlette import RegisterTortoise

from partner_portal.models.db import ensure_sqlite_folder, tortoise_config
from partner_portal.portal.app import Portal
from partner_portal.resolvers.health import MIGRATE_COMMAND, missing_migrations
from partner_portal.resolvers.identity import Authenticator
from partner_portal.resolvers.jobs import PeriodicJob
from partner_portal.settings import Settings, SettingsRefused, settings_from_environment
from partner_portal.web.affiliate_redirect import affiliate_redirect
from partner_portal.web.body_limits import LimitedBody
from partner_portal.web.graphql_view import GraphQLView
from partner_portal.web.health import healthz, readyz
from partner_portal.web.outage import Outage
from partner_portal.web.report_csv import report_csv
from partner_portal.web.stripe_webhooks import stripe_webhook

logger = logging.getLogger("partner_portal")


async def warn_of_missing_migrations() -> None:
    """At start-up (`serve` on PostgreSQL without `--migrate`, or uvicorn): a database that lacks
    migrations fails requests, so say so at once; `/readyz` answers 503 until they are applied."""
    missing = await missing_migrations()
    if missing:
        logger.warning(
            "The database lacks %d migration(s) this version needs (%s): run `%s`. Until then "
            "/readyz answers 503 and requests fail.",
            len(missing),
            ", ".join(missing),
            MIGRATE_COMMAND,
        )


def build_app(settings: Settings) -> Starlette:
    authenticator = Authenticator(settings)
    graphql = GraphQLView(settings, authenticator)
    portal = Portal(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ensure_sqlite_folder(settings.database_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await warn_of_missing_migrations()
            worker = None
            if settings.outbox_poll_seconds > 0:  # the in-process outbox worker; 0 turns it off
                worker = PeriodicJob("outbox", settings, settings.outbox_poll_seconds).start()
            try:
                yield
            finally:
                if worker is not None:
                    await worker.stop()

    app = Starlette(
        routes=[
            Route("/graphql", LimitedBody(graphql, settings.max_request_bytes), methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(
                "/webhooks/stripe",
                LimitedBody(request_response(stripe_webhook), settings.max_request_bytes),
                methods=["POST"],
            ),
            Route("/r/{code}", affiliate_redirect, methods=["GET"]),
            Route("/reports/{name}.csv", report_csv, methods=["GET"]),
            *portal.routes(),  # the web portal's pages (portal/app.py)
        ],
        lifespan=lifespan,
        middleware=[Middleware(Outage)],
    )
    app.state.settings = settings
    app.state.limits_storage = graphql.limits_storage  # readiness asks it too
    app.state.authenticator = authenticator  # the CSV reports authenticate as /graphql does
    portal.api.bind(app)  # the portal calls this app's /graphql in-process unless PORTAL_API_URL is set
    return app


def log_to_console(level: int = logging.INFO) -> Callable[[], None]:
    """Show the portal's own log (e.g. the mails logged in development without SMTP_URL)
    on stderr next to uvicorn's, unless logging is configured already. Returns the undo."""
    if logger.handlers or logging.getLogger().handlers:
        return lambda: None
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     [%(name)s] %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    return undo


# Python's default is a collection of the youngest generation every 700 net new objects.
GC_YOUNGEST_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """For a serving process, once its app is built: what is alive now (modules, the schema, the
    app) lives as long as the process, so it is frozen out of every later collection, and the
    youngest generation is collected less often. With 64 "my customers" pages in flight, Python's
    defaults spend about a quarter of the CPU in collections that each walk the objects of every
    page in flight and, now and then, the whole heap (docs/performance.md, "The garbage collector
    of a serving process")."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])


def create_app() -> Starlette:
    """uvicorn's factory: settings from the environment (`uvicorn --factory server:create_app`)."""
    log_to_console()
    try:
        app = build_app(settings_from_environment())
    except SettingsRefused as error:  # one line per problem, no traceback repeating the values
        raise SystemExit(f"Refused to start: the configuration is not valid.\n{error}") from None
    tune_garbage_collector()
    return app

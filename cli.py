"""The `partner-portal` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import ApiKeyScope, OperatorPermission, Via
from partner_portal.settings import Environment, Settings, SettingsRefused, settings_from_environment

T = TypeVar("T")

# uvicorn's own default is 5 s: a client or proxy reusing a connection idle for longer races its
# closing. Longer than the idle timeout of common proxies and load balancers (60 s).
DEFAULT_KEEP_ALIVE_SECONDS = 75


def _settings() -> Settings:
    """The settings, or the command ends listing what is wrong (exit status 1; no traceback, no values)."""
    try:
        return settings_from_environment()
    except SettingsRefused as error:
        sys.exit(f"Refused to start: the configuration is not valid.\n{error}")


def _run_or_exit(task: Coroutine[Any, Any, T]) -> T:
    """Run a command's database work; input the resolvers refuse ends the command with
    their message (exit status 1) instead of a traceback."""
    from partner_portal.resolvers.errors import UserInputError

    try:
        return asyncio.run(task)
    except UserInputError as error:
        sys.exit(f"Refused: {error}")


async def _migrate(settings: Settings) -> None:
    from partner_portal.models.db import apply_migrations

    await apply_migrations(settings.database_url)


async def _demo(settings: Settings) -> None:
    from partner_portal.models.db import open_database
    from partner_portal.resolvers.demo import DEMO_PASSWORD, seed_demo

    async with open_database(settings.database_url):
        logins = await seed_demo(settings)
    print(f"Demo data ready. Every demo account's password is: {DEMO_PASSWORD}")
    for login in logins:
        print(f"  {login.email:32} {login.role}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings()
    if args.demo and not settings.is_development:
        sys.exit("--demo is for development only (ENVIRONMENT=development).")
    if settings.is_sqlite or args.migrate:
        asyncio.run(_migrate(settings))
    if args.demo:
        asyncio.run(_demo(settings))
    uvicorn.run(
        "partner_portal.server:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        proxy_headers=True,
        timeout_keep_alive=args.keep_alive,
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    asyncio.run(_migrate(_settings()))
    print("Migrations applied.")


def cmd_repair_copies(args: argparse.Namespace) -> None:
    from partner_portal.models.copies import repair_copies
    from partner_portal.models.db import open_database, pending_migrations

    settings = _settings()

    async def run() -> dict[str, int] | None:
        async with open_database(settings.database_url):
            if await pending_migrations():
                return None
            return await repair_copies()

    corrected = asyncio.run(run())
    if corrected is None:
        sys.exit("Migrations are pending: run `partner-portal migrate` first.")
    print("Copies corrected: " + ", ".join(f"{what} {count}" for what, count in corrected.items()) + ".")


def cmd_demo(args: argparse.Namespace) -> None:
    settings = _settings()
    if not settings.is_development:
        sys.exit("Demo data is for development only (ENVIRONMENT=development).")
    asyncio.run(_demo(settings))


def cmd_export_schema(args: argparse.Namespace) -> None:
    from partner_portal.schema import build_schema

    # The SDL does not depend on the deployment: never require production secrets for it.
    settings = Settings(environment=Environment.DEVELOPMENT, introspection=True)
    sys.stdout.write(build_schema(settings).as_str() + "\n")


def cmd_create_operator(args: argparse.Namespace) -> None:
    from partner_portal.models.db import open_database
    from partner_portal.resolvers.identity import make_operator

    settings = _settings()
    password = os.environ.get("OPERATOR_PASSWORD") or secrets.token_urlsafe(12)
    permissions = [OperatorPermission(p) for p in args.permission] or list(OperatorPermission)

    async def run() -> None:
        async with open_database(settings.database_url):
            await make_operator(
                Actor(via=Via.CLI), args.email, permissions, name=args.name, password=password, settings=settings
            )

    _run_or_exit(run())
    print(f"Operator {args.email} has: {', '.join(p.value for p in permissions)}")
    if "OPERATOR_PASSWORD" not in os.environ:
        print(f"Password (for a new account; shown once): {password}")


def cmd_remove_operator(args: argparse.Namespace) -> None:
    from partner_portal.models.db import open_database
    from partner_portal.resolvers.my_data import remove_operator

    settings = _settings()

    async def run() -> bool:
        async with open_database(settings.database_url):
            return await remove_operator(Actor(via=Via.CLI), args.email)

    if not _run_or_exit(run()):
        sys.exit(f"{args.email} is no operator.")
    print(f"{args.email} is no operator any more (the account stays; its owner may now delete it).")


def cmd_create_api_key(args: argparse.Namespace) -> None:
    from partner_portal.models.db import open_database
    from partner_portal.resolvers.identity import issue_api_key

    settings = _settings()

    async def run() -> str:
        async with open_database(settings.database_url):
            issued = await issue_api_key(Actor(via=Via.CLI), args.name, [ApiKeyScope(s) for s in args.scope])
        return issued.key

    key = _run_or_exit(run())
    print(f"API key (shown once; send it as 'X-Api-Key: <key>'):\n{key}")


def cmd_jobs_run(args: argparse.Namespace) -> None:
    from partner_portal.models.db import open_database
    from partner_portal.resolvers.jobs import JOBS, run_job
    from partner_portal.server import log_to_console

    unknown = [name for name in args.names if name not in JOBS]
    if unknown:
        sys.exit(f"Unknown job(s): {', '.join(unknown)}. Known: {', '.join(sorted(JOBS))}.")
    settings = _settings()

    async def run() -> bool:
        ok = True
        async with open_database(settings.database_url):
            for name in args.names:
                try:
                    print(await run_job(name, settings), flush=True)
                except Exception as error:  # noqa: BLE001 — report, run the others, fail at the end
                    print(f"{name}: failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                    ok = False
        return ok

    undo = log_to_console()  # e.g. mails logged without SMTP_URL
    try:
        ok = asyncio.run(run())
    finally:
        undo()
    if not ok:
        sys.exit(1)


def cmd_jobs_list(args: argparse.Namespace) -> None:
    from partner_portal.resolvers.jobs import JOBS

    for name, job in sorted(JOBS.items()):
        summary = (job.__doc__ or "").strip().splitlines()
        print(f"{name:24} {summary[0] if summary else ''}".rstrip())


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="partner-portal", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--keep-alive",
        type=int,
        default=DEFAULT_KEEP_ALIVE_SECONDS,
        metavar="SECONDS",
        help="how long an idle connection stays open; longer than the proxy's idle timeout "
        f"(default {DEFAULT_KEEP_ALIVE_SECONDS})",
    )
    serve.add_argument("--demo", action="store_true", help="seed demo data first (development only)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first (always on SQLite)")
    serve.set_defaults(run=cmd_serve)

    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(run=cmd_migrate)
    commands.add_parser("demo", help="seed demo data and print the logins").set_defaults(run=cmd_demo)
    commands.add_parser(
        "repair-copies", help="correct stale copies of names and license status (after a rolling upgrade)"
    ).set_defaults(run=cmd_repair_copies)
    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(run=cmd_export_schema)

    operator = commands.add_parser("create-operator", help="make a user (created if needed) an operator")
    operator.add_argument("email")
    operator.add_argument("--name")
    operator.add_argument(
        "--permission",
        action="append",
        default=[],
        choices=[p.value for p in OperatorPermission],
        help="repeat for several; default: all",
    )
    operator.set_defaults(run=cmd_create_operator)

    remove_operator = commands.add_parser("remove-operator", help="withdraw a user's operator role")
    remove_operator.add_argument("email")
    remove_operator.set_defaults(run=cmd_remove_operator)

    api_key = commands.add_parser("create-api-key", help="create an integrator API key")
    api_key.add_argument("--name", required=True)
    api_key.add_argument(
        "--scope", action="append", required=True, choices=[s.value for s in ApiKeyScope], help="repeat for several"
    )
    api_key.set_defaults(run=cmd_create_api_key)

    jobs = commands.add_parser("jobs", help="recurring jobs (cron-friendly; idempotent)")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    run_jobs = job_commands.add_parser("run", help="run jobs once, in the order given")
    run_jobs.add_argument("names", nargs="+", metavar="NAME", help="a job name (see `jobs list`)")
    run_jobs.set_defaults(run=cmd_jobs_run)
    job_commands.add_parser("list", help="list the jobs").set_defaults(run=cmd_jobs_list)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()

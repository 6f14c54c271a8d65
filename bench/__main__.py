"""`python -m bench generate|run`: the benchmark dataset and the benchmarks (see docs/performance.md).

.venv/bin/python -m bench run --database sqlite --scale 1      # generate, then every benchmark
.venv/bin/python -m bench run --database postgres --scale 1    # the same on PostgreSQL
.venv/bin/python -m bench generate --database sqlite --scale 0.01
.venv/bin/python -m bench run --database sqlite --only 1,2 --reuse   # some benchmarks, existing data
.venv/bin/python -m bench peer --scale 1    # against PostGraphile 5 and a raw floor (bench/peer.py)
.venv/bin/python -m bench portal-pages --scale 0.1   # the portal's pages vs their operations (bench/portal_pages.py)
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_SQLITE = "sqlite://./var/bench/portal-bench.sqlite3"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/pp_bench"


def database_url(args: argparse.Namespace) -> str:
    if args.url:
        return args.url
    if args.database == "postgres":
        return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    return DEFAULT_SQLITE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("generate", "run", "portal-pages"):
        command = commands.add_parser(name)
        command.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
        command.add_argument(
            "--url",
            help="the database URL (default: var/bench/portal-bench.sqlite3 or "
            "BENCH_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/pp_bench)",
        )
        command.add_argument("--scale", type=float, default=1.0, help="1 = 100,000 customers, 1,000,000 lines")
        command.add_argument(
            "--schema",
            choices=("generate", "migrate"),
            default="generate",
            help="tables from the models (default) or from migrations/",
        )
    from bench.peer import add_arguments as peer_arguments

    peer_arguments(commands.add_parser("peer", help="partner-portal vs PostGraphile 5 and a raw floor"))
    pages = commands.choices["portal-pages"]
    pages.add_argument("--reuse", action="store_true", help="use the dataset generated before")
    pages.add_argument("--iterations", type=int, default=200, help="measured requests per page and operation")
    run = commands.choices["run"]
    run.add_argument("--reuse", action="store_true", help="use the dataset generated before")
    run.add_argument("--only", default="1,2,3,4,5", help="benchmarks to run, e.g. 1,2,3")
    run.add_argument("--iterations", type=int, default=400, help="measured requests per in-process benchmark")
    run.add_argument("--load-seconds", type=float, default=60.0)
    run.add_argument("--clients", type=int, default=64)
    run.add_argument("--workers", default="1,2", help="uvicorn worker counts for the load run")
    args = parser.parse_args(argv)
    if args.command == "peer":
        from bench.peer import main as peer

        peer(args)
        return
    url = database_url(args)

    from bench.dataset import generate

    if args.command == "generate" or not args.reuse:
        meta = generate(url, args.scale, schema=args.schema)
        print(f"generated {meta['rows']} in {meta['seconds']} s", file=sys.stderr)
        if args.command == "generate":
            return
    if args.command == "portal-pages":
        from bench.portal_pages import run as portal_pages

        portal_pages(url, args.database, args.iterations)
        return
    from bench.run import run_all

    run_all(
        url,
        args.database,
        only={int(n) for n in args.only.split(",") if n.strip()},
        iterations=args.iterations,
        load_seconds=args.load_seconds,
        clients=args.clients,
        workers=[int(w) for w in args.workers.split(",") if w.strip()],
    )


if __name__ == "__main__":
    main()

"""Runs the benchmarks on a generated dataset and writes `bench/results/<database>.json`."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import inprocess
from bench.dataset import load_meta

RESULTS = Path(__file__).parent / "results"
ALL = {1, 2, 3, 4, 5}


def _postgres_version(database_url: str) -> str | None:
    if not database_url.startswith("postgres"):
        return None

    async def ask() -> str:
        import asyncpg

        server = database_url.split("?", 1)[0]  # the pool's options (maxsize=...) are tortoise's, not asyncpg's
        connection = await asyncpg.connect(server.replace("postgres://", "postgresql://", 1))
        try:
            return await connection.fetchval("SHOW server_version")
        finally:
            await connection.close()

    return asyncio.run(ask())


def environment(database_url: str) -> dict[str, Any]:
    """The machine, the versions, and how busy the machine was."""
    memory_kib = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    packages = (
        "strawberry-graphql",
        "graphql-core",
        "tortoise-orm",
        "starlette",
        "uvicorn",
        "httpx",
        "aiosqlite",
        "asyncpg",
        "ciso8601",
        "orjson",
        "uvloop",
    )
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = version(package)
        except Exception:  # noqa: BLE001 — not installed
            versions[package] = None
    versions["sqlite"] = sqlite3.sqlite_version
    versions["postgresql"] = _postgres_version(database_url)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu,
            "memory_gib": round(memory_kib / 1024 / 1024, 1),
            "system": platform.platform(),
        },
        "load_average": os.getloadavg(),
        "processes_running": _busy_processes(),
        "versions": versions,
    }


def _busy_processes() -> int:
    """How many other processes use a noticeable share of a CPU (the machine may be shared)."""
    try:
        output = subprocess.run(["ps", "-eo", "pcpu="], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return -1
    return sum(1 for line in output.split() if float(line) >= 5.0)


async def _in_process(database_url: str, meta: dict, only: set[int], iterations: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    sqlite = database_url.startswith("sqlite")
    async with inprocess.running_app(database_url) as app:
        if 1 in only:
            results["1_stack_floor"] = await inprocess.stack_floor(app, meta, iterations)
            _progress("1", results["1_stack_floor"])
        if 2 in only:
            results["2_my_customers"] = await inprocess.my_customers(app, meta, iterations)
            _progress("2", results["2_my_customers"])
        if 3 in only:
            results["3_dashboard"] = await inprocess.dashboard(app, meta, iterations, sqlite)
            _progress("3", results["3_dashboard"])
        if 4 in only:
            results["4_commission_report"] = await inprocess.commission_report(app, meta, iterations, sqlite)
            _progress("4", results["4_commission_report"])
    return results


def _progress(name: str, result: dict[str, Any]) -> None:
    print(f"benchmark {name}: {json.dumps(result)}", file=sys.stderr, flush=True)


def run_all(
    database_url: str,
    database: str,
    *,
    only: set[int],
    iterations: int,
    load_seconds: float,
    clients: int,
    workers: list[int],
) -> dict[str, Any]:
    meta = load_meta(database_url)
    results: dict[str, Any] = {
        "database": database,
        "dataset": {
            key: meta[key]
            for key in (
                "scale",
                "seed",
                "partners",
                "customers",
                "big_partner_customers",
                "commission_lines",
                "rows",
                "seconds",
                "schema",
            )
        },
        "environment": environment(database_url),
    }
    results["benchmarks"] = asyncio.run(_in_process(database_url, meta, only, iterations))
    if 5 in only:
        from bench.load import load_runs

        results["benchmarks"]["5_http_load"] = load_runs(
            database_url, meta, seconds=load_seconds, clients=clients, workers=workers
        )
        _progress("5", results["benchmarks"]["5_http_load"])
    results["environment"]["load_average_after"] = os.getloadavg()
    for result in results["benchmarks"].values():
        result["measured_at"] = results["environment"]["date"]
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"{database}.json"
    if target.exists() and only != ALL:  # a partial run keeps the other benchmarks' last results
        previous = json.loads(target.read_text())
        if previous.get("dataset", {}).get("seed") == results["dataset"]["seed"]:
            results["benchmarks"] = {**previous.get("benchmarks", {}), **results["benchmarks"]}
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {target}", file=sys.stderr)
    return results

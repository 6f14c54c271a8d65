"""The load generator of benchmark 5, run in its own process: `python -m bench.loadgen URL META SECONDS CLIENTS`.

`CLIENTS` asyncio tasks (one keep-alive HTTP/1.1 connection each, loopback only) send a mixed
read/write workload for `SECONDS` seconds, then it prints one JSON object: requests per
second, latency p50/p99/max, and the errors (any non-200 answer or GraphQL error).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import statistics
import sys
import time
from collections import Counter
from typing import Any

from bench import queries

# (name, weight): reads of partner staff, writes of partners and of the billing integration
MIX = (
    ("viewer", 15),
    ("my_customers", 20),
    ("dashboard", 20),
    ("commissions", 20),
    ("record_payment", 15),
    ("update_organization", 10),
)


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


class Workload:
    def __init__(self, meta: dict[str, Any], worker: int) -> None:
        self.tokens = {int(partner): token for partner, token in meta["session_tokens"].items()}
        self.api_key = meta["api_key"]
        self.customers = meta["customer_ids"]
        self.random = random.Random(worker)
        self.names = [name for name, _ in MIX]
        self.weights = [weight for _, weight in MIX]
        self.sequence = 0

    def next(self) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(operation name, JSON body, headers) of the next request."""
        name = self.random.choices(self.names, self.weights)[0]
        partner = self.random.choice(list(self.tokens))
        bearer = {"authorization": f"Bearer {self.tokens[partner]}"}
        self.sequence += 1
        if name == "viewer":
            return name, {"query": queries.VIEWER}, bearer
        if name == "my_customers":
            return name, {"query": queries.MY_CUSTOMERS_DEFAULT_PAGE}, bearer
        if name == "dashboard":
            return name, {"query": queries.DASHBOARD}, bearer
        if name == "commissions":
            return name, {"query": queries.COMMISSIONS_PAGE}, bearer
        if name == "update_organization":
            variables = {
                "input": {
                    "organizationId": global_id("Organization", partner),
                    "name": f"Bench Partner {partner} rename {self.sequence}",
                }
            }
            return name, {"query": queries.UPDATE_ORGANIZATION, "variables": variables}, bearer
        customer = self.random.randint(self.customers["first"], self.customers["last"])
        variables = {
            "input": {
                "externalId": f"load-{id(self)}-{time.time_ns()}-{self.sequence}",
                "organizationId": global_id("Organization", customer),
                "amount": {"amount": "29.00", "currency": "USD"},
                "paidAt": "2026-01-15T10:00:00Z",
            }
        }
        return name, {"query": queries.RECORD_PAYMENT, "variables": variables}, {"x-api-key": self.api_key}


class Connection:
    """A minimal HTTP/1.1 keep-alive client for POST /graphql: the load generator shares two cores
    with the servers it measures, so it spends as little CPU per request as it can."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(
            f"POST /graphql HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n{extra}\r\n".encode()
            + body
        )
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _problem(status: int, content: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    if b'"errors"' not in content:
        return None
    body = json.loads(content)
    if body.get("errors"):
        return body["errors"][0].get("message", "error")[:120]
    payload = next(iter((body.get("data") or {}).values()), None)
    if isinstance(payload, dict) and payload.get("errors"):
        return str(payload["errors"][0])[:120]
    return None


async def _client(
    host: str, port: int, meta: dict, worker: int, deadline: float, latencies: dict[str, list[float]], errors: Counter
) -> None:
    workload = Workload(meta, worker)
    connection = Connection(host, port)
    try:
        while time.perf_counter() < deadline:
            name, body, headers = workload.next()
            payload = json.dumps(body).encode()
            started = time.perf_counter()
            try:
                status, content = await asyncio.wait_for(connection.post(payload, headers), 30)
                problem = _problem(status, content)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                problem = f"{type(error).__name__}: {error}"[:120]
                await connection.close()
            latencies[name].append((time.perf_counter() - started) * 1000)
            if problem:
                errors[f"{name}: {problem}"] += 1
    finally:
        await connection.close()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def run(base_url: str, meta: dict, seconds: float, clients: int) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {name: [] for name, _ in MIX}
    errors: Counter = Counter()
    started = time.perf_counter()
    deadline = started + seconds
    host, port = base_url.removeprefix("http://").split(":")
    await asyncio.gather(
        *(_client(host, int(port), meta, worker, deadline, latencies, errors) for worker in range(clients))
    )
    elapsed = time.perf_counter() - started
    everything = [value for values in latencies.values() for value in values]
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "requests": len(everything),
        "requests_per_second": round(len(everything) / elapsed, 1),
        **_percentiles(everything),
        "over_1s": sum(1 for value in everything if value > 1000),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "by_operation": {name: {"requests": len(values), **_percentiles(values)} for name, values in latencies.items()},
    }


def main() -> None:
    base_url, meta_path, seconds, clients = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    with open(meta_path) as handle:
        meta = json.load(handle)
    print(json.dumps(asyncio.run(run(base_url, meta, seconds, clients))))


if __name__ == "__main__":
    main()

"""Benchmark 5: real uvicorn servers (1 and 2 workers) under the load generator, loopback only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.dataset import meta_path
from bench.inprocess import BENCH_ENVIRONMENT


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(base_url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready")


def _stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def load_run(database_url: str, workers: int, seconds: float, clients: int) -> dict[str, Any]:
    """Start `uvicorn --factory partner_portal.server:create_app --workers N`, run the load generator, stop it."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, **BENCH_ENVIRONMENT, "DATABASE_URL": database_url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "partner_portal.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=environment,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        _wait_ready(base_url, server)
        generator = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", base_url, str(meta_path(database_url)), str(seconds), str(clients)],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed: {generator.stderr[-2000:]}")
        result = json.loads(generator.stdout)
    finally:
        _stop(server)
    return {"workers": workers, **result}


def load_runs(database_url: str, meta: dict, *, seconds: float, clients: int, workers: list[int]) -> dict[str, Any]:
    runs = [load_run(database_url, count, seconds, clients) for count in workers]
    return {
        "runs": runs,
        "target": "0 errors and p99 under 1 s",
        "met": all(run["errors"] == 0 and run["p99_ms"] < 1000 for run in runs),
    }

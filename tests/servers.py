"""The app in child processes (`uvicorn --factory server:create_app`), as it runs in production:
for tests that kill a server, run several side by side, or fuzz it over real HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port

# The name the children's PostgreSQL sessions carry, so that the test can tell when they have ended.
CHILD_APPLICATION = "portal-test-child"
# How long a child may take to answer `/readyz` 200: a generous wait, not a measure (a busy machine
# starts Python and uvicorn slowly).
READY_WITHIN_SECONDS = 120


def child_environment(database_url: str) -> dict[str, str]:
    if database_url.startswith("postgres"):
        database_url += ("&" if "?" in database_url else "?") + f"application_name={CHILD_APPLICATION}"
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "64",
        "OUTBOX_POLL_SECONDS": "0",
        "SIGN_IN_RATE": "10000/minute",  # tests sign in many people from one address
        "SIGN_IN_GLOBAL_RATE": "10000/minute",
    }


class Server:
    """`uvicorn --factory server:create_app` in a child process on a free port."""

    def __init__(
        self, database_url: str, extra_environment: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.database_url = database_url
        self.environment = {**child_environment(database_url), **(extra_environment or {})}
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        output = self.log.open("ab") if self.log else asyncio.subprocess.DEVNULL
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "server:create_app",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            env=self.environment,
            stdout=output,
            stderr=output,
        )
        async with httpx.AsyncClient(base_url=self.url) as client, asyncio.timeout(READY_WITHIN_SECONDS):
            while True:
                assert self.process.returncode is None, "the server did not start"
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

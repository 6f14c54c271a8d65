"""`GET /healthz` (the process is up) and `GET /readyz` (it can serve requests)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from partner_portal.resolvers.health import readiness

logger = logging.getLogger("partner_portal")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 while the database answers `SELECT 1` within 2 s and has every migration applied, and the
    rate-limit storage answers; else 503 with what is wrong (`resolvers.health.readiness`), and 200
    again once it is right, without a restart."""
    ready, report = await readiness(request.app.state.limits_storage)
    if not ready:
        logger.warning("readiness check failed: %s", report)
    return JSONResponse(report, status_code=200 if ready else 503)

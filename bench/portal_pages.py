"""Benchmark 6 (`python -m bench portal-pages`): the portal's dashboard (`/partner/dashboard`) and
my-customers (`/partner/customers`) pages, rendered for the signed-in administrator of the
10,000-customer partner, against the GraphQL operations they send (the same documents of
`portal/operations/` with the same variables, POSTed to `/graphql` with the same session; recorded
from the page itself, so the benchmark follows the page when it changes).

Both run in process through the whole app (the portal calls its API in process, as it does in
production by default), interleaved round after round like benchmarks 1–4, so a busy machine slows
page and operation alike: what counts is their ratio. Target: a page costs at most 1.3x its
operations (median). Results: `bench/results/portal_pages/<database>.json` (beside, not among, the
main results that `python -m bench.table` reads).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench import inprocess
from bench.dataset import load_meta
from bench.run import environment
from partner_portal.portal.graphql_client import PortalApi, load_operations

RESULTS = Path(__file__).parent / "results" / "portal_pages"
TARGET = 1.3
SESSION_COOKIE = "pp_session"  # portal/security.py


PAGES = {"dashboard": "/partner/dashboard", "my customers": "/partner/customers"}


async def sent_by(app: inprocess.Client, path: str, cookies: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The operations (name, variables) the page sends, recorded while it is rendered once: the benchmark
    replays exactly these, so it follows the page when the page changes."""
    sent: list[tuple[str, dict[str, Any]]] = []
    real = PortalApi.call

    async def recording(self: PortalApi, operation: str, variables: dict[str, Any] | None = None, **kwargs: Any):
        sent.append((operation, dict(variables or {})))
        return await real(self, operation, variables, **kwargs)

    PortalApi.call = recording  # type: ignore[method-assign]
    try:
        response = await app.client.get(path, cookies=cookies)
    finally:
        PortalApi.call = real  # type: ignore[method-assign]
    if response.status_code != 200 or 'role="alert"' in response.text:
        raise SystemExit(f"{path} is not the page it should be: {response.status_code}\n{response.text[:2000]}")
    return sent


async def portal_pages(app: inprocess.Client, meta: dict, iterations: int) -> dict[str, Any]:
    token = meta["session_tokens"][str(meta["big_partner_id"])]
    documents = load_operations()
    cookies = {SESSION_COOKIE: token}
    results: dict[str, Any] = {}
    for name, path in PAGES.items():
        sent = await sent_by(app, path, cookies)

        async def page(path: str = path) -> None:
            response = await app.client.get(path, cookies=cookies)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code}")

        async def operations(sent: list[tuple[str, dict[str, Any]]] = sent) -> None:
            for operation, variables in sent:
                await app.graphql(documents[operation], variables, token=token)

        project, floor = f"page {path}", "operations " + " + ".join(operation for operation, _ in sent)
        measured = await inprocess.measure({project: page, floor: operations}, iterations, count_sql={project, floor})
        result = inprocess.report(measured, project)
        ratio = inprocess.exact_ratio(result, project, floor)
        result["operations"] = [{"operation": operation, "variables": variables} for operation, variables in sent]
        result["target"] = f"page <= {TARGET}x its operations (median)"
        result["ratio"] = round(ratio, 3)
        result["met"] = ratio <= TARGET
        results[name] = result
        print(f"portal page {name}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return results


def run(database_url: str, database: str, iterations: int) -> dict[str, Any]:
    meta = load_meta(database_url)

    async def measured() -> dict[str, Any]:
        async with inprocess.running_app(database_url) as app:
            return await portal_pages(app, meta, iterations)

    results: dict[str, Any] = {
        "database": database,
        "dataset": {key: meta[key] for key in ("scale", "seed", "partners", "customers", "big_partner_customers")},
        "environment": environment(database_url),
    }
    results["benchmarks"] = asyncio.run(measured())
    results["environment"]["load_average_after"] = list(os.getloadavg())
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"{database}.json"
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results), file=sys.stderr)
    print(f"results written to {target}", file=sys.stderr)
    return results


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| page | variant | median ms | p99 ms | per s | SQL | page / operations (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results["benchmarks"].items():
        for index, (variant, stats) in enumerate(result["variants"].items()):
            ratio = f"×{result['ratio']:.2f}, target ≤ {TARGET} {'met' if result['met'] else 'NOT met'}"
            lines.append(
                f"| {name} | {variant} | {stats['median_ms']:.2f} | {stats['p99_ms']:.2f} | {stats['per_second']:.0f} "
                f"| {stats['sql_queries']} | {ratio if index == 0 else ''} |"
            )
    return "\n".join(lines)

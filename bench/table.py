"""`python -m bench.table [--readme]`: the results in bench/results/*.json as a Markdown table
(printed, or written into docs/performance.md between its markers; the flag keeps its old name)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:.2f}" if value < 10 else f"{value:.1f}")


def _rows(database: str, results: dict[str, Any]) -> list[str]:
    rows = []
    benchmarks = results["benchmarks"]
    for key, title in (
        ("1_stack_floor", "1 stack floor"),
        ("2_my_customers", "2 my customers, first: 100"),
        ("3_dashboard", "3 dashboard, 10,000 customers"),
        ("4_commission_report", "4 commission report by month"),
    ):
        result = benchmarks.get(key)
        if not result or "variants" not in result:
            continue
        ratios = "; ".join(
            f"{name.split(' / ', 1)[1]}: ×{values['median']} (median)" for name, values in result["ratios"].items()
        )
        for name, stats in result["variants"].items():
            rows.append(
                f"| {database} | {title} | {name} | {_ms(stats['median_ms'])} | {_ms(stats['p99_ms'])} | "
                f"{stats['per_second']:.0f} | {stats['sql_queries'] if stats['sql_queries'] is not None else ''}"
                f" | |"
            )
        rows[-len(result["variants"])] = (
            rows[-len(result["variants"])][:-2] + f" {ratios}; target {'met' if result['met'] else 'NOT met'} |"
        )
    load = benchmarks.get("5_http_load")
    if load:
        for run in load["runs"]:
            rows.append(
                f"| {database} | 5 HTTP load, {run['clients']} clients, {run['seconds']:.0f} s | {run['workers']} "
                f"worker(s): {run['requests_per_second']:.0f} req/s | {_ms(run['p50_ms'])} | {_ms(run['p99_ms'])} | "
                f"{run['requests_per_second']:.0f} | | {run['errors']} errors, {run['over_1s']} requests over 1 s, "
                f"max {_ms(run['max_ms'])} ms |"
            )
    return rows


def table() -> str:
    lines = [
        "| database | benchmark | variant | median ms | p99 ms | per s | SQL | ratio to the floor, target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for path in sorted(RESULTS.glob("*.json")):
        results = json.loads(path.read_text())
        lines.extend(_rows(results["database"], results))
        env = results["environment"]
        versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
        dataset = results["dataset"]
        notes.append(
            f"- **{results['database']}** ({env['date']}): {env['machine']['cpus']} CPUs ({env['machine']['cpu']}), "
            f"{env['machine']['memory_gib']} GiB; load average {', '.join(f'{x:.1f}' for x in env['load_average'])} "
            f"before and {', '.join(f'{x:.1f}' for x in env.get('load_average_after', []))} after "
            f"({env['processes_running']} processes busy at the start: the machine was shared); {versions}. Dataset: "
            f"scale {dataset['scale']}, {dataset['partners']:,} partners, {dataset['customers']:,} customers, "
            f"{dataset['commission_lines']:,} commission lines, generated in {dataset['seconds']['total']} s."
        )
    return "\n".join([*lines, "", *notes])


BEGIN, END = "<!-- bench results: begin (python -m bench.table --readme) -->", "<!-- bench results: end -->"


def update_page(path: Path = Path(__file__).parent.parent / "docs" / "performance.md") -> None:
    """Replace the table between the performance page's markers with the current results."""
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + table() + "\n" + text[end:])


if __name__ == "__main__":
    if "--readme" in sys.argv[1:]:
        update_page()
    else:
        sys.stdout.write(table() + "\n")

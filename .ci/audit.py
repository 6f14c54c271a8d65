"""Audit requirements.lock for known vulnerabilities: `python .ci/audit.py requirements.lock`.

First checks that the lock is what the tests run on: every package partner-portal needs (with the
test extra, walked through the installed requirements) is installed at its locked version. Then runs
pip-audit (PyPI's vulnerability data) on the exact pins. pip-audit asks PyPI about each
pinned version (`/pypi/NAME/VERSION/json`); where PyPI (or a proxy in front of it) does not answer
that for a pin, pip-audit skips the pin, and this script falls back to the project's document
(`/pypi/NAME/json`), whose vulnerability list is that of the newest release: it applies when the
pin is the newest release. A pin neither way covers is listed as NOT AUDITED (a warning, with the
reason: usually an upper bound of another dependency keeps it below the newest release).

Exit status 1: a vulnerability in a pin, or pip-audit or PyPI failed (no network: loud, never a
silent pass). 0 otherwise, after printing what was audited and how.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PIP_AUDIT = [
    str(Path(sys.executable).with_name("pip-audit")),
    "--no-deps",
    "--disable-pip",
    "--progress-spinner",
    "off",
    "--format",
    "json",
    "--requirement",
]
NOT_FOUND = "Dependency not found on PyPI"
VENV_TOOLS = {"pip", "setuptools", "wheel"}  # come with the venv; `pip freeze` leaves them out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """canonical name → pinned version."""
    lines = (line.split("#")[0].strip() for line in lock.read_text().splitlines())
    return {canonical(name): version for name, version in (line.split("==", 1) for line in lines if line)}


def needed(project: str = "partner-portal", extras: tuple[str, ...] = ("test",)) -> dict[str, str]:
    """canonical name → installed version of every package the project needs (with `extras`),
    walked through the installed distributions' requirements."""
    found: dict[str, str] = {}
    pending = [(project, extras)]
    while pending:
        name, wanted_extras = pending.pop()
        distribution = metadata.distribution(name)
        for text in distribution.requires or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in wanted_extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            key = canonical(requirement.name)
            if key not in found or requirement.extras:
                found[key] = metadata.version(requirement.name)
                pending.append((requirement.name, tuple(requirement.extras)))
    return found


def lock_mismatches(pinned: dict[str, str]) -> list[str]:
    """Packages the project needs that the lock misses or pins at another version."""
    return [
        f"{name} {version} is installed, the lock has {pinned.get(name, 'nothing')}"
        for name, version in sorted(needed().items())
        if name not in VENV_TOOLS and pinned.get(name) != version
    ]


def project_document(name: str) -> dict:
    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=30) as response:
        return json.load(response)


def main(lock: Path) -> int:
    pinned = pins(lock)
    mismatches = lock_mismatches(pinned)
    if mismatches:
        print(
            f"{lock} is not what the tests installed (a dependency changed in pyproject.toml?): run "
            ".ci/refresh-lock and commit the lock.\n  " + "\n  ".join(mismatches),
            file=sys.stderr,
        )
        return 1
    ran = subprocess.run([*PIP_AUDIT, str(lock)], capture_output=True, text=True, timeout=300)
    if ran.returncode not in (0, 1) or not ran.stdout.strip():
        print(f"pip-audit failed (exit {ran.returncode}):\n{ran.stderr}", file=sys.stderr)
        return 1
    report = json.loads(ran.stdout)["dependencies"]
    found = [(d["name"], d["version"], v["id"], v.get("fix_versions")) for d in report for v in d.get("vulns", [])]
    by_pip_audit = [d["name"] for d in report if "skip_reason" not in d]
    unanswered = [d["name"] for d in report if d.get("skip_reason", "").startswith(NOT_FOUND)]
    other_skips = [
        f"{d['name']}: {d['skip_reason']}"
        for d in report
        if "skip_reason" in d and not d["skip_reason"].startswith(NOT_FOUND)
    ]

    with ThreadPoolExecutor(8) as pool:  # raises (exit 1) when PyPI cannot be reached
        documents = dict(zip(unanswered, pool.map(project_document, unanswered), strict=True))
    by_newest, not_audited = [], list(other_skips)
    for name, document in documents.items():
        version = pinned[canonical(name)]
        newest = document["info"]["version"]
        if version != newest:
            not_audited.append(
                f"{name} {version}: PyPI gives vulnerability data for the newest release ({newest}) only"
            )
            continue
        by_newest.append(name)
        found += [
            (name, version, v["id"], v.get("fixed_in")) for v in document["vulnerabilities"] if not v.get("withdrawn")
        ]

    print(
        f"pip-audit of {lock}: {len(pinned)} pins; {len(by_pip_audit)} audited by version, "
        f"{len(by_newest)} as the newest release (PyPI's project document), {len(not_audited)} not audited."
    )
    for line in not_audited:
        print(f"  NOT AUDITED {line}")
    for name, version, identifier, fixed in found:
        print(f"  VULNERABLE {name} {version}: {identifier} (fixed in {', '.join(fixed or []) or 'no release yet'})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock")))

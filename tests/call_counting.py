"""Work counted in Python function calls: deterministic, unlike the clock on a busy machine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# The work a request may cost: refusals and the worst documents within the limits make at most a few
# hundred thousand calls; validating one of the documents tests/test_abuse.py shows refused takes a
# million and up.
MAX_CALLS = 500_000


@dataclass
class Calls:
    count: int = 0


@contextmanager
def counted_calls() -> Iterator[Calls]:
    """Counts the Python and C function calls this thread makes while active (the app under test runs
    in it): a bound on work that does not depend on how busy the machine is."""
    calls = Calls()

    def count(frame: object, event: str, argument: object) -> None:
        if event in ("call", "c_call"):
            calls.count += 1

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        yield calls
    finally:
        sys.setprofile(previous)

"""The one source of 'now' (tests freeze it with time-machine)."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)

"""The one source of 'now' (tests freeze it with time-machine); in the lowest layer, so that
`permissions/` and `resolvers/` read the same clock."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)

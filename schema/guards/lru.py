"""A small least-recently-used cache for facts computed once per query text."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """At most `size` results, the least recently used dropped first: the keys hold query texts that
    clients choose, so an unbounded cache would let unique texts grow the process's memory."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The result kept under `key`, else `compute()`, kept."""
        try:
            value = self.entries[key]
        except KeyError:
            value = self.entries[key] = compute()
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        return value

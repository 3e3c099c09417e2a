"""Bounded sharing of equal values, so thousands of tracked runs hold one copy of each.

A long-lived index keeps the facts and scores of every run; the same runner names,
score keys and direction trees recur across all of them. Past ``limit`` distinct values
a table stops growing and values are simply no longer shared, so a hostile tree with
millions of distinct keys costs no more memory than sharing nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def share(memo: dict[Any, Any], key: Any, value: T, limit: int) -> T:
    """The value already stored under ``key``, else ``value`` (stored while under ``limit``)."""
    hit = memo.get(key)
    if hit is not None:
        return hit
    if len(memo) < limit:
        memo[key] = value
    return value

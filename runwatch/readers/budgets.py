"""Budgets for decoded data: how big a value is once its shared references are expanded.

A YAML file's aliases (``&a [*b, *b, ...]``, "billion laughs") and a pickle's memo (``a = [a, a]``
sixty times) decode cheaply into a few shared objects, but every walker that treats the result
as a tree (turning it into plain data, JSON, a table) visits each path: 2^60 of them. A decoder
checks ``expanded_size`` of what it decoded before handing it on: a linear walk over the distinct
objects with a memo of each one's expanded size, no recursion, so neither time nor the stack
depends on what the file claims. A cycle expands forever and counts as over the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Values a decoded run file may hold once expanded (a Lightning checkpoint's state is a few
# thousand; an hparams.yaml a few hundred).
MAX_EXPANDED = 1_000_000


class BudgetExceeded(ValueError):
    """A decoded value is over its budget; the message says which budget."""


def plain_children(obj: Any) -> Iterable[Any] | None:
    """The values inside a builtin container (keys and values of a dict), or None for a leaf."""
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return obj
    return None


def expanded_size(root: Any, limit: int = MAX_EXPANDED, children: Callable[[Any], Iterable[Any] | None] = plain_children) -> int:
    """How many values ``root`` holds counted as a tree (shared objects counted each time they appear).

    Raises ``BudgetExceeded`` past ``limit`` or on a cycle. Costs one visit per distinct object.
    """
    memo: dict[int, int] = {}
    # A dict, not a set: object ids are multiples of 16, and a set's linear probing on the low
    # bits turns them into long collision chains (seconds for 200,000 nested lists).
    open_ids: dict[int, None] = {}
    stack: list[tuple[Any, list[Any] | None]] = [(root, None)]
    visited = 0
    while stack:
        obj, kids = stack.pop()
        oid = id(obj)
        if kids is not None:  # its children are done
            open_ids.pop(oid, None)
            total = 1
            for c in kids:
                total += memo.get(id(c), 1)
                if total > limit:
                    raise BudgetExceeded(f"more than {limit:,} values once shared references are expanded")
            memo[oid] = total
            continue
        if oid in memo:
            continue
        got = children(obj)
        if got is None:
            continue
        if oid in open_ids:
            raise BudgetExceeded("a value that contains itself (a cycle)")
        visited += 1
        if visited > limit:
            raise BudgetExceeded(f"more than {limit:,} distinct values")
        kid_list = list(got)
        open_ids[oid] = None
        stack.append((obj, kid_list))
        for c in kid_list:
            if id(c) in open_ids and children(c) is not None:
                raise BudgetExceeded("a value that contains itself (a cycle)")
            if id(c) not in memo:
                stack.append((c, None))
    return memo.get(id(root), 1)

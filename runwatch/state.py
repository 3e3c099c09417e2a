"""Everything runwatch remembers for the life of a process, in one object.

runwatch keeps memos so that a second look at a project costs a few stats per run
instead of a re-read: config facts, trackers, the progress store, the process memory,
the log ends and event-file tails already read, interned score keys. Each of them is a
named table of the one ``State`` object, ``STATE``, so that nothing is hidden at
module level:

- ``STATE.table(name)`` returns the table (a dict, or any object with ``clear()``)
  registered under ``name``, creating it on first use; a module keeps a reference to
  it, so a lookup costs what a module-level dict costs;
- ``STATE.reset()`` empties every table (tests, a long-lived process that must forget
  what it read); ``runwatch.reset()`` is the same call;
- ``STATE.sizes()`` says how many entries each table holds.

Per-project state (trackers, store, facts, process snapshot) is owned by that
project's scan engine (``runwatch.run_status.engine``), itself kept in the
``"engines"`` table: resetting the state drops the engines too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class State:
    """Named tables of process-wide memos, all emptied by one ``reset()``."""

    def __init__(self) -> None:
        self._tables: dict[str, Any] = {}
        self._lock = threading.Lock()

    def table(self, name: str, factory: Callable[[], T] = dict) -> T:  # type: ignore[assignment]
        """The table registered as ``name``, made by ``factory`` on first use (must have ``clear()``)."""
        t = self._tables.get(name)
        if t is None:
            with self._lock:
                t = self._tables.get(name)
                if t is None:
                    t = factory()
                    if not callable(getattr(t, "clear", None)):
                        raise TypeError(f"state table {name!r}: {type(t).__name__} has no clear()")
                    self._tables[name] = t
        return t

    def reset(self) -> None:
        """Forget everything remembered: every table is emptied in place (references stay valid)."""
        with self._lock:
            tables = list(self._tables.values())
        for t in tables:
            t.clear()

    def sizes(self) -> dict[str, int]:
        """Entries per table (tables without a length count as -1)."""
        with self._lock:
            items = list(self._tables.items())
        out: dict[str, int] = {}
        for name, t in items:
            try:
                out[name] = len(t)
            except TypeError:
                out[name] = -1
        return out

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._tables)


STATE = State()


def reset() -> None:
    """``STATE.reset()``: forget every memo of this process."""
    STATE.reset()

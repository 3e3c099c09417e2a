"""A file's stat handed from one check to the next one a moment later, instead of a second ``stat``.

The quick check of a new process (progress_tracking/quick_check.py) stats a run's newest log; the
status's look at the log's end (readers/log_end.py) needs the same stat right after. ``note`` keeps
the stats of one run's check per thread (each note replaces the last), and ``take`` gives one back
once, within ``FRESH_S``: the same as a stat taken that moment earlier, never older.
"""

from __future__ import annotations

import os
import threading
import time

FRESH_S = 1.0
_LAST = threading.local()


def note(stats: dict[str, os.stat_result]) -> None:
    """The stats (by path) one check just took; replaces what an earlier note left."""
    _LAST.item = (stats, time.monotonic())


def take(path: str) -> os.stat_result | None:
    item = getattr(_LAST, "item", None)
    if item is None:
        return None
    stats, at = item
    st = stats.pop(path, None)
    if st is None or time.monotonic() - at >= FRESH_S:
        return None
    return st

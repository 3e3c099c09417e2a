"""Config files' stats taken once per scan: the facts batch stats each config, and a run's tracker
keys its cache on the same config's mtime (``pylon_evidence.config_file_key``) a moment later.

Within ``once_per_scan()`` (the scan engine wraps each scan in it) the batch's stats are kept and
the tracker's key takes them instead of stating the file again: one stat per config per scan, and
the key names the very version of the config the run's facts were read from. Outside a scan
nothing is kept, so a later scan always stats afresh.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_SCAN = threading.local()
UNKNOWN: Any = object()


@contextlib.contextmanager
def once_per_scan() -> Iterator[None]:
    previous = getattr(_SCAN, "sigs", None)
    if previous is None:
        _SCAN.sigs = {}
    try:
        yield
    finally:
        _SCAN.sigs = previous


def note(path: str, sig: Any) -> None:
    """A config's (mtime_ns, size), or None when absent, as the batch just stat'ed it."""
    sigs = getattr(_SCAN, "sigs", None)
    if sigs is not None:
        sigs[path] = sig


def sig_of(path: str) -> Any:
    """The sig noted in this scan, or UNKNOWN."""
    sigs = getattr(_SCAN, "sigs", None)
    if sigs is None:
        return UNKNOWN
    return sigs.get(path, UNKNOWN)

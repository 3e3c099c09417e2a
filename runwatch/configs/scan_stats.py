"""Config files' stats taken once per scan: the facts batch stats each config, and a run's tracker
keys its cache on the same config's mtime (``pylon_evidence.config_file_key``) a moment later.

Within ``once_per_scan()`` (the scan engine wraps each scan in it) the batch's stats are kept and
the tracker's key takes them instead of stating the file again: one stat per config per scan, and
the key names the very version of the config the run's facts were read from. Outside a scan
nothing is kept, so a later scan always stats afresh.

A scan whose facts were all reused under kernel watches (``run_status/facts_watch.py``: nothing in
the folders they came from changed) stats nothing; it hands the sigs those watches vouch for to
``vouched``, and ``sig_of`` answers from them. A path found to be a link (a symbolic link, or a file
with a second name) is noted in ``linked``: a watch on its folder would not see a change made
through its other name (so is a batch read by forked readers, whose stats are not noted here).
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
    previous_vouched = getattr(_SCAN, "vouched", None)
    previous_linked = getattr(_SCAN, "linked", False)
    if previous is None:
        _SCAN.sigs = {}
        _SCAN.vouched = None
        _SCAN.linked = False
    try:
        yield
    finally:
        _SCAN.sigs = previous
        _SCAN.vouched = previous_vouched
        _SCAN.linked = previous_linked


def noted() -> dict[str, Any] | None:
    """The sigs noted in this scan so far (the dict itself), or None outside a scan."""
    return getattr(_SCAN, "sigs", None)


def vouch(sigs: dict[str, Any]) -> None:
    """Sigs taken in an earlier scan that kernel watches say still hold: ``sig_of`` answers from them in this scan."""
    if getattr(_SCAN, "sigs", None) is not None:
        _SCAN.vouched = sigs


def note_linked() -> None:
    """A path just stat'ed is a link (see the module docstring)."""
    if getattr(_SCAN, "sigs", None) is not None:
        _SCAN.linked = True


def saw_link() -> bool:
    return bool(getattr(_SCAN, "linked", False))


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
    got = sigs.get(path, UNKNOWN)
    if got is UNKNOWN:
        vouched = _SCAN.vouched
        if vouched is not None:
            return vouched.get(path, UNKNOWN)
    return got

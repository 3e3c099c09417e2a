"""Compact encodings of what a tracker keeps per run (a live index keeps thousands).

- ``pack_stat``: a file's (mtime_ns, size) as one int;
- ``pack_dir_identity`` / ``unpack_dir_identity``: the work dir as the last computation
  listed it, (st_dev, st_ino, st_mtime_ns), as one int;
- ``details_state`` / ``decoded_epochs``: a RunDetails' per-epoch series in the progress
  store as one pickled blob of plain tuples, decoded on first use. A warm new process
  needs the logs and times, rarely the per-epoch series, and building 100 EpochRecords
  per run dominated loading the store.
- ``HashSet``: a set of 64-bit hashes at 8 bytes each.
"""

from __future__ import annotations

import pickle
from array import array
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

_MASK64 = (1 << 64) - 1
EPOCHS_BLOB = "_epochs_blob"
# Beside the blob: (newest finish time, the last finished epochs' durations), what a status needs of
# the series (the clock for "outdated", the rhythm), so that a new process need not decode it.
EPOCHS_SUMMARY = "_epochs_summary"
SUMMARY_DURATIONS = 8


def pack_stat(mtime_ns: int, size: int) -> int | tuple[int, int]:
    """(mtime_ns, size) as one int, exactly (distinct pairs give distinct ints); a tuple for sizes of 1 TiB and more."""
    return (mtime_ns << 40) | size if 0 <= size < 1 << 40 and mtime_ns >= 0 else (mtime_ns, size)


def pack_dir_identity(ident: tuple[int, int] | None, mtime_ns: int | None) -> int | None:
    """(st_dev, st_ino) and st_mtime_ns as ``st_dev << 128 | st_ino << 64 | st_mtime_ns``; None when unknown or too wide."""
    if ident is None or mtime_ns is None:
        return None
    dev, ino = ident
    if not (0 <= mtime_ns <= _MASK64 and 0 <= dev <= _MASK64 and 0 <= ino <= _MASK64):
        return None
    return (dev << 128) | (ino << 64) | mtime_ns


def unpack_dir_identity(packed: int | None) -> tuple[int, int, int] | None:
    """The (st_dev, st_ino, st_mtime_ns) ``pack_dir_identity`` packed, or None."""
    if packed is None:
        return None
    return (packed >> 128, (packed >> 64) & _MASK64, packed & _MASK64)


def details_state(state: dict[str, Any]) -> dict[str, Any]:
    """A RunDetails' ``__dict__`` as pickled: its epochs as one blob, made once and kept in ``state``'s owner.

    ``state`` is the object's own ``__dict__``: details never change once computed, so
    the blob made for the first save is kept there for later saves.
    """
    out = dict(state)
    if "epochs" in out:
        epochs = out.pop("epochs")
        if EPOCHS_BLOB not in out:
            out[EPOCHS_BLOB] = state[EPOCHS_BLOB] = pickle.dumps(
                [(e.index, e.finished, e.finish_time, e.duration, e.scores, e.scores_stat) for e in epochs],
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        if EPOCHS_SUMMARY not in out:
            times = [e.finish_time for e in epochs if e.finish_time is not None]
            durations = [e.duration for e in epochs if e.finished and e.duration is not None][-SUMMARY_DURATIONS:]
            out[EPOCHS_SUMMARY] = state[EPOCHS_SUMMARY] = (max(times) if times else None, tuple(durations))
    return out


def epochs_summary(details: Any) -> tuple[float | None, tuple[float, ...]] | None:
    """(newest finish time, last finished durations) of a loaded RunDetails whose epochs are still a
    blob; None when its epochs are decoded (or it has no summary): then read them."""
    d = getattr(details, "__dict__", None)
    if d is None or "epochs" in d:
        return None
    summary = d.get(EPOCHS_SUMMARY)
    if type(summary) is not tuple or len(summary) != 2:
        return None
    return summary


def decoded_epochs(state: dict[str, Any], make: Callable[..., Any]) -> list[Any] | None:
    """The epochs of a loaded RunDetails' ``__dict__``, decoded from its blob (kept for a later save); None without a blob."""
    blob = state.get(EPOCHS_BLOB)
    if blob is None:
        return None
    from runwatch.progress_tracking.progress_store import safe_loads

    try:
        epochs = [make(*t) for t in safe_loads(blob)]
    except Exception:  # a damaged blob: no series (the key still decides freshness)
        epochs = []
    state["epochs"] = epochs
    return epochs


class HashSet:
    """A set of 64-bit hashes at 8 bytes each: a sorted array, plus a small set of the newest.

    A Python set of ints costs about 100 bytes an entry (the int object and the table slot);
    for a per-run table of "already answered" hashes that is most of what a run keeps.
    """

    __slots__ = ("_sorted", "_new")
    _MERGE_AT = 256

    def __init__(self) -> None:
        self._sorted = array("q")
        self._new: set[int] = set()

    def __contains__(self, h: int) -> bool:
        if h in self._new:
            return True
        a = self._sorted
        i = bisect_left(a, h)
        return i < len(a) and a[i] == h

    def add(self, h: int) -> None:
        if h in self:
            return
        self._new.add(h)
        if len(self._new) >= self._MERGE_AT:
            self._sorted = array("q", sorted([*self._sorted, *self._new]))
            self._new = set()

    def clear(self) -> None:
        self._sorted = array("q")
        self._new = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._new)

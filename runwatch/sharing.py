"""Sharing of equal values, so thousands of tracked runs hold one copy of each.

A long-lived index keeps the facts, watched paths and scores of every run; the same
runner names, score keys, relative paths and direction trees recur across all of
them. Every trick runwatch uses to keep one copy is here:

- ``share(memo, key, value, limit)``: a bounded table; past ``limit`` distinct values
  it stops growing and values are simply no longer shared, so a hostile tree with
  millions of distinct keys costs no more memory than sharing nothing;
- ``Pool``: a table pruned of the values no run refers to any more (CPython reference
  counts), for values that come and go (a run's watched paths move with its epochs);
- ``shared_paths`` / ``shared_names`` / ``shared_hint``: a tracker's watched paths, its
  racy dirs' entry names and its whole settled change-detection hint;
- ``compact_scores``: per-epoch score dicts rebuilt to use one string per score key;
- ``split_dict``: a small dict stored as a split-key table shared by a class's instances.

Every table is one of ``runwatch.state.STATE``'s, emptied by ``runwatch.state.reset()``.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from runwatch.state import STATE

T = TypeVar("T")


def share(memo: dict[Any, Any], key: Any, value: T, limit: int) -> T:
    """The value already stored under ``key``, else ``value`` (stored while under ``limit``)."""
    hit = memo.get(key)
    if hit is not None:
        return hit
    if len(memo) < limit:
        memo[key] = value
    return value


# ---------------------------------------------------------------- a pool pruned by reference counts


def _refcounts(items: dict[Any, Any]) -> list[tuple[Any, int, bool]]:
    """(key, references to its value, whether the key is the value) for each item."""
    getrefcount = sys.getrefcount
    return [(k, getrefcount(v), k is v) for k, v in list(items.items())]


def _refs_when_unused(key_is_value: bool) -> int:
    """What ``_refcounts`` says of a value that nothing but its dict refers to."""
    probe: Any = tuple("\0probe") if key_is_value else {}  # made at run time: no constant refers to it
    items = {probe if key_is_value else tuple("\0key"): probe}
    del probe
    return _refcounts(items)[0][1]


_UNUSED = {True: _refs_when_unused(True), False: _refs_when_unused(False)}


def _unused_keys(items: dict[Any, Any]) -> list[Any]:
    """Keys whose value nothing but ``items`` refers to (CPython reference counts)."""
    return [k for k, refs, same in _refcounts(items) if refs <= _UNUSED[same]]


class Pool:
    """Equal values shared between runs: a live index holds one of each, not one per run.

    Values are never mutated (a tracker replaces its hint, never changes it). When the
    pool has doubled since it was last pruned, values no run refers to any more (a run
    that moved on to its next epoch) are dropped, so it keeps what is in use and little else.
    """

    __slots__ = ("_items", "_limit")

    def __init__(self) -> None:
        self._items: dict[Any, Any] = {}
        self._limit = 256

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self._limit = 256

    def find(self, key: Any) -> Any:
        return self._items.get(key)

    def get(self, key: Any, make: Any = None) -> Any:
        """The value kept for ``key``; else ``make()`` (or ``key`` itself), now kept."""
        items = self._items
        hit = items.get(key)
        if hit is not None:
            return hit
        if len(items) >= self._limit:
            for k in _unused_keys(items):
                del items[k]
            self._limit = max(256, 2 * len(items))
        value = items[key] = make() if make is not None else key
        return value


# ---------------------------------------------------------------- change-detection hints

_PATHS: Pool = STATE.table("sharing.watched_paths", Pool)  # tuples of watched paths, relative to the work dir
_NAMES: Pool = STATE.table("sharing.racy_names", Pool)  # entry names of racy dirs
_HINTS: Pool = STATE.table("sharing.settled_hints", Pool)  # settled hints, by (dirs, files)
MISSING_HINT: dict[str, Any] = {"missing": True}  # read-only: the hint of every run without a work dir


_SIGS: Pool = STATE.table("sharing.config_sigs", Pool)  # trackers' config signatures (a tuple of plain values)


def shared_sig(sig: Any) -> Any:
    """A tracker's config signature, shared with other runs' equal ones (runs of one config shape)."""
    try:
        return _SIGS.get(sig)
    except TypeError:  # an unhashable part: kept as it is
        return sig


def shared_paths(paths: tuple[str, ...]) -> tuple[str, ...]:
    """A tuple of watched paths, shared with other runs' equal ones."""
    return _PATHS.get(paths)


def shared_names(names: Any) -> Any:
    """A racy dir's entry names, interned, as a tuple shared with other runs' equal ones."""
    if type(names) is not tuple:
        return names
    hit = _NAMES.find(names)
    if hit is not None:
        return hit
    intern = sys.intern
    return _NAMES.get(tuple([intern(x) for x in names]))


def shared_hint(dirs: tuple[str, ...], files: tuple[str, ...], names: dict[str, Any]) -> dict[str, Any]:
    """The hint for these watched paths: shared between runs once no dir is racy (read-only)."""
    if names:
        return {"dirs": dirs, "files": files, "names": names}
    return _HINTS.get((dirs, files), lambda: {"dirs": dirs, "files": files, "names": {}})


# ---------------------------------------------------------------- score keys

# Score keys seen so far, one string object each. A JSON reader makes a fresh key string
# per file, so 2,000 runs of 50 epochs held ~100,000 copies of "mean_IoU" and "loss".
# Bounded: a tree with absurdly many distinct keys just stops sharing them.
_KEYS: dict[str, str] = STATE.table("sharing.score_keys")
_MAX_KEYS = 50_000


def _key(k: Any) -> Any:
    return share(_KEYS, k, k, _MAX_KEYS) if type(k) is str else k


def shared_keys(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` itself when its keys are already the shared ones, else an equal dict that uses them."""
    if all(_KEYS.get(k) is k for k in d):
        return d
    return {_key(k): (shared_keys(v) if type(v) is dict else v) for k, v in d.items()}


def compact_scores(status: Any) -> None:
    """Make a RunStatus's per-epoch score dicts (and best/latest, which alias one of them) share key strings.

    Only dicts this evaluation read are rebuilt: one already compacted is left as is
    (identity check), so a run with 100 epochs costs a few key lookups per change. The
    dicts are replaced, never mutated, so a detail request reading them meanwhile is safe.
    """
    details = status.details
    progress = status.progress
    renamed: dict[int, dict[str, Any]] = {}
    if details is not None:
        for ep in details.epochs:
            sc = ep.scores
            if type(sc) is dict and sc:
                new = shared_keys(sc)
                if new is not sc:
                    renamed[id(sc)] = new
                    ep.scores = new
    for attr in ("best_score", "latest_score"):
        sc = getattr(progress, attr, None)
        if type(sc) is dict and sc:
            new = renamed.get(id(sc)) or shared_keys(sc)
            if new is not sc:
                setattr(progress, attr, new)


# ---------------------------------------------------------------- split-key dicts


def split_dict(holder_cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """An equal dict stored as a split table shared by every instance of ``holder_cls``.

    Instances of one class keep their ``__dict__`` as a split table, keys shared by all
    of them: ~100 bytes for a dict of four keys instead of ~180. ``holder_cls`` is a plain
    class never used as an object (one per kind of dict); the result is an ordinary dict
    to every reader.
    """
    holder = holder_cls()
    for k, v in d.items():
        setattr(holder, k, v)  # attribute stores (not __dict__.update) keep the table split
    return holder.__dict__

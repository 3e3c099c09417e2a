"""Cache of config facts: in memory per process, and on disk so a second process does not re-parse.

An entry is valid while every file it depended on (the config, config modules it
imported, project sources used for kind and DIRECTIONS, and module paths probed but
absent) still has the same (mtime_ns, size) (``loader.StatCache``). Three layers, one
serialisation of the facts (``facts_codec``):

- hot entries: facts already handed out, returned again (the same object) while their
  dependencies are unchanged; written to the hot file (``hot_file``) for the next process;
- memory: records stored or read in this process;
- the disk store (``sqlite_store``): every process's records, read once per process.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.configs.facts_codec import READER_VERSION, Deps, facts_from_record, facts_to_record
from runwatch.configs.facts_codec import _DEPS_DECODED  # noqa: F401  (re-exported: benchmarks/server_bench.py sizes it)
from runwatch.configs.hot_file import HOT_FILE, HotRecord, SharedDeps, read_hot_file, write_hot_file
from runwatch.configs.loader import FileSig, StatCache
from runwatch.configs.sqlite_store import CACHE_FILE, CORRUPT_FILE, DiskStore, Entry, Row, decode_entry
from runwatch.state import STATE

__all__ = ["CACHE_FILE", "CORRUPT_FILE", "HOT_FILE", "READER_VERSION", "Deps", "FactsCache", "cache_for", "clear_memory_caches"]

log = logging.getLogger("runwatch.cache")


def deps_valid(deps: Deps, stats: StatCache) -> bool:
    return all(stats.sig(p) == sig for p, sig in deps.items())


def _decoded(entry: Entry, path: str) -> ConfigFacts | None:
    """An entry's facts, each hit with its own direction dicts; None for a record of the wrong shape."""
    try:
        return facts_from_record(entry[1], path, copy_directions=True)
    except (ValueError, TypeError, IndexError, KeyError):
        return None


# A hot entry: (the config's own sig, packed (see _pack_sig); the other deps as one shared
# tuple; the facts handed out). Kept under (key prefix, config path): see FactsCache.
HotEntry = tuple[Any, SharedDeps, ConfigFacts]
_SHARED: dict[SharedDeps, SharedDeps] = STATE.table("configs.cache.shared_deps")


def _shared(items: SharedDeps) -> SharedDeps:
    """One tuple object per distinct dependency set, so a batch checks each set once."""
    hit = _SHARED.get(items)
    if hit is None:
        if len(_SHARED) > 10_000:
            _SHARED.clear()
        hit = _SHARED[items] = items
    return hit


def _pack_sig(sig: FileSig) -> Any:
    """A sig as one int, exactly (distinct sigs stay distinct); other shapes as they are."""
    if type(sig) is tuple and len(sig) == 2:
        m, size = sig
        if type(m) is int and type(size) is int and m >= 0 and 0 <= size < 1 << 40:
            return (m << 40) | size
    return sig


def _unpack_sig(packed: Any) -> FileSig:
    return (packed >> 40, packed & ((1 << 40) - 1)) if type(packed) is int else packed


def _own_path(path: str) -> str:
    """``os.path.abspath(path)``, without the call for a path that is already absolute and normal."""
    return path if path[:1] == os.sep and "/." not in path and "//" not in path else os.path.abspath(path)


def _split_key(key: str, own: str) -> tuple[str, str]:
    """(prefix, own): where a hot entry is kept, so that it needs no key string of its own.

    A key is made of the reader's settings and the config's path; stored whole, it was a
    second copy of the path for every config. When the key ends with the path the entry is
    kept under (the rest, path), the path being the string the facts already hold; else
    under (key + NUL, path). Either way the pair gives back the key, so two keys never
    share an entry (paths hold no NUL).
    """
    if len(key) > len(own) and key.endswith(own):
        return key[: len(key) - len(own)], own
    return key + "\0", own


def _join_key(prefix: str, own: str) -> str:
    return prefix[:-1] if prefix.endswith("\0") else prefix + own


# ---------------------------------------------------------------------- the cache
# ``checked``'s entry for "the disk store is as loaded" (its other keys are ids of objects: never 0).
_DISK_UNCHANGED = 0


class FactsCache:
    """Hot entries and memory in front of an optional disk store; records are decoded afresh on every hit."""

    def __init__(self, disk: DiskStore | None) -> None:
        self.disk = disk
        # The hot entries of the last process, as records (see save_hot): a new process
        # starts from one small pickle instead of decoding every SQLite row.
        self.hot_path: Path | None = disk.directory / HOT_FILE if disk is not None else None
        self.hot_raw: dict[str, HotRecord] | None = None
        self._hot_shared: list[SharedDeps] = []
        self._hot_dirty = False
        self.memory: dict[str, Entry] = {}
        # Rows loaded from disk but not decoded yet (a warm new process decodes only what it asks for).
        self.raw: dict[str, tuple[str, str]] = {}
        # Facts already handed out, returned again (same object) while their deps are unchanged;
        # by key prefix, then config path (see _split_key).
        self.hot: dict[str, dict[str, HotEntry]] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.disk is not None:
            loaded = self.disk.load_all_raw()
            with self._lock:
                for k, v in loaded.items():
                    if k not in self.memory:
                        self.raw.setdefault(k, v)

    def _entry(self, key: str) -> Entry | None:
        entry = self.memory.get(key)
        if entry is None and key in self.raw:
            # Decoded once and not kept: a batch read remembers the facts (hot), which is
            # all a long-lived process needs; a later miss asks the disk store again.
            entry = decode_entry(self.raw.pop(key))
        return entry

    def lookup(self, key: str, stats: StatCache, path: str) -> ConfigFacts | None:
        hit = self.lookup_entry(key, stats, path)
        return hit[0] if hit is not None else None

    def lookup_entry(self, key: str, stats: StatCache, path: str, checked: dict[int, bool] | None = None) -> tuple[ConfigFacts, Deps] | None:
        """Fresh facts (a copy) and the deps they are valid for, or None.

        ``checked`` (one per batch, as for ``hot_lookup``): whether the disk store changed since it was
        loaded is asked once per batch, not once per missing key (a cold scan misses every key).
        """
        self._ensure_loaded()
        entry = self._entry(key)
        if entry is not None and deps_valid(entry[0], stats):
            facts = _decoded(entry, path)
            if facts is not None:
                return facts, entry[0]
        if self.disk is not None and checked is not None:
            unchanged = checked.get(_DISK_UNCHANGED)
            if unchanged is None:
                unchanged = checked[_DISK_UNCHANGED] = self.disk.unchanged_since_load()
            if unchanged:
                return None  # nothing was written since every row was loaded: not on disk either
        if self.disk is not None:  # another process may have written it since we loaded
            fresh = self.disk.get(key)
            if fresh is not None and deps_valid(fresh[0], stats):
                facts = _decoded(fresh, path)
                if facts is not None:
                    self.memory[key] = fresh
                    return facts, fresh[0]
        return None

    def hot_lookup(self, key: str, stats: StatCache, path: str, checked: dict[int, bool]) -> ConfigFacts | None:
        """The facts handed out before for this key, the same object, if no dependency changed.

        ``checked`` (one per batch) remembers which shared dependency sets were verified,
        so 10,000 configs sharing 10 sources cost one stat each plus one per config.
        """
        own = _own_path(path)
        by_path = self.hot.get(_split_key(key, own)[0])
        hot = by_path.get(own) if by_path is not None else None
        if hot is None:
            found = self._from_hot_file(key, path, own)
            if found is None:
                return None
            own, hot = found
        own_sig, shared, facts = hot
        if facts.path != path or _pack_sig(stats.sig(own)) != own_sig:
            return None
        ok = checked.get(id(shared))
        if ok is None:
            ok = checked[id(shared)] = all(stats.sig(p) == sig for p, sig in shared)
        return facts if ok else None

    def remember(self, key: str, own: str, deps: Deps, facts: ConfigFacts) -> None:
        """Keep handed-out facts for ``hot_lookup`` (callers must treat them as read-only)."""
        if own not in deps:
            return
        shared = _shared(tuple(sorted((p, s) for p, s in deps.items() if p != own)))
        if facts.path == own:
            own = facts.path  # one string for both (a live index holds the facts' path anyway)
        self._put_hot(key, own, (_pack_sig(deps[own]), shared, facts))
        self._hot_dirty = True

    def _put_hot(self, key: str, own: str, hot: HotEntry) -> None:
        prefix, own = _split_key(key, own)
        by_path = self.hot.get(prefix)
        if by_path is None:
            by_path = self.hot[prefix] = {}
        by_path[own] = hot

    def _hot_items(self) -> Any:
        """(key, own path, hot entry) of every hot entry."""
        for prefix, by_path in self.hot.items():
            for own, hot in by_path.items():
                yield _join_key(prefix, own), own, hot

    def _from_hot_file(self, key: str, path: str, own_path: str) -> tuple[str, HotEntry] | None:
        """(own path, entry) for a key the last process kept hot, now kept here; None if it did not.

        Equal strings are replaced by the caller's ``path`` and ``own_path``: the file's
        copies would be one more string per config for as long as the entry is kept.
        """
        if self.hot_raw is None:
            self.hot_raw = {}
            self._load_hot()
        raw = self.hot_raw.pop(key, None)
        if raw is None:
            return None
        try:
            own, own_sig, idx, ft = raw
            facts = facts_from_record(ft)
            if facts.path == path:
                facts.path = path
            if own == own_path:
                own = own_path
            hot = (_pack_sig(own_sig), self._hot_shared[idx], facts)
        except (ValueError, TypeError, IndexError):
            return None
        self._put_hot(key, own, hot)
        return own, hot

    def _load_hot(self) -> None:
        got = read_hot_file(self.hot_path) if self.hot_path is not None else None
        if got is None:
            return
        try:
            self._hot_shared = [_shared(tuple(x)) for x in got[0]]
        except TypeError:  # a damaged file: no head start, nothing else changes
            return
        self.hot_raw = got[1]

    def save_hot(self) -> None:
        """Write the hot entries (facts as records) for the next process, if any changed; never raises."""
        if not self._hot_dirty or self.hot_path is None:
            return
        self._hot_dirty = False
        shared_ids: dict[int, int] = {}
        shared: list[SharedDeps] = []

        def index_of(sh: SharedDeps) -> int:
            idx = shared_ids.get(id(sh))
            if idx is None:
                idx = shared_ids[id(sh)] = len(shared)
                shared.append(sh)
            return idx

        entries: dict[str, HotRecord] = {}
        for key, own, (own_sig, sh, facts) in self._hot_items():
            entries[key] = (own, _unpack_sig(own_sig), index_of(sh), facts_to_record(facts))
        # Entries still undecoded from the old file keep their old shared index: re-map them.
        for key, (own, own_sig, old_idx, ft) in (self.hot_raw or {}).items():
            if key not in entries:
                entries[key] = (own, own_sig, index_of(self._hot_shared[old_idx]), ft)
        try:
            write_hot_file(self.hot_path, shared, entries)
        except (OSError, pickle.PicklingError, TypeError, ValueError) as e:
            if isinstance(e, OSError) and self.disk is not None and not self.disk.disabled and not self.disk.read_only:
                self.disk.read_only = True  # the same disk: one warning for both files
                log.warning("runwatch: config cache %s not written (%s)", self.hot_path, e)

    def store(self, key: str, deps: Deps, facts: ConfigFacts, write: bool = True, keep: bool = True) -> Row:
        """Record facts (``keep``: also in memory; a batch keeps them as hot entries instead)."""
        row = (key, dict(deps), facts_to_record(facts, copy_directions=True))  # the caller may mutate `facts`
        with self._lock:
            if keep:
                self.memory[key] = (row[1], row[2])
            else:
                self.memory.pop(key, None)
                self.raw.pop(key, None)
        if write and self.disk is not None:
            self.disk.put_many([row])
        return row

    def flush(self, rows: list[Row]) -> None:
        if self.disk is not None:
            self.disk.put_many(rows)


class _Caches(dict[str, FactsCache]):
    """The process's caches by cache dir (``""``: memory only); emptying it closes their stores."""

    def clear(self) -> None:
        for c in self.values():
            if c.disk is not None:
                c.disk.close()
        super().clear()


_CACHES: _Caches = STATE.table("configs.cache.caches", _Caches)
_CACHES_LOCK = threading.Lock()


def cache_for(directory: Path | None) -> FactsCache:
    """The process-wide cache for a cache dir (None: memory only)."""
    key = str(directory) if directory is not None else ""
    with _CACHES_LOCK:
        c = _CACHES.get(key)
        if c is None:
            c = FactsCache(DiskStore(directory) if directory is not None else None)
            _CACHES[key] = c
        return c


def clear_memory_caches() -> None:
    """Forget in-process entries (``runwatch.state.reset()`` forgets them with every other memo)."""
    with _CACHES_LOCK:
        _CACHES.clear()

"""Cache of config facts: in memory per process, and on disk so a second process does not re-parse.

An entry is valid while every file it depended on (the config, config modules it
imported, project sources used for kind and DIRECTIONS, and module paths probed but
absent) still has the same (mtime_ns, size). The disk store is one SQLite file: its
transactions make writes atomic and safe when two processes write at once. A cache
is never worth a crash: a corrupt or locked store is a miss, a corrupt file is moved
aside and recreated, and if that fails the process carries on with memory only.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import sqlite3
import threading
from pathlib import Path
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts, compact_facts
from runwatch.configs.loader import FileSig, StatCache

READER_VERSION = 1
CACHE_FILE = f"configs-v{READER_VERSION}.sqlite"
# A store that is really damaged is moved aside under this one name (replaced each time:
# never one file per process), then recreated.
CORRUPT_FILE = f"{CACHE_FILE}.corrupt"

log = logging.getLogger("runwatch.cache")

# SQLite result codes (primary, the low byte of an extended code).
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _is_corrupt(e: sqlite3.Error) -> bool:
    """A damaged file (worth moving aside), not a full disk, a read-only dir or an I/O error."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(e)
    return "malformed" in text or "not a database" in text

Deps = dict[str, FileSig]
Entry = tuple[Deps, dict[str, Any]]


# ---------------------------------------------------------------------- (de)serialisation
def facts_to_json(f: ConfigFacts) -> dict[str, Any]:
    return {
        "path": f.path,
        "is_multi_stage": f.is_multi_stage,
        "error": f.error,
        "warnings": list(f.warnings),
        "stages": [
            {
                "runner": _ref_out(s.runner),
                "runner_kind": s.runner_kind,
                "epochs": s.epochs,
                "es_enabled": s.early_stopping_enabled,
                "es_patience": s.early_stopping_patience,
                "metric": _ref_out(s.metric),
                "directions": _copy_tree(s.directions),
                "directions_source": s.directions_source,
                "work_dir": s.work_dir,
                "keys": list(s.keys),
            }
            for s in f.stages
        ],
    }


def _copy_tree(v: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars): ``deepcopy`` without its bookkeeping."""
    t = type(v)
    if t is dict:
        return {k: _copy_tree(x) for k, x in v.items()}
    if t is list or t is tuple:
        return [_copy_tree(x) for x in v] if t is list else tuple(_copy_tree(x) for x in v)
    if t in (str, int, float, bool) or v is None:
        return v
    return copy.deepcopy(v)


def facts_from_json(d: dict[str, Any], path: str | None = None) -> ConfigFacts:
    stages = [
        StageFacts(
            runner=_ref_in(s["runner"]),
            runner_kind=s["runner_kind"],
            epochs=s["epochs"],
            early_stopping_enabled=s["es_enabled"],
            early_stopping_patience=s["es_patience"],
            metric=_ref_in(s["metric"]),
            directions=_copy_tree(s["directions"]),
            directions_source=s["directions_source"],
            work_dir=s["work_dir"],
            keys=tuple(s["keys"]),
        )
        for s in d["stages"]
    ]
    # Strings and refs shared with other configs' (each hit still gets its own direction dicts).
    return compact_facts(
        ConfigFacts(
            path=path if path is not None else d["path"],
            stages=stages,
            is_multi_stage=d["is_multi_stage"],
            error=d["error"],
            warnings=list(d["warnings"]),
        ),
        share_directions=False,
    )


def _ref_out(r: ClassRef | None) -> list[Any] | None:
    return None if r is None else [r.module, r.qualname]


def _ref_in(v: list[Any] | None) -> ClassRef | None:
    return None if v is None else ClassRef(v[0], v[1])


def deps_valid(deps: Deps, stats: StatCache) -> bool:
    return all(stats.sig(p) == sig for p, sig in deps.items())


_DEPS_DECODED: dict[str, Deps] = {}


def _deps_in(raw: str) -> Deps:
    """Decoded deps, shared by text: the configs of a project mostly have the same dependency set."""
    hit = _DEPS_DECODED.get(raw)
    if hit is None:
        hit = {p: (tuple(s) if s is not None else None) for p, s in json.loads(raw).items()}  # type: ignore[misc]
        if len(_DEPS_DECODED) > 100_000:
            _DEPS_DECODED.clear()
        _DEPS_DECODED[raw] = hit
    return dict(hit)


# A hot entry: (the config's own sig, packed (see _pack_sig); the other deps as one shared
# tuple; the facts handed out). Kept under (key prefix, config path): see FactsCache.
HotEntry = tuple[Any, tuple[tuple[str, FileSig], ...], ConfigFacts]
_SHARED: dict[tuple[tuple[str, FileSig], ...], tuple[tuple[str, FileSig], ...]] = {}


def _shared(items: tuple[tuple[str, FileSig], ...]) -> tuple[tuple[str, FileSig], ...]:
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


# ---------------------------------------------------------------------- disk store
class DiskStore:
    """One SQLite file; every failure is swallowed into 'no entry' / 'not written'."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / CACHE_FILE
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self.disabled = False
        # Writing failed for want of space (or an I/O error): reads go on, writes stop.
        self.read_only = False

    def _connect(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=2.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, deps TEXT NOT NULL, facts TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as e:
            if _is_corrupt(e):
                return self._recover()
            self._give_up(e)
            return None
        except (OSError, sqlite3.Error) as e:
            self._give_up(e)
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _give_up(self, e: BaseException) -> None:
        """A full disk, a read-only or vanished dir: memory only from now on, one warning."""
        if not self.disabled:
            log.warning("runwatch: config cache %s not usable (%s); carrying on without it", self.path, e)
        self.disabled = True
        self._close()

    def _recover(self) -> sqlite3.Connection | None:
        """A corrupt file: move it aside (another process may already have), then start afresh once."""
        self._close()
        try:
            os.replace(self.path, self.path.with_name(CORRUPT_FILE))
        except OSError:
            pass
        try:
            conn = sqlite3.connect(str(self.path), timeout=2.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, deps TEXT NOT NULL, facts TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error):
            self.disabled = True
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    def _run(self, fn: Any) -> Any:
        with self._lock:
            for attempt in range(2):
                conn = self._connect()
                if conn is None:
                    return None
                try:
                    return fn(conn)
                except sqlite3.DatabaseError as e:
                    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in str(e) or "busy" in str(e):
                        return None
                    if not _is_corrupt(e):  # disk full, I/O error, read-only: the file is fine, the disk is not
                        if not self.read_only:
                            log.warning("runwatch: config cache %s cannot be written (%s); reading it, not writing it", self.path, e)
                        self.read_only = True
                        return None
                    if attempt == 0:
                        self._recover()
                except (ValueError, TypeError, KeyError):
                    return None
            return None

    def load_all(self) -> dict[str, Entry]:
        return {k: e for k, raw in self.load_all_raw().items() if (e := decode_entry(raw)) is not None}

    def load_all_raw(self) -> dict[str, tuple[str, str]]:
        """Every row, undecoded (one query; rows are decoded when first looked up)."""

        def q(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
            return {key: (deps, facts) for key, deps, facts in conn.execute("SELECT key, deps, facts FROM facts")}

        return self._run(q) or {}

    def get(self, key: str) -> Entry | None:
        def q(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute("SELECT deps, facts FROM facts WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            try:
                return _deps_in(row[0]), json.loads(row[1])
            except (ValueError, TypeError, AttributeError):
                return None

        return self._run(q)

    def put_many(self, rows: list[tuple[str, Deps, dict[str, Any]]]) -> bool:
        if not rows:
            return True
        if self.read_only:
            return False
        payload = [(k, json.dumps(d), json.dumps(f)) for k, d, f in rows]

        def q(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO facts (key, deps, facts) VALUES (?, ?, ?)", payload)
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
            return True

        return bool(self._run(q))


def decode_entry(raw: tuple[str, str]) -> Entry | None:
    try:
        return _deps_in(raw[0]), json.loads(raw[1])
    except (ValueError, TypeError, AttributeError):
        return None


HOT_FILE = f"configs-hot-v{READER_VERSION}.pickle"


class _PlainUnpickler(pickle.Unpickler):
    """Builtin containers and scalars only: the hot file is data, never code."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in ("tuple", "list", "dict", "set", "frozenset"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden class {module}.{name} in the config cache")


def facts_to_tuple(f: ConfigFacts) -> tuple:
    return (
        f.path,
        f.is_multi_stage,
        f.error,
        tuple(f.warnings),
        tuple(
            (
                None if s.runner is None else (s.runner.module, s.runner.qualname),
                s.runner_kind,
                s.epochs,
                s.early_stopping_enabled,
                s.early_stopping_patience,
                None if s.metric is None else (s.metric.module, s.metric.qualname),
                s.directions,
                s.directions_source,
                s.work_dir,
                tuple(s.keys),
            )
            for s in f.stages
        ),
    )


def facts_from_tuple(t: tuple) -> ConfigFacts:
    path, multi, error, warnings, stages = t
    return _compact_own(ConfigFacts(
        path=path,
        stages=[
            StageFacts(
                runner=None if r is None else ClassRef(r[0], r[1]),
                runner_kind=kind,
                epochs=epochs,
                early_stopping_enabled=es,
                early_stopping_patience=patience,
                metric=None if m is None else ClassRef(m[0], m[1]),
                directions=directions,
                directions_source=source,
                work_dir=work_dir,
                keys=tuple(keys),
            )
            for r, kind, epochs, es, patience, m, directions, source, work_dir, keys in stages
        ],
        is_multi_stage=multi,
        error=error,
        warnings=list(warnings),
    ))


def _compact_own(f: ConfigFacts) -> ConfigFacts:
    """Strings and refs shared with other configs' (the direction dicts stay each entry's own)."""
    return compact_facts(f, share_directions=False)


# ---------------------------------------------------------------------- the cache
class FactsCache:
    """Memory in front of an optional disk store; entries are JSON dicts, copied out on every hit."""

    def __init__(self, disk: DiskStore | None) -> None:
        self.disk = disk
        # The hot entries of the last process, as plain tuples (see save_hot): a new
        # process starts from one small pickle instead of decoding every SQLite row.
        self.hot_path: Path | None = disk.directory / HOT_FILE if disk is not None else None
        self.hot_raw: dict[str, tuple[str, FileSig, int, tuple]] | None = None
        self._hot_shared: list[tuple[tuple[str, FileSig], ...]] = []
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

    def lookup_entry(self, key: str, stats: StatCache, path: str) -> tuple[ConfigFacts, Deps] | None:
        """Fresh facts (a copy) and the deps they are valid for, or None."""
        self._ensure_loaded()
        entry = self._entry(key)
        if entry is not None and deps_valid(entry[0], stats):
            return facts_from_json(entry[1], path), entry[0]
        if self.disk is not None:  # another process may have written it since we loaded
            fresh = self.disk.get(key)
            if fresh is not None and deps_valid(fresh[0], stats):
                self.memory[key] = fresh
                return facts_from_json(fresh[1], path), fresh[0]
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
            facts = facts_from_tuple(ft)
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
        if self.hot_path is None:
            return
        try:
            with open(self.hot_path, "rb") as f:
                obj = _PlainUnpickler(f).load()
            if not isinstance(obj, dict) or obj.get("version") != READER_VERSION:
                return
            self._hot_shared = [_shared(tuple(x)) for x in obj["shared"]]
            entries = obj["entries"]
            if isinstance(entries, dict):
                self.hot_raw = entries
        except Exception:  # missing or damaged: no head start, nothing else changes
            self.hot_raw, self._hot_shared = {}, []

    def save_hot(self) -> None:
        """Write the hot entries (facts as tuples) for the next process, if any changed; never raises."""
        if not self._hot_dirty or self.hot_path is None:
            return
        self._hot_dirty = False
        shared_ids: dict[int, int] = {}
        shared: list[tuple[tuple[str, FileSig], ...]] = []
        entries: dict[str, tuple[str, FileSig, int, tuple]] = dict(self.hot_raw or {})
        hot_keys: set[str] = set()
        for key, own, (own_sig, sh, facts) in self._hot_items():
            hot_keys.add(key)
            idx = shared_ids.get(id(sh))
            if idx is None:
                idx = shared_ids[id(sh)] = len(shared)
                shared.append(sh)
            entries[key] = (own, _unpack_sig(own_sig), idx, facts_to_tuple(facts))
        # Entries still undecoded from the old file keep their old shared index: re-map them.
        if self.hot_raw:
            for key, (own, own_sig, old_idx, ft) in self.hot_raw.items():
                if key in hot_keys:
                    continue
                sh = self._hot_shared[old_idx]
                idx = shared_ids.get(id(sh))
                if idx is None:
                    idx = shared_ids[id(sh)] = len(shared)
                    shared.append(sh)
                entries[key] = (own, own_sig, idx, ft)
        tmp = self.hot_path.with_name(f".{HOT_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.hot_path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                pickle.dump({"version": READER_VERSION, "shared": shared, "entries": entries}, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.hot_path)
        except (OSError, pickle.PicklingError, TypeError, ValueError) as e:
            if isinstance(e, OSError) and self.disk is not None and not self.disk.disabled and not self.disk.read_only:
                self.disk.read_only = True  # the same disk: one warning for both files
                log.warning("runwatch: config cache %s not written (%s)", self.hot_path, e)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def store(self, key: str, deps: Deps, facts: ConfigFacts, write: bool = True, keep: bool = True) -> tuple[str, Deps, dict[str, Any]]:
        """Record facts (``keep``: also in memory; a batch keeps them as hot entries instead)."""
        row = (key, dict(deps), facts_to_json(facts))  # a fresh tree (directions copied): the caller may mutate `facts`
        with self._lock:
            if keep:
                self.memory[key] = (row[1], row[2])
            else:
                self.memory.pop(key, None)
                self.raw.pop(key, None)
        if write and self.disk is not None:
            self.disk.put_many([row])
        return row

    def flush(self, rows: list[tuple[str, Deps, dict[str, Any]]]) -> None:
        if self.disk is not None:
            self.disk.put_many(rows)


_CACHES: dict[str, FactsCache] = {}
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
    """Forget in-process entries (tests; a long-lived server never needs it)."""
    with _CACHES_LOCK:
        for c in _CACHES.values():
            c.disk._close() if c.disk is not None else None
        _CACHES.clear()

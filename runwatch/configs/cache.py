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
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.configs.loader import FileSig, StatCache

READER_VERSION = 1
CACHE_FILE = f"configs-v{READER_VERSION}.sqlite"

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
                "directions": s.directions,
                "directions_source": s.directions_source,
                "work_dir": s.work_dir,
                "keys": list(s.keys),
            }
            for s in f.stages
        ],
    }


def facts_from_json(d: dict[str, Any], path: str | None = None) -> ConfigFacts:
    stages = [
        StageFacts(
            runner=_ref_in(s["runner"]),
            runner_kind=s["runner_kind"],
            epochs=s["epochs"],
            early_stopping_enabled=s["es_enabled"],
            early_stopping_patience=s["es_patience"],
            metric=_ref_in(s["metric"]),
            directions=copy.deepcopy(s["directions"]),
            directions_source=s["directions_source"],
            work_dir=s["work_dir"],
            keys=tuple(s["keys"]),
        )
        for s in d["stages"]
    ]
    return ConfigFacts(
        path=path if path is not None else d["path"],
        stages=stages,
        is_multi_stage=d["is_multi_stage"],
        error=d["error"],
        warnings=list(d["warnings"]),
    )


def _ref_out(r: ClassRef | None) -> list[Any] | None:
    return None if r is None else [r.module, r.qualname]


def _ref_in(v: list[Any] | None) -> ClassRef | None:
    return None if v is None else ClassRef(v[0], v[1])


def deps_valid(deps: Deps, stats: StatCache) -> bool:
    return all(stats.sig(p) == sig for p, sig in deps.items())


def _deps_in(raw: str) -> Deps:
    return {p: (tuple(s) if s is not None else None) for p, s in json.loads(raw).items()}  # type: ignore[misc]


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
        except sqlite3.DatabaseError:
            return self._recover()
        except (OSError, sqlite3.Error):
            self.disabled = True
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _recover(self) -> sqlite3.Connection | None:
        """A corrupt file: move it aside (another process may already have), then start afresh once."""
        self._close()
        try:
            os.replace(self.path, self.path.with_name(f"{CACHE_FILE}.corrupt-{os.getpid()}"))
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
                except sqlite3.OperationalError as e:
                    if "locked" in str(e) or "busy" in str(e):
                        return None
                    if attempt == 0:
                        self._recover()
                except sqlite3.DatabaseError:
                    if attempt == 0:
                        self._recover()
                except (ValueError, TypeError, KeyError):
                    return None
            return None

    def load_all(self) -> dict[str, Entry]:
        def q(conn: sqlite3.Connection) -> dict[str, Entry]:
            out: dict[str, Entry] = {}
            for key, deps, facts in conn.execute("SELECT key, deps, facts FROM facts"):
                try:
                    out[key] = (_deps_in(deps), json.loads(facts))
                except (ValueError, TypeError, AttributeError):
                    continue
            return out

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


# ---------------------------------------------------------------------- the cache
class FactsCache:
    """Memory in front of an optional disk store; entries are JSON dicts, copied out on every hit."""

    def __init__(self, disk: DiskStore | None) -> None:
        self.disk = disk
        self.memory: dict[str, Entry] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.disk is not None:
            loaded = self.disk.load_all()
            with self._lock:
                for k, v in loaded.items():
                    self.memory.setdefault(k, v)

    def lookup(self, key: str, stats: StatCache, path: str) -> ConfigFacts | None:
        self._ensure_loaded()
        entry = self.memory.get(key)
        if entry is not None and deps_valid(entry[0], stats):
            return facts_from_json(entry[1], path)
        if self.disk is not None:  # another process may have written it since we loaded
            fresh = self.disk.get(key)
            if fresh is not None and deps_valid(fresh[0], stats):
                self.memory[key] = fresh
                return facts_from_json(fresh[1], path)
        return None

    def store(self, key: str, deps: Deps, facts: ConfigFacts, write: bool = True) -> tuple[str, Deps, dict[str, Any]]:
        row = (key, dict(deps), copy.deepcopy(facts_to_json(facts)))  # the caller may mutate `facts`
        with self._lock:
            self.memory[key] = (row[1], row[2])
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

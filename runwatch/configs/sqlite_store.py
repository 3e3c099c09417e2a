"""The disk store of config facts: one SQLite file, shared by every process of a project.

A row is (key, dependencies as JSON text, the facts' record as JSON text: see
``facts_codec``). SQLite's transactions make writes atomic and safe when two processes
write at once. A store is never worth a crash: a locked store is a miss, a corrupt file
is moved aside and recreated, a full disk stops the writes, and if nothing works the
process carries on with memory only (every failure is one warning at most).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

from runwatch.configs.facts_codec import READER_VERSION, Deps, FactsRecord, deps_from_text, deps_to_text

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


# An entry: the deps it is valid for and the facts' record (lists where JSON made them).
Entry = tuple[Deps, FactsRecord]
Row = tuple[str, Deps, FactsRecord]


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
        # (connection, its PRAGMA data_version) just before load_all_raw read every row.
        self._loaded_at: tuple[sqlite3.Connection, int] | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = self._open()
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

    def _open(self) -> sqlite3.Connection:
        # runwatch's own file: never through a link, never a FIFO or device (sqlite would block or follow).
        for p in (self.directory, self.path):
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode) or not (stat.S_ISDIR(st.st_mode) if p == self.directory else stat.S_ISREG(st.st_mode)):
                raise OSError(errno.ELOOP, "a symbolic link or special file; runwatch's own files are never used through one", str(p))
        conn = sqlite3.connect(str(self.path), timeout=2.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, deps TEXT NOT NULL, facts TEXT NOT NULL)")
        return conn

    def _give_up(self, e: BaseException) -> None:
        """A full disk, a read-only or vanished dir: memory only from now on, one warning."""
        if not self.disabled:
            log.warning("runwatch: config cache %s not usable (%s); carrying on without it", self.path, e)
        self.disabled = True
        self.close()

    def _recover(self) -> sqlite3.Connection | None:
        """A corrupt file: move it aside (another process may already have), then start afresh once."""
        self.close()
        try:
            os.replace(self.path, self.path.with_name(CORRUPT_FILE))
        except OSError:
            pass
        try:
            conn = self._open()
        except (OSError, sqlite3.Error):
            self.disabled = True
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def close(self) -> None:
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

    def load_all_raw(self) -> dict[str, tuple[str, str]]:
        """Every row, undecoded (one query; rows are decoded when first looked up)."""

        def q(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            rows = {key: (deps, facts) for key, deps, facts in conn.execute("SELECT key, deps, facts FROM facts")}
            self._loaded_at = (conn, version)
            return rows

        return self._run(q) or {}

    def unchanged_since_load(self) -> bool:
        """True when no other connection committed since ``load_all_raw`` read every row (SQLite's
        ``data_version``): a key that was not there then is not there now. False when unsure."""
        loaded = self._loaded_at
        if loaded is None:
            return False

        def q(conn: sqlite3.Connection) -> bool:
            return conn is loaded[0] and conn.execute("PRAGMA data_version").fetchone()[0] == loaded[1]

        return bool(self._run(q))

    def get(self, key: str) -> Entry | None:
        def q(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute("SELECT deps, facts FROM facts WHERE key = ?", (key,)).fetchone()
            return None if row is None else decode_entry(row)

        return self._run(q)

    def put_many(self, rows: list[Row]) -> bool:
        if not rows:
            return True
        if self.read_only:
            return False
        payload = [(k, deps_to_text(d), json.dumps(f)) for k, d, f in rows]

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
    """A row's (deps text, facts text) decoded; None when it is not JSON."""
    try:
        return deps_from_text(raw[0]), json.loads(raw[1])
    except (ValueError, TypeError, AttributeError):
        return None

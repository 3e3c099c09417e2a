"""The per-datapoint cache: each scores file read once into columns, kept in memory and on disk.

A table is keyed by the file's fingerprint (device, inode, size, modification time in
ns): a file that changes gets a new key, so a stale table is never used; the old entry
ages out. Memory holds the most recently used tables up to ``compare_cache_mb`` (a
setting); the disk cache lives in runwatch's own cache dir (``<cache_dir>/datapoints``,
never in a run's folder) up to ``compare_disk_cache_mb``, oldest used removed first. A
disk entry is the columns' raw float64 bytes after a small JSON header, so loading one
is a read and no parse.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from runwatch.atomic_files import replace_atomically
from runwatch.compare.datapoints import DatapointTable, read_table
from runwatch.compare.metrics import base_metric
from runwatch.compare.notes import fingerprint, remember
from runwatch.readers.safe_open import read_own
from runwatch.state import STATE

_MAGIC = b"RWDP1\n"
_SUFFIX = ".rwdp"


class DatapointCache:
    """Tables by (path, fingerprint): in memory up to ``memory_bytes``, on disk up to ``disk_bytes``."""

    def __init__(self, disk_dir: str | None, memory_bytes: int, disk_bytes: int) -> None:
        self.disk_dir = disk_dir
        self.memory_bytes = max(0, memory_bytes)
        self.disk_bytes = max(0, disk_bytes)
        self._mem: OrderedDict[str, DatapointTable] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        # Counters for tests and benchmarks: where each table came from.
        self.stats = {"memory": 0, "disk": 0, "read": 0}

    def __len__(self) -> int:
        return len(self._mem)

    @property
    def used_bytes(self) -> int:
        return self._used

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
            self._used = 0

    def get(self, path: str, metric: str | None = None) -> DatapointTable:
        """The table of ``path`` as the file is now: from memory, else the disk cache, else read.

        With ``metric`` (``class_IoU[3]``, ``loss``), a table holding that metric is enough: a file
        not seen yet has only that metric's list decoded (a partial table, completed when another
        metric or the whole table is asked for). Partial tables go to the disk cache too: a score map
        asked again by a new process loads its column instead of decoding it.
        """
        fp = fingerprint(path)
        if fp is None:
            return read_table(path)  # its warning says why
        key = f"{path}\0{fp}"

        def enough(t: DatapointTable) -> bool:
            return t.complete or (metric is not None and metric in t.columns)

        with self._lock:
            hit = self._mem.get(key)
            if hit is not None and enough(hit):
                self._mem.move_to_end(key)
                self.stats["memory"] += 1
                _note(path, fp, hit)
                return hit
        partial = hit
        if partial is None:
            loaded = self._load(key, path)
            if loaded is not None and enough(loaded):
                self.stats["disk"] += 1
                self._remember(key, loaded)
                _note(path, fp, loaded)
                return loaded
            partial = loaded
        base = base_metric(metric) if metric is not None else None
        if base is not None and (partial is None or base in partial.bases):
            table = read_table(path, {base})
            self.stats["read"] += 1
            if partial is not None and not table.complete:
                table = _merged(partial, table)
        else:
            table = read_table(path)
            self.stats["read"] += 1
        if fingerprint(path) != fp:  # changed while it was read: not kept (nor noted)
            return table
        self._store(key, table)
        self._remember(key, table)
        _note(path, fp, table)
        return table

    def entry_file(self, path: str, fp: str) -> str | None:
        """Where the disk cache keeps the table of ``path`` at fingerprint ``fp`` (None without a disk cache)."""
        return self._file(f"{path}\0{fp}")

    # ---------------------------------------------------------------- memory

    def _remember(self, key: str, table: DatapointTable) -> None:
        size = table.nbytes
        if size > self.memory_bytes:
            return
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._used -= old.nbytes
            self._mem[key] = table
            self._used += size
            while self._used > self.memory_bytes and self._mem:
                _, dropped = self._mem.popitem(last=False)
                self._used -= dropped.nbytes

    # ---------------------------------------------------------------- disk

    def _file(self, key: str) -> str | None:
        if not self.disk_dir or not self.disk_bytes:
            return None
        return os.path.join(self.disk_dir, hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest() + _SUFFIX)

    def _load(self, key: str, path: str) -> DatapointTable | None:
        f = self._file(key)
        if f is None:
            return None
        try:
            data = read_own(f, max(self.disk_bytes, 1))  # runwatch's own file: never through a link, never a FIFO, bounded
        except OSError:
            return None
        try:
            if not data.startswith(_MAGIC):
                return None
            hlen = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "little")
            start = len(_MAGIC) + 8
            header = json.loads(data[start : start + hlen])
            if header.get("key") != key:
                return None
            offset = start + hlen
            columns: dict[str, np.ndarray] = {}
            for name, length in header["columns"]:
                columns[name] = np.frombuffer(data, dtype="<f8", count=length, offset=offset)
                offset += 8 * length
            with contextlib.suppress(OSError):
                os.utime(f)  # recently used: removed last
            return DatapointTable(
                path,
                columns,
                list(header.get("warnings") or []),
                complete=header.get("complete", True) is not False,
                bases=list(header.get("bases") or []),
                names=[str(x) for x in header.get("names") or []],
                counts={str(k): int(v) for k, v in (header.get("counts") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None

    def _store(self, key: str, table: DatapointTable) -> None:
        f = self._file(key)
        if f is None or table.nbytes > self.disk_bytes:
            return
        header = json.dumps(
            {
                "key": key,
                "columns": [[n, len(c)] for n, c in table.columns.items()],
                "warnings": table.warnings,
                "bases": table.bases,
                "complete": table.complete,
                "names": table.names,
                "counts": table.counts,
                "n": table.n,
            }
        ).encode()

        def write(fh: Any) -> None:
            fh.write(_MAGIC)
            fh.write(len(header).to_bytes(8, "little"))
            fh.write(header)
            for c in table.columns.values():
                fh.write(np.ascontiguousarray(c, dtype="<f8").tobytes())

        try:
            replace_atomically(f, write)
        except OSError:
            return  # a read-only or full cache dir: the table is still served from memory
        self._trim_disk()

    def _trim_disk(self) -> None:
        """Remove the least recently used entries until the disk cache is within its bound."""
        assert self.disk_dir is not None
        entries = []
        try:
            with os.scandir(self.disk_dir) as it:
                for e in it:
                    if e.name.endswith(_SUFFIX):
                        with contextlib.suppress(OSError):
                            st = e.stat(follow_symlinks=False)
                            entries.append((st.st_mtime, st.st_size, e.path))
        except OSError:
            return
        total = sum(s for _, s, _ in entries)
        for _, size, p in sorted(entries):
            if total <= self.disk_bytes:
                break
            with contextlib.suppress(OSError):
                os.unlink(p)
                total -= size

    def disk_used(self) -> int:
        if not self.disk_dir:
            return 0
        try:
            return sum(e.stat().st_size for e in os.scandir(self.disk_dir) if e.name.endswith(_SUFFIX))
        except OSError:
            return 0


def _note(path: str, fp: str, table: DatapointTable) -> None:
    """What reading the file found, for the run's own warnings (runwatch.compare.notes)."""
    remember(path, fp, table.n, table.warnings)


def _merged(old: DatapointTable, new: DatapointTable) -> DatapointTable:
    """A partial table with the columns (and warnings) of two partial reads of one file."""
    warnings = list(old.warnings) + [w for w in new.warnings if w not in old.warnings]
    return DatapointTable(new.path, {**old.columns, **new.columns}, warnings, complete=False, bases=new.bases, names=new.names, counts=new.counts)


class _Caches(dict[str, DatapointCache]):
    def clear(self) -> None:
        for c in self.values():
            c.clear()
        super().clear()


_CACHES: _Caches = STATE.table("compare.datapoint_caches", _Caches)


def cache_for(project: Any) -> DatapointCache:
    """The project's datapoint cache (one per cache dir in this process), bounded by its settings."""
    s = project.settings
    disk_dir = str(s.resolve_cache_dir(project.root) / "datapoints")
    mem = int(getattr(s, "compare_cache_mb", 256)) * 1024 * 1024
    disk = int(getattr(s, "compare_disk_cache_mb", 2048)) * 1024 * 1024
    key = f"{disk_dir}\0{mem}\0{disk}"
    c = _CACHES.get(key)
    if c is None:
        c = _CACHES[key] = DatapointCache(disk_dir, mem, disk)
    return c

"""The recording reader: how a tracker reads a run's files, so that the fingerprint is never forgotten.

Every read goes through one of its methods (list a folder, stat a file, read JSON, YAML,
a CSV tail, TensorBoard event tails, a torch file, the lab's text logs), each through
runwatch's readers and so through the checked opener (``readers.safe_open``); each
method records what it looked at: the folder's ``st_mtime_ns`` and names, the file's
(``st_mtime``, ``st_size``), absent ones included. ``dirs`` and ``files`` are then the
fingerprint of the computation (``change_detection.Fingerprint.watch``): a tracker that
reads only through this reader cannot forget to watch what its answer came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.jsonfile import read_json_tolerant
from runwatch.readers.logs import last_exception, matching_logs
from runwatch.readers.tfevents import Scalar, event_tail
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch.readers.yamlfile import read_yaml_tolerant


class StatMemo(Protocol):
    """A value computed from a file, reused while its stat is unchanged (``layouts.common.StatMemo``)."""

    def get(self, path: str, compute: Callable[[str], Any]) -> Any: ...


Listing = tuple[int | None, tuple[str, ...]]
# What the fingerprint keeps of a folder: its mtime_ns and names (names None once settled).
DirSeen = tuple[int | None, tuple[str, ...] | None]
FileSeen = tuple[float, int] | None


class RecordingReader:
    """Reads files of one run and records each folder listed and each file looked at."""

    def __init__(self) -> None:
        self.dirs: dict[str, DirSeen] = {}
        self.files: dict[str, FileSeen] = {}

    # ------------------------------------------------------------------ folders and stats

    def listdir(self, path: str) -> Listing:
        """(mtime_ns, sorted names) of a folder, stat first; (None, ()) when it cannot be listed (not recorded then)."""
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        try:
            names = tuple(sorted(os.listdir(path)))
        except OSError:
            return None, ()
        listing = (st.st_mtime_ns if st is not None else None, names)
        self.dirs[path] = listing
        return listing

    def stat(self, path: str) -> os.stat_result | None:
        """The file's stat, or None when it is absent (recorded either way).

        A file stat'ed twice keeps its first record: the one taken before its content was
        read, so that a change made meanwhile shows at the next check.
        """
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        self.files.setdefault(path, (st.st_mtime, st.st_size) if st is not None else None)
        return st

    def mtime(self, path: str) -> float | None:
        st = self.stat(path)
        return st.st_mtime if st is not None else None

    def newest_mtime(self) -> float | None:
        """The newest modification time among the files recorded so far."""
        return max((f[0] for f in self.files.values() if f is not None), default=None)

    # ------------------------------------------------------------------ contents

    def json(self, path: str) -> tuple[Any, str | None]:
        """(value, problem) of a JSON file (``readers.jsonfile.read_json_tolerant``)."""
        self.stat(path)
        value, problem = read_json_tolerant(path)
        return value, problem

    def yaml(self, path: str) -> tuple[Any, str | None]:
        """(value, problem) of a YAML file (``readers.yamlfile.read_yaml_tolerant``)."""
        self.stat(path)
        return read_yaml_tolerant(path)

    def csv_rows(self, tail: CsvTail) -> tuple[list[dict[str, Any]], str | None]:
        """The rows of a CSV file read by its tail reader (only the appended bytes are read), and its problem."""
        self.stat(tail.path)
        rows = list(tail.read())
        return rows, tail.problem

    def event_scalars(self, paths: list[str], warnings: list[str]) -> list[Scalar]:
        """Scalars of TensorBoard event files, each tailed; a missing package or bad record becomes a warning."""
        out: list[Scalar] = []
        for p in paths:
            self.stat(p)
            tail = event_tail(p)
            out.extend(tail.read())
            if tail.problem and tail.problem not in warnings:
                warnings.append(tail.problem if tail.problem.startswith(p) else f"{p}: {tail.problem}")
        return out

    def torch_file(self, path: str) -> Any:
        """A torch file's contents as plain values (decoded without torch), or None."""
        self.stat(path)
        value, _ = read_torch_file(path)
        return plain(value) if value is not None else None

    def remembered(self, path: str, memo: StatMemo, compute: Callable[[str], Any]) -> Any:
        """``compute(path)`` through a memo kept by the file's stat (a decoded checkpoint, parsed arguments)."""
        self.stat(path)
        return memo.get(path, compute)

    def text_logs(self, folder: str, names: tuple[str, ...], pattern: str) -> tuple[list[tuple[str, float]], str | None]:
        """The lab's text logs in ``folder`` (``trainer_log_pattern``): (name, mtime) newest first, and the
        last exception of the newest."""
        found: list[tuple[str, float]] = []
        for name, _ in matching_logs([(n, 0.0) for n in names], pattern):
            st = self.stat(os.path.join(folder, name))
            if st is not None:
                found.append((name, st.st_mtime))
        found.sort(key=lambda x: x[1], reverse=True)
        return found, (last_exception(os.path.join(folder, found[0][0])) if found else None)

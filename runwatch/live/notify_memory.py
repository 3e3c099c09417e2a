"""What a notifier has already seen, on disk: so a restart, or a second notifier, resends nothing.

One small JSON file per notification set-up (targets, commands, routes, statuses) in
runwatch's own cache dir, never in a run's dir: each run's last status, as observed by
any notifier of that set-up. A status change is claimed under an exclusive lock
(``flock`` on a sibling lock file, released by the kernel if its holder dies), so of
two notifiers watching one project exactly one sends each transition.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from runwatch.readers.jsonfile import read_json_tolerant, write_json_atomic

log = logging.getLogger("runwatch.notify")

VERSION = 1


def setup_key(parts: Any) -> str:
    """12 hex chars naming a notification set-up (any repr-able description of it)."""
    return hashlib.sha1(repr(parts).encode("utf-8")).hexdigest()[:12]


class TransitionMemory:
    """Each run's last known status, shared through ``path`` by every notifier of one set-up.

    ``settle`` is the one operation: given fresh records, it returns the status changes
    that no notifier has claimed yet, and claims them. A run seen for the first time is
    remembered and returned as nothing: the first start of a notifier stays silent.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock_path = path + ".lock"
        # This process's view, so that records whose status did not change cost no I/O.
        self._known: dict[str, str] = {}
        self._mutex = threading.Lock()
        self.errors = 0

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), 0o600)  # own file: no link
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _load(self) -> dict[str, list[Any]]:
        data, problem = read_json_tolerant(self.path)
        if problem is not None:
            if not problem.endswith("missing"):
                log.warning("runwatch notify: %s; starting a new memory of sent transitions", problem)
            return {}
        runs = data.get("runs") if isinstance(data, dict) else None
        if not isinstance(runs, dict):
            return {}
        return {k: v for k, v in runs.items() if isinstance(k, str) and isinstance(v, list) and v and isinstance(v[0], str)}

    def _save(self, runs: dict[str, list[Any]]) -> None:
        # Compact: the file is rewritten whole on every claimed change.
        write_json_atomic(self.path, None, text=json.dumps({"version": VERSION, "runs": runs}, separators=(",", ":")))

    def settle(self, observed: Iterable[tuple[str, str]], now: float) -> list[tuple[str, str, str]]:
        """For each (run, status): remember it; return (run, old, new) for changes not yet claimed.

        Disk errors never raise (a notifier must outlive a full disk): the change is then
        judged by this process's view alone and counted in ``errors``.
        """
        with self._mutex:
            fresh = [(r, s) for r, s in observed if self._known.get(r) != s]
            if not fresh:
                return []
            try:
                with self._locked():
                    runs = self._load()
                    out = self._apply(runs, fresh, now)
                    self._save(runs)
                return out
            except OSError as e:
                self.errors += 1
                log.warning("runwatch notify: cannot use %s (%s); judging changes by this process alone", self.path, e.strerror or e)
                runs = {r: [s, now] for r, s in self._known.items()}
                return self._apply(runs, fresh, now)

    def _apply(self, runs: dict[str, list[Any]], fresh: list[tuple[str, str]], now: float) -> list[tuple[str, str, str]]:
        out = []
        for run, status in fresh:
            prev = runs.get(run)
            if prev is not None and prev[0] != status:
                out.append((run, prev[0], status))
            if prev is None or prev[0] != status:
                runs[run] = [status, now]
            self._known[run] = status
        return out

    def forget(self, runs: Iterable[str]) -> None:
        """Runs that are gone (config deleted): a run of that name later is a new run."""
        gone = [r for r in runs if r in self._known]
        if not gone:
            return
        with self._mutex:
            for r in gone:
                self._known.pop(r, None)
            try:
                with self._locked():
                    data = self._load()
                    for r in gone:
                        data.pop(r, None)
                    self._save(data)
            except OSError as e:
                self.errors += 1
                log.warning("runwatch notify: cannot use %s (%s)", self.path, e.strerror or e)

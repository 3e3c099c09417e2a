"""BaseProgressTracker: the plan's abstract tracker, with a cache that is never stale.

A cached ProgressInfo is reused only while an invalidation key built from a few
stats (entry names of the work dir, epoch-dir mtimes, sizes and mtimes of the files
still in flux, logs) is unchanged, so a warm check costs a few stats per run, and a
run that gains an epoch is recomputed on the very next call. The previous
implementation trusted progress.json forever; this is the fix.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.config_view import ConfigLike, as_config_facts
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.settings import Settings

# An epoch dir modified this recently may still gain entries within the same
# mtime tick (coarse on NFS); such a key is not trusted on the next call.
RACY_WINDOW_S = 2.0


@dataclass
class EpochRecord:
    """One epoch as found on disk: whether it is finished, when, and its aggregated scores."""

    index: int
    finished: bool
    finish_time: float | None = None
    duration: float | None = None
    scores: dict[str, Any] | None = None
    # (mtime_ns, size) of the scores file the scores were read from: a memo key.
    scores_stat: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        from runwatch.progress_tracking.progress_info import _json_safe

        return {
            "index": self.index,
            "finished": self.finished,
            "finish_time": self.finish_time,
            "duration": self.duration,
            "scores": _json_safe(self.scores),
        }


@dataclass
class RunDetails:
    """What a detail view needs beyond ProgressInfo: the per-epoch series, logs, ETA."""

    epochs: list[EpochRecord] = field(default_factory=list)
    logs: list[tuple[str, float]] = field(default_factory=list)  # (name, mtime), newest first
    eta_seconds: float | None = None
    files: list[str] = field(default_factory=list)

    @property
    def newest_log(self) -> str | None:
        return self.logs[0][0] if self.logs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": [e.to_dict() for e in self.epochs],
            "logs": [{"name": n, "mtime": m} for n, m in self.logs],
            "eta_seconds": self.eta_seconds,
        }


class BaseProgressTracker(ABC):
    """Abstract base class for progress tracking (the plan's API, kept name for name)."""

    def __init__(
        self,
        work_dir: str,
        config: ConfigLike = None,
        *,
        settings: Settings | None = None,
        store: Any | None = None,
    ) -> None:
        self.work_dir = os.fspath(work_dir)
        self.config: ConfigFacts | None = as_config_facts(config)
        self.settings = settings if settings is not None else Settings()
        # A ProgressStore (runwatch.progress_tracking.progress_cache) shared across trackers, or None.
        self.store = store
        self._cache: ProgressInfo | None = None
        self._cache_time: float | None = None
        self._cache_key: Any = None
        self._hint: dict[str, Any] = {}
        self.details: RunDetails = RunDetails()
        self.extra_warnings: list[str] = []

    # ---- the plan's abstract API

    @abstractmethod
    def get_runner_type(self) -> Literal["trainer", "evaluator", "multi_stage"]:
        """The type of runner this tracker handles."""

    @abstractmethod
    def get_expected_files(self) -> list[str]:
        """Files whose presence (non-empty) marks completion of an epoch or an evaluation."""

    @abstractmethod
    def get_log_pattern(self) -> str:
        """Glob of the log files whose mtime tells whether the run is alive."""

    @abstractmethod
    def calculate_progress(self) -> ProgressInfo:
        """Compute progress from the files, ignoring every cache."""

    @abstractmethod
    def is_complete(self) -> bool:
        """Whether the run has done all it will do (all epochs, early stop, or evaluated)."""

    # ---- caching

    @abstractmethod
    def cache_key(self) -> Any:
        """A cheap fingerprint of the artifacts ``calculate_progress`` read, or None when unknown."""

    def get_progress(self, force_refresh: bool = False) -> ProgressInfo:
        """Progress, from cache only while the artifacts it was computed from are unchanged."""
        if not force_refresh:
            cached = self._cached_progress()
            if cached is not None:
                return cached
        progress = self.calculate_progress()
        self._save_progress_cache(progress)
        self._cache = progress
        self._cache_time = time.time()
        self._cache_key = self._trusted_key(self._cache_time)
        if self.store is not None:
            self.store.put(self.work_dir, self._cache_key, progress, self.details, self._hint)
        return progress

    def _cached_progress(self) -> ProgressInfo | None:
        if self._cache is not None and self._cache_key is not None:
            if self.cache_key() == self._cache_key:
                return self._cache
            return None
        if self.store is not None and not self._hint:
            entry = self.store.get(self.work_dir)
            if entry is not None and entry.key is not None:
                self._hint = entry.hint
                if self.cache_key() == entry.key:
                    self._cache = entry.progress
                    self._cache_key = entry.key
                    self._cache_time = time.time()
                    self.details = entry.details
                    return entry.progress
        return None

    def _trusted_key(self, now: float) -> Any:
        """The key after a computation, or None if a dir changed too recently to be trusted."""
        key = self.cache_key()
        if key is None:
            return None
        for m in self._hint.get("racy_mtimes", ()):
            if m / 1e9 > now - RACY_WINDOW_S:
                return None
        return key

    def _save_progress_cache(self, progress: ProgressInfo) -> None:
        """Write progress.json (atomically) per the project's policy; trackers that write none override."""
        from runwatch.progress_tracking.progress_cache import save_progress_json

        problem = save_progress_json(self.work_dir, progress, self.settings.progress_json)
        if problem:
            progress.add_warning(problem)

"""Pieces the run-folder layouts share: the layout and tracker bases, stat helpers, event-file names, memos by file stat."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from runwatch.configs.facts import ConfigFacts
from runwatch.layouts.base import Layout
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.project import Project
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker, EpochRecord, RunDetails
from runwatch.progress_tracking.observation import Observation, progress_from
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.progress_tracking.change_detection import RACY_WINDOW_S
from runwatch.progress_tracking.progress_info import ProgressInfo

from runwatch.readers.logs import last_exception, matching_logs
from runwatch.readers.tfevents import is_event_file, writer_of


def stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def seen(st: os.stat_result | None) -> tuple[float, int] | None:
    """A file as the base tracker's cache key sees it."""
    return (st.st_mtime, st.st_size) if st is not None else None


def listing(path: str) -> tuple[int | None, tuple[str, ...]]:
    """(mtime_ns, sorted names) of a dir, taken mtime first; (None, ()) when unreadable."""
    st = stat_or_none(path)
    try:
        names = tuple(sorted(os.listdir(path)))
    except OSError:
        return None, ()
    return (st.st_mtime_ns if st is not None else None), names


def event_files(folder: str, names: tuple[str, ...]) -> list[str]:
    return [os.path.join(folder, n) for n in names if is_event_file(n)]


class StatMemo:
    """A value computed from a file, reused while the file's (mtime, size) is unchanged."""

    def __init__(self, limit: int = 20_000) -> None:
        self._items: dict[str, tuple[Any, Any]] = {}
        self._limit = limit

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str, compute: Any) -> Any:
        st = stat_or_none(path)
        key = (st.st_mtime_ns, st.st_size) if st is not None else None
        hit = self._items.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute(path) if st is not None else None
        if len(self._items) >= self._limit:
            self._items.clear()
        self._items[path] = (key, value)
        return value


def lab_logs(work_dir: str, names: tuple[str, ...], pattern: str, files: dict[str, Any]) -> tuple[list[tuple[str, float]], str | None]:
    """Text logs the lab keeps in the run folder (``trainer_log_pattern``): (name, mtime) newest first, and
    the last exception of the newest; each is added to ``files`` (the tracker's watched files)."""
    found: list[tuple[str, float]] = []
    for name, _ in matching_logs([(n, 0.0) for n in names], pattern):
        path = os.path.join(work_dir, name)
        st = stat_or_none(path)
        files[path] = seen(st)
        if st is not None:
            found.append((name, st.st_mtime))
    found.sort(key=lambda x: x[1], reverse=True)
    return found, (last_exception(os.path.join(work_dir, found[0][0])) if found else None)


def _stamp(path: str) -> tuple[int, int] | None:
    st = stat_or_none(path)
    return (st.st_mtime_ns, st.st_size) if st is not None else None


class FactsMemo:
    """A run's facts, reused while the files they were read from are unchanged (one stat each).

    ``compute(run)`` returns (facts, the paths it depends on); a folder among them stands
    for its listing (a new checkpoint changes the folder's mtime).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._items: dict[str, tuple[tuple[str, ...], tuple[Any, ...], Any]] = {}
        self._limit = limit

    def get(self, run: str, compute: Any) -> Any:
        hit = self._items.get(run)
        if hit is not None and tuple(_stamp(p) for p in hit[0]) == hit[1]:
            return hit[2]
        facts, deps = compute(run)
        deps = tuple(deps)
        stamps = tuple(_stamp(p) for p in deps)
        # A file modified within the racy window may change again within the same mtime tick:
        # not remembered (read again next time), as the trackers' keys do.
        limit = (time.time() - RACY_WINDOW_S) * 1e9
        if all(st is None or st[0] <= limit for st in stamps):
            if len(self._items) >= self._limit:
                self._items.clear()
            self._items[run] = (deps, stamps, facts)
        else:
            self._items.pop(run, None)
        return facts


class RunFolderLayout(Layout):
    """A layout whose runs are folders known by their marker files, each its own work dir.

    A subclass names itself and gives the marker test (``marks_run``), the tracker class and
    the facts reader (``read_facts(run) -> (facts, the paths they came from)``); the facts are
    memoised by the stats of the files they came from.
    """

    tracker_class: ClassVar[type[BaseProgressTracker]]

    def __init__(self) -> None:
        self._facts = FactsMemo()

    @staticmethod
    def marks_run(path: str, names: frozenset[str]) -> bool:
        raise NotImplementedError

    @staticmethod
    def read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
        raise NotImplementedError

    def is_run_dir(self, path: str, names: frozenset[str]) -> bool:
        return self.marks_run(path, names)

    def process_folder_run(self, project: Project, folder: str, names: frozenset[str]) -> str | None:
        """A process working in its run folder, or holding one of its files open (Keras's CSVLogger file,
        MMEngine's text log, a TensorBoard event file), is that run's."""
        return folder if self.marks_run(folder, names) else None

    def tracker(self, project: Project, run: str, facts: ConfigFacts, store: ProgressStore | None = None, work_dir: str | None = None) -> BaseProgressTracker:
        return self.tracker_class(run, facts, settings=project.settings, store=store)

    def facts(self, project: Project, run: str) -> ConfigFacts:
        facts: ConfigFacts = self._facts.get(run, self.read_facts)
        return facts

    def facts_batch(self, project: Project, runs: list[str], workers: int | None = None) -> dict[str, ConfigFacts]:
        return {r: self.facts(project, r) for r in runs}


@dataclass
class RunFolderDetails(RunDetails):
    """RunDetails plus the process writing the run's newest TensorBoard event file, from its name:
    (host, pid, opened at). The only way to a Lightning run's process (its version folder is not on
    the command line) and to an HF run's without ``--output_dir``."""

    writer: tuple[str, int, float] | None = None
    # The run's files end where a normal end leaves them (layouts/lightning_end.py, hf_end.py):
    # once its process is gone, or it is silent past its limit, it finished rather than failed.
    clean_end: bool = False
    # Its files cannot tell a finished run from a killed one (a Keras run without BackupAndRestore): with no
    # live process it reads unknown (run_status/rules.py), never finished or failed by a guess.
    end_unknown: bool = False
    # What the tracker read from a costly file, with that file's (name, mtime_ns, size) first: kept with the
    # run's stored progress so that a new process reads the file again only once it changed (MMEngine: the
    # total from a checkpoint's message hub).
    kept: tuple[Any, ...] | None = None
    # The wall times of its records (event files): its finest rhythm where it has no text log.
    beats: list[float] | None = None
    # Its pulse where neither a text log nor record times give one (readers.log_pulse.Pulse; a
    # Lightning CSVLogger's rows: lightning_end.csv_pulse).
    pulse: Any = None


def newest_writer(event_paths: list[str]) -> tuple[str, int, float] | None:
    """The writer of the most recently opened event file among ``event_paths``, or None."""
    writers = [w for p in event_paths if (w := writer_of(os.path.basename(p))) is not None]
    return max(writers, key=lambda w: w[2], default=None)


class RunFolderTracker(BaseProgressTracker):
    """What the trackers of run-folder layouts share: they only observe.

    A subclass reads the run's files through the ``RecordingReader`` it is given
    (``observe``), which records the fingerprint as it goes, and says what it saw in an
    ``Observation``; ``progress_from`` derives the percentage, ETA, best and latest scores
    and the early-stopping replay, the same for every layout. Nothing is written into the
    run's folder; completion is the subclass's ``complete_from``.
    """

    RUNNER_TYPE = ""
    # What a run's folder is called in messages ("output_dir", "version folder").
    FOLDER = "run folder"

    def get_runner_type(self) -> Any:
        return self.RUNNER_TYPE

    def _save_progress_cache(self, progress: ProgressInfo) -> None:
        """Nothing is written into a framework's run folder (runwatch keeps its own store)."""

    def is_complete(self) -> bool:
        return self.complete_from(self.get_progress())

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        """What the run's files say (``names``: the run folder's entries, already listed); every read through ``reader``."""
        raise NotImplementedError

    def with_lab_logs(self, reader: RecordingReader, names: tuple[str, ...], logs: list[tuple[str, float]]) -> str | None:
        """Add the lab's text logs of the run folder (``trainer_log_pattern``) to ``logs`` ((name, mtime) of the
        run's own records) and sort them newest first; the last exception of the newest lab log, or None."""
        text_logs, error = reader.text_logs(self.work_dir, names, self.settings.trainer_log_pattern)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)
        return error

    def calculate_progress(self) -> ProgressInfo:
        reader = RecordingReader()
        top_m, names = reader.listdir(self.work_dir)
        if top_m is None:
            return self._unreadable()
        obs, details = self.observe(reader, names)
        obs.warnings[:0] = self.extra_warnings
        progress, derived = progress_from(obs, self.config, self.RUNNER_TYPE)
        details.eta_seconds = derived.eta_seconds
        details.epochs = [EpochRecord(index=i, finished=True, scores=s) for i, s in enumerate(derived.series)]
        self.details = details
        self._hint = {}
        self._watch(reader.dirs, reader.files)
        return progress

    def _unreadable(self) -> ProgressInfo:
        """The answer for a run folder that cannot be listed (gone, or no permission)."""
        self._hint = {"missing": True} if not os.path.exists(self.work_dir) else {}
        self.details = RunDetails()
        return ProgressInfo(0, 0.0, runner_type=self.RUNNER_TYPE, error_message=f"{self.work_dir}: cannot read the {self.FOLDER}")

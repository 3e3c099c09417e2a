"""Progress of BaseTrainer runs: consecutive finished epochs, scores, early stop, timing.

One ``scandir`` per epoch dir and one small read per new scores file; scores already
read are reused while their file's (mtime, size) is unchanged, so recomputing a run
that gained one epoch reads one file, not all of them.
"""

from __future__ import annotations

import os
import sys
from stat import S_ISREG
from typing import Any, Literal

from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker, EpochRecord, RunDetails
from runwatch.progress_tracking.change_detection import listdir_names, listing_names
from runwatch.progress_tracking.compact import pack_dir_identity, pack_stat
from runwatch.progress_tracking.early_stopping import decide_early_stop, replay
from runwatch.progress_tracking.progress_store import PROGRESS_JSON, is_own_name, read_progress_json, remove_stale_temp_files
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.progress_tracking.pylon_evidence import (
    config_file_key,
    best_link_warning,
    count_sessions,
    epoch_fraction,
    forget_log_facts,
    launch_config_warnings,
    memo_log_facts,
    trainer_progress_json,
)
from runwatch.readers.artifacts import DirListing, FileStat, epoch_finished_from_listing, scan_dir
from runwatch.readers.launch_config import CONFIG_JSON
from runwatch.readers.logs import matching_logs
from runwatch.sharing import shared_sig
from runwatch.readers.safe_open import open_fd
from runwatch.readers.scores import read_aggregated
from runwatch.state import STATE

ETA_WINDOW = 5
_NOT_START_FILES = (PROGRESS_JSON, "checkpoint_latest.pt", "checkpoint_best.pt")


def _stat_or_none(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _dir_mtime_ns(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _stat_result(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _finished_epoch(
    epoch_dir: str, expected: list[str], open_at: int | None = None
) -> tuple[int | None, list[os.stat_result], float, tuple[int, os.stat_result] | None] | None:
    """(the dir's mtime, taken first, the stats of the expected files, the newest of their mtimes, an open
    file) when every expected file is regular and non-empty; else None.

    None sends the epoch to the listing path, which says why it is not finished; this
    accepts only the unambiguous case, where both paths agree. ``open_at``: the index of the
    expected file about to be read (the scores): it is opened through the checked opener
    instead of stat'ed, its descriptor's own stat standing for the stat (one call less), and
    returned open with that stat (the caller reads and closes it). Where that open fails
    (a link out of the project, no permission...), the file is stat'ed as the others and
    the reader later says why it could not be read.
    """
    stat = os.stat
    try:
        m: int | None = stat(epoch_dir).st_mtime_ns
    except OSError:
        m = None
    epoch_prefix = epoch_dir + os.sep
    out = []
    newest = None
    opened = None
    try:
        for i, name in enumerate(expected):
            st = None
            if i == open_at:
                try:
                    opened = open_fd(epoch_prefix + name)
                    st = opened[1]
                except (OSError, ValueError):
                    pass
            if st is None:
                try:
                    st = stat(epoch_prefix + name)
                except (OSError, ValueError):
                    return None
            if st.st_size <= 0 or not S_ISREG(st.st_mode):
                return None
            out.append(st)
            t = st.st_mtime
            if newest is None or t > newest:
                newest = t
        if newest is None:
            return None  # no expected file: the listing path decides
        seen = m, out, newest, opened
        opened = None  # handed over
        return seen
    finally:
        if opened is not None:
            os.close(opened[0])


def _listdir_names(path: str) -> tuple[str, ...] | None:
    return listdir_names(path)


def _file_seen(st: FileStat | None) -> tuple[float, int] | None:
    """A scanned file as ``_disk_key`` will see it: (mtime, size), or None when absent or broken."""
    return (st.mtime, st.size) if st is not None and st.is_file else None


def _blocked_files(sub: DirListing, expected: list[str]) -> list[str]:
    """Why an epoch can never finish as it stands: an expected file that is a dir or an unusable link.

    A missing or empty file is the normal state of an epoch being written and says
    nothing; these cases do not heal by themselves, so the run must say so.
    """
    out = []
    for name in expected:
        path = os.path.join(sub.path, name)
        if name in sub.dirs:
            out.append(f"{path}: is a directory, expected a file; this epoch cannot finish")
        elif name in sub.special:
            out.append(f"{path}: {sub.special[name]}, not a regular file; this epoch cannot finish")
        elif name in sub.files and not sub.files[name].is_file:
            out.append(f"{path}: unreadable (broken symlink or symlink loop); this epoch cannot finish")
    return out


_EPOCH_NUMBERS: dict[tuple[str, str], int | None] = STATE.table("progress_tracking.trainer.epoch_numbers")


def _epoch_number(settings: Any, name: str) -> int | None:
    """``settings.parse_epoch_dir``, memoized: the same few hundred names recur in every run."""
    key = (settings.epoch_dir_pattern, name)
    try:
        return _EPOCH_NUMBERS[key]
    except KeyError:
        pass
    if len(_EPOCH_NUMBERS) > 100_000:
        _EPOCH_NUMBERS.clear()
    n = _EPOCH_NUMBERS[key] = settings.parse_epoch_dir(name)
    return n


class TrainerProgressTracker(BaseProgressTracker):
    """Progress tracker for BaseTrainer runs."""

    def get_runner_type(self) -> Literal["trainer", "evaluator", "multi_stage"]:
        return "trainer"

    def get_expected_files(self) -> list[str]:
        return list(self.settings.trainer_expected_files)

    def get_log_pattern(self) -> str:
        return self.settings.trainer_log_pattern

    # ---- configuration facts

    def configured_total_epochs(self) -> int | None:
        return self.config.epochs if self.config is not None else None

    def _patience(self) -> int | None:
        return self.config.early_stopping_patience if self.config is not None and not self.config.is_multi_stage else None

    def _directions(self, sample: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
        """Metric directions and, when they were guessed, a warning saying so."""
        if self.config is not None and self.config.directions:
            src = self.config.first.directions_source
            if src == "heuristic":
                return self.config.directions, "metric directions guessed from score names (no metric sources found)"
            return self.config.directions, None
        if sample is None:
            return None, None
        try:
            from runwatch.configs import heuristic_directions
        except ImportError:
            return None, None
        guessed = heuristic_directions(sample)
        if guessed:
            return guessed, "metric directions guessed from score names (no metric sources found)"
        return None, None

    def _config_sig(self) -> Any:
        c = self.config
        if c is None:
            return None
        memo = getattr(self, "_config_sig_memo", None)
        if memo is not None and memo[0] is c:
            return memo[1]
        # The repr is interned: runs of one metric share it (the tracker keeps it in its key).
        # The progress.json policy too: turning "missing" on writes the files on the next call.
        sig = (
            c.epochs,
            self._patience(),
            sys.intern(repr(c.directions)),
            c.is_multi_stage,
            tuple(s.epochs for s in c.stages),
            self.settings.progress_json,
            self.settings.watch_finished_epochs,
        )
        sig = shared_sig(sig)  # equal for the runs of one config shape: one tuple for them all
        self._config_sig_memo = (c, sig)
        return sig

    # ---- cache key

    def _key_extra(self) -> Any:
        extra = config_file_key(self)
        return self._config_sig() if extra is None else (self._config_sig(), extra)

    def complete_from(self, progress: ProgressInfo) -> bool:
        if progress.early_stopped:
            return True
        return progress.total_epochs is not None and progress.completed_epochs >= progress.total_epochs

    def live_paths(self, progress: ProgressInfo) -> tuple[set[str], set[str]]:
        """What a Pylon trainer can still change: the work dir's entries and its newest log; while the
        run is not complete also its unfinished epochs (their dirs and files) and its progress.json.
        A finished epoch is never written again (a resumed run starts a new log first)."""
        hint = self._hint
        dirs = {""}
        files: set[str] = set()
        newest = self.details.newest_log
        if newest is not None:
            files.add(newest)
        if not self.complete_from(progress):
            s = self.settings
            done = progress.completed_epochs
            for rel in hint.get("dirs", ()):
                if rel and "/" not in rel and (n := _epoch_number(s, rel)) is not None and n >= done:
                    dirs.add(rel)
            for rel in hint.get("files", ()):
                parent = rel.rpartition("/")[0]
                if (parent and parent in dirs) or rel == PROGRESS_JSON:
                    files.add(rel)
        return dirs, files

    # ---- computation

    def calculate_progress(self) -> ProgressInfo:
        progress = self._calculate(fast=True)
        if progress is None:  # a finished epoch before the last two is still watched: list them all
            progress = self._calculate(fast=False)
        assert progress is not None
        return progress

    def _calculate(self, fast: bool) -> ProgressInfo | None:
        """The computation; ``fast`` checks finished epochs with three stats each instead of a listing.

        Only the epochs still in flux need a listing (their entry names go into the cache
        key) and a dir mtime taken before their files are looked at. They are the last
        finished one and the unfinished ones, which are the last two dirs in a healthy run;
        when they turn out to be others (a gap, several unfinished dirs), the fast pass
        gives up (None) and the caller lists every epoch dir.
        """
        listing = scan_dir(self.work_dir, stat_dirs=False)
        if listing.exists and remove_stale_temp_files(self.work_dir, listing.files):
            listing = scan_dir(self.work_dir, stat_dirs=False)  # the removal moved the dir's mtime
        # progress.json is written only into the dir this listing saw, unchanged since (see write_progress_targets).
        self._scanned_dir_id = pack_dir_identity(listing.identity, listing.mtime_ns)
        total = self.configured_total_epochs()
        if not listing.exists:
            self._hint = {"missing": True} if listing.error == "missing" else {}
            self.details = RunDetails()
            if listing.error == "missing":
                msg = f"{self.work_dir}: no work dir: the run was never launched"
            else:
                msg = f"{self.work_dir}: cannot read work dir ({listing.error})"
            return ProgressInfo(0, 0.0, runner_type=self.get_runner_type(), total_epochs=total, error_message=msg)
        warnings: list[str] = list(self.extra_warnings)
        warnings.extend(listing.special_warnings())  # a FIFO or device in the work dir: never opened
        expected = self.get_expected_files()
        s = self.settings
        numbered = sorted((n, d) for d in listing.dirs if (n := _epoch_number(s, d)) is not None)
        warnings.extend(
            f"{os.path.join(self.work_dir, name)}: is a file (or a broken link), expected an epoch directory"
            for name in sorted(listing.files)
            if s.parse_epoch_dir(name) is not None
        )
        memo = {e.index: e for e in self.details.epochs}
        records: list[EpochRecord] = []
        frontier: dict[str, tuple[float, int] | None] = {}
        subs: dict[int, DirListing] = {}
        completed = 0
        contiguous = True
        prefix = self.work_dir if self.work_dir.endswith(os.sep) else self.work_dir + os.sep
        # Mtimes of the dirs that may be watched, taken before anything in them is read.
        tail = {n: _dir_mtime_ns(prefix + d) for n, d in (numbered[-2:] if fast else numbered)}
        fast_done: list[int] = []
        # Every finished epoch's scores file, watched by its stat: a re-validation that
        # rewrites one in place (the epoch dir's mtime does not move) shows on the next call.
        finished_scores: dict[str, tuple[float, int] | None] = {}
        # ... and every finished epoch dir by its mtime: a file removed, added or replaced there.
        old_dirs: dict[str, int | None] = {}
        scores_name = s.validation_scores_file
        scores_at = expected.index(scores_name) if scores_name in expected else None
        for n, d in numbered:
            if contiguous and n != completed:
                contiguous = False
            # The dir's mtime before its files are looked at, then one stat per expected file; the
            # scores file, when it is to be read (no scores kept for this epoch), opened instead.
            read_now = scores_at if contiguous and n == completed and n not in memo else None
            seen = None if n in tail else _finished_epoch(prefix + d, expected, read_now)
            if seen is not None:  # finished, seen with one stat per expected file
                old_m, stats, newest, opened = seen
                old_dirs[prefix + d] = old_m
                fast_done.append(n)
                rec = EpochRecord(n, True, newest)  # index, finished, finish_time
                if contiguous:
                    completed = n + 1
                    spath = prefix + d + os.sep + scores_name
                    sst = stats[scores_at] if scores_at is not None else _stat_result(spath)
                    finished_scores[spath] = (sst.st_mtime, sst.st_size) if sst is not None and S_ISREG(sst.st_mode) else None
                    if sst is not None:
                        self._read_scores_at(rec, spath, sst.st_mtime, sst.st_size, memo.get(n), warnings, opened)
                    elif opened is not None:
                        os.close(opened[0])
                else:
                    warnings.append(
                        f"{self.work_dir}: epoch {n} is finished but epoch {completed} is not: a gap in the epochs (deleted files or a crashed writer?)"
                    )
                records.append(rec)
                continue
            sub = scan_dir(prefix + d, mtime_ns=tail.get(n))
            subs[n] = sub
            finished = sub.exists and epoch_finished_from_listing(sub, expected)
            finish_time = max((sub.files[f].mtime for f in expected if f in sub.files), default=None)
            rec = EpochRecord(index=n, finished=finished, finish_time=finish_time)
            if not sub.exists:
                warnings.append(f"{sub.path}: {sub.error}")
            elif not finished:
                warnings.extend(_blocked_files(sub, expected))
            if finished and contiguous:
                completed = n + 1
                finished_scores[os.path.join(sub.path, scores_name)] = _file_seen(sub.files.get(scores_name))
                self._read_scores(rec, sub, memo.get(n), warnings)
            else:
                if contiguous:
                    contiguous = False
                for f in expected:
                    frontier[os.path.join(sub.path, f)] = _file_seen(sub.files.get(f))
                if finished:
                    warnings.append(
                        f"{self.work_dir}: epoch {n} is finished but epoch {completed} is not: a gap in the epochs (deleted files or a crashed writer?)"
                    )
            records.append(rec)
        if fast_done and fast_done[-1] >= completed - 1:
            return None
        # Timing
        top = listing.files
        start_candidates = [st.mtime for name, st in top.items() if st.is_file and name not in _NOT_START_FILES and not is_own_name(name)]
        for r in records[:1]:
            if r.finish_time is not None and r.index == 0:
                start_candidates.append(r.finish_time - 0.0)
        start_time = min(start_candidates) if start_candidates else None
        prev = start_time
        for r in records:
            if r.finished and r.finish_time is not None and prev is not None and r.index < completed:
                r.duration = max(r.finish_time - prev, 0.0)
            if r.finished and r.finish_time is not None:
                prev = r.finish_time
        # Names interned: "train_val_0.log" is one string for every run that keeps it in its details.
        logs = sorted(
            matching_logs([(sys.intern(n), st.mtime) for n, st in top.items() if st.is_file], self.get_log_pattern()), key=lambda x: x[1], reverse=True
        )
        artifact_times = [r.finish_time for r in records if r.finish_time is not None]
        last_update = max([m for _, m in logs[:1]] + artifact_times, default=None)
        lf = memo_log_facts(self, logs[0][0], top.get(logs[0][0])) if logs else None
        error_message = lf.exception if lf is not None else None
        # The trainer's own progress.json (not one runwatch wrote): evidence, read first.
        trainer_pj, self._trainer_pj = trainer_progress_json(self, top.get(PROGRESS_JSON))
        # Totals and scores
        if total is None:
            legacy, _ = read_progress_json(self.work_dir) if PROGRESS_JSON in top else (None, None)
            if legacy is not None and legacy.total_epochs:
                total = legacy.total_epochs
            else:
                warnings.append(f"{self.work_dir}: total epochs unknown (no 'epochs' in the config)")
        series = [r.scores for r in records if r.index < completed]
        directions, dir_warning = self._directions(next((x for x in reversed(series) if x), None))
        if dir_warning and series:
            warnings.append(dir_warning)
        elif directions is None and any(x is not None for x in series):
            warnings.append(
                f"{self.work_dir}: metric directions unknown (no metric sources, no score name to go by): no best epoch and no early stop are claimed from the scores"
            )
        trace = replay(series, directions, self._patience())
        early, early_at, early_source = decide_early_stop(trace, completed, total, trainer_pj, lf, self._patience())
        best_i = trace.best_index
        best = series[best_i] if best_i is not None else None
        latest = next((x for x in reversed(series) if x is not None), None)
        if total is not None and completed > total:
            warnings.append(f"{self.work_dir}: {completed} epochs on disk but the config says {total} (config changed after launch?)")
        done_all = early or (total is not None and completed >= total)
        in_progress = lf.progress_dict() if lf is not None and not done_all else None
        if done_all:
            forget_log_facts(self)
        frac = epoch_fraction(in_progress, completed)
        if frac is None:
            in_progress = None
        if early:
            pct = 100.0
        elif total:
            # Whole epochs plus the share of the current one its log shows done: never a whole epoch more.
            pct = min(100.0, (completed + min(frac or 0.0, 0.999)) * 100.0 / total)
        else:
            pct = 0.0
        eta = None
        if not done_all and total is not None:
            recent = [r.duration for r in records if r.index < completed and r.duration is not None][-ETA_WINDOW:]
            if recent:
                eta = sum(recent) / len(recent) * max(total - completed - (frac or 0.0), 0.0)
        sessions = count_sessions(top, len(logs))
        warnings.extend(launch_config_warnings(self, top.get(CONFIG_JSON), self._launch_expectation()))
        link_warning = best_link_warning(self, top, best_i, completed, directions is not None and dir_warning is None)
        if link_warning:
            warnings.append(link_warning)
        self.details = RunDetails(epochs=records, logs=logs, eta_seconds=eta, own_progress_json=self._own_pj)
        # Watched: every epoch dir (entry names for the ones still in flux: the last finished
        # one and the unfinished ones), every finished epoch's scores file, the files still
        # being written, the logs and the trainer's own records (see docs/api.md for the cost).
        watched: dict[str, tuple[int | None, tuple[str, ...] | None]] = {self.work_dir: (listing.mtime_ns, listing_names(listing.files, listing.dirs))}
        every = s.watch_finished_epochs
        if every:
            for path, m in old_dirs.items():
                watched[path] = (m, None)  # names only matter while racy: then the next check lists it
        for n, sub in subs.items():
            if n >= completed - 1 or (every and sub.exists):
                watched[sub.path] = (sub.mtime_ns, listing_names(sub.files, sub.dirs))
        files = dict(frontier)
        if every:
            files.update(finished_scores)
        for name, _ in logs:
            files[os.path.join(self.work_dir, name)] = _file_seen(top.get(name))
        for name in (PROGRESS_JSON, CONFIG_JSON):  # evidence too; watched present or absent
            files[os.path.join(self.work_dir, name)] = _file_seen(top.get(name))
        self._hint = {}
        self._watch(watched, files)
        progress = ProgressInfo(
            completed_epochs=completed,
            progress_percentage=pct,
            early_stopped=early,
            early_stopped_at_epoch=early_at if early else None,
            runner_type=self.get_runner_type(),
            total_epochs=total,
            start_time=start_time,
            last_update_time=last_update,
            best_score=best,
            latest_score=latest,
            error_message=error_message,
            warnings=warnings or None,
            best_epoch=best_i,
            early_stop_source=early_source,
            in_progress=in_progress,
            sessions=sessions,
        )
        self._finish(progress, records, completed)
        return progress

    def _finish(self, progress: ProgressInfo, records: list[EpochRecord], completed: int) -> None:
        """Hook for subclasses (multi-stage) to add their fields."""

    def _launch_expectation(self) -> tuple[int | None, tuple[bool, int | None] | None, str | None] | None:
        """(epochs, (early stopping on, patience), metric class name) the config file says today, for config.json."""
        c = self.config
        if c is None or c.is_multi_stage or c.error:
            return None
        st = c.first
        es = (st.early_stopping_enabled, st.early_stopping_patience) if "early_stopping" in st.keys else (False, None)
        return (st.epochs, es, st.metric.name if st.metric is not None else None)

    def _read_scores(self, rec: EpochRecord, sub: DirListing, old: EpochRecord | None, warnings: list[str]) -> None:
        name = self.settings.validation_scores_file
        st = sub.files.get(name)
        if st is None:
            return
        self._read_scores_at(rec, os.path.join(sub.path, name), st.mtime, st.size, old, warnings)

    def _read_scores_at(
        self,
        rec: EpochRecord,
        path: str,
        mtime: float,
        size: int,
        old: EpochRecord | None,
        warnings: list[str],
        opened: tuple[int, os.stat_result] | None = None,
    ) -> None:
        """``opened``: the file already open through the checked opener (closed here, read or not)."""
        stat_key = pack_stat(int(mtime * 1e9), size)
        if old is not None and old.scores_stat == stat_key and old.scores is not None:
            if opened is not None:
                os.close(opened[0])
            rec.scores, rec.scores_stat = old.scores, stat_key
            return
        scores, problem = read_aggregated(path, opened)
        if problem is not None:
            warnings.append(str(problem))
        rec.scores, rec.scores_stat = scores, stat_key

    def is_complete(self) -> bool:
        return self.complete_from(self.get_progress())

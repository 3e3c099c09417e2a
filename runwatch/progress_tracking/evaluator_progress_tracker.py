"""Progress of BaseEvaluator runs: binary, from ``evaluation_scores.json``.

Done means the scores file exists, is non-empty and parses; anything less (missing,
empty, malformed, caught mid-write) is "not complete" with a warning, never an
exception, because a half-written file is the normal state of a finishing evaluator.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker, RunDetails
from runwatch.progress_tracking.change_detection import listing_names
from runwatch.progress_tracking.progress_store import PROGRESS_JSON, is_own_name
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.readers.artifacts import scan_dir
from runwatch.readers.jsonfile import read_json_tolerant
from runwatch.readers.logs import matching_logs
from runwatch.progress_tracking.pylon_evidence import (
    count_sessions,
    evaluation_fraction,
    forget_log_facts,
    memo_log_facts,
    whole_config_warning,
    config_file_key,
)
from runwatch.readers.launch_config import CONFIG_JSON
from runwatch.progress_tracking.trainer_progress_tracker import _file_seen


class EvaluatorProgressTracker(BaseProgressTracker):
    """Progress tracker for BaseEvaluator runs."""

    def get_runner_type(self) -> Literal["trainer", "evaluator", "multi_stage"]:
        return "evaluator"

    def get_expected_files(self) -> list[str]:
        return list(self.settings.evaluator_expected_files)

    def get_log_pattern(self) -> str:
        return self.settings.evaluator_log_pattern

    def complete_from(self, progress: ProgressInfo) -> bool:
        return progress.completed_epochs >= 1

    def _save_progress_cache(self, progress: ProgressInfo) -> None:
        """Evaluators write no progress.json in Pylon; runwatch does not add one to their dirs."""

    def calculate_progress(self) -> ProgressInfo:
        listing = scan_dir(self.work_dir)
        if not listing.exists:
            self._hint = {"missing": True} if listing.error == "missing" else {}
            self.details = RunDetails()
            reason = "no work dir: the run was never launched" if listing.error == "missing" else f"cannot read work dir ({listing.error})"
            return ProgressInfo(0, 0.0, runner_type="evaluator", total_epochs=1, error_message=f"{self.work_dir}: {reason}")
        warnings: list[str] = list(self.extra_warnings)
        warnings.extend(listing.special_warnings())  # a FIFO or device in the work dir: never opened
        complete = True
        scores: dict[str, Any] | None = None
        finish_time: float | None = None
        for name in self.get_expected_files():
            st = listing.files.get(name)
            path = os.path.join(self.work_dir, name)
            if st is None:
                if name in listing.dirs:
                    warnings.append(f"{path}: is a directory, expected a file")
                complete = False
                continue
            if name in listing.special:  # warned above
                complete = False
                continue
            data, problem = read_json_tolerant(path) if name.endswith(".json") else (None, None)
            if problem is not None:
                warnings.append(f"{problem}; evaluation not counted as complete")
                complete = False
                continue
            finish_time = max(finish_time or 0.0, st.mtime)
            if name == self.settings.evaluation_scores_file:
                agg = data.get("aggregated") if isinstance(data, dict) else None
                if isinstance(agg, dict):
                    scores = agg
                else:
                    warnings.append(f"{path}: no 'aggregated' scores in the file")
        top = listing.files
        # Names interned: "train_val_0.log" is one string for every run that keeps it in its details.
        logs = sorted(
            matching_logs([(sys.intern(n), st.mtime) for n, st in top.items() if st.is_file], self.get_log_pattern()), key=lambda x: x[1], reverse=True
        )
        start_candidates = [
            st.mtime for n, st in top.items() if st.is_file and n != PROGRESS_JSON and not is_own_name(n) and n not in self.get_expected_files()
        ]
        start_time = min(start_candidates) if start_candidates else None
        last_update = max([m for _, m in logs[:1]] + ([finish_time] if finish_time else []), default=None)
        lf = memo_log_facts(self, logs[0][0], top.get(logs[0][0])) if logs else None
        error_message = lf.exception if lf is not None else None
        # An evaluation under way: its last "Evaluation [Iteration k/N]" line.
        in_progress = lf.progress_dict() if lf is not None and not complete else None
        if complete:
            forget_log_facts(self)
        frac = evaluation_fraction(in_progress)
        if frac is None:
            in_progress = None
        eta = None
        if frac and start_time is not None and last_update is not None and last_update > start_time:
            eta = (last_update - start_time) * (1.0 - frac) / frac
        if CONFIG_JSON in top:
            changed = whole_config_warning(self)
            if changed:
                warnings.append(changed)
        self.details = RunDetails(epochs=[], logs=logs, eta_seconds=eta)
        files = {os.path.join(self.work_dir, n): _file_seen(top.get(n)) for n in (*self.get_expected_files(), *(n for n, _ in logs))}
        if CONFIG_JSON in top:
            files[os.path.join(self.work_dir, CONFIG_JSON)] = _file_seen(top.get(CONFIG_JSON))
        self._hint = {}
        self._watch({self.work_dir: (listing.mtime_ns, listing_names(listing.files, listing.dirs))}, files)
        return ProgressInfo(
            completed_epochs=1 if complete else 0,
            progress_percentage=100.0 if complete else min(frac or 0.0, 0.999) * 100.0,
            runner_type="evaluator",
            total_epochs=1,
            start_time=start_time,
            last_update_time=last_update,
            best_score=scores if complete else None,
            latest_score=scores if complete else None,
            error_message=error_message,
            warnings=warnings or None,
            in_progress=in_progress,
            sessions=count_sessions(top, len(logs)),
        )

    def _key_extra(self) -> Any:
        return config_file_key(self)

    def live_paths(self, progress: ProgressInfo) -> tuple[set[str], set[str]]:
        """What an evaluator can still change: the work dir's entries and its newest log; until it is
        done also its scores file (written in place). A resumed evaluation starts a new log first."""
        files = set()
        newest = self.details.newest_log
        if newest is not None:
            files.add(newest)
        if not self.complete_from(progress):
            files.update(f for f in self._hint.get("files", ()) if "/" not in f and f in self.get_expected_files())
        return {""}, files

    def is_complete(self) -> bool:
        return self.complete_from(self.get_progress())

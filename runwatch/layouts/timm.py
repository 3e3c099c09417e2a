"""timm ``train.py`` runs: ``output/train/<date>-<model>-<size>/`` with ``args.yaml`` and ``summary.csv``.

What is read (see docs/layouts.md): ``args.yaml`` (``epochs`` + ``cooldown_epochs``: the total, as timm's
scheduler counts it; ``eval_metric``: the main metric, lower is better only for a loss; the
hyperparameters), ``summary.csv`` (``timm.utils.update_summary``: one row per finished epoch, ``epoch``
from 0, ``train_*`` / ``eval_*`` / ``lr``) and the checkpoints ``CheckpointSaver`` writes
(``last.pth.tar``, ``checkpoint-<epoch>.pth.tar``, ``model_best.pth.tar``: their names and times only).
timm has no early stopping and writes no end marker: a run has finished when its rows reach the total.
"""

from __future__ import annotations

import os
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, RunFolderTracker, lab_logs, listing, seen, stat_or_none
from runwatch.layouts.epoch_runs import best_index, count, epoch_eta, facts_key, flat_params, num, percent, yaml_at
from runwatch.progress_tracking.base_progress_tracker import EpochRecord
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.readers.csvmetrics import CsvTail

RUNNER_TYPE = register_runner_type("timm")
ARGS = "args.yaml"
SUMMARY = "summary.csv"
_NUMBERED = re.compile(r"^checkpoint-(\d+)\.pth\.tar$")
_CHECKPOINT = re.compile(r"^(?:checkpoint-\d+|last|model_best)\.pth\.tar$")


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    return ARGS in names and (SUMMARY in names or any(_CHECKPOINT.match(n) for n in names))


def _args(run: str) -> tuple[dict[str, Any], str | None]:
    value, problem = yaml_at(os.path.join(run, ARGS))
    if problem is None and not isinstance(value, dict):
        problem = f"{os.path.join(run, ARGS)}: not a mapping of arguments"
    return (value if isinstance(value, dict) else {}), problem


def eval_metric(args: dict[str, Any]) -> tuple[str, int]:
    """The summary column of the main metric and its direction (timm: ``decreasing`` only for ``loss``)."""
    metric = args.get("eval_metric")
    metric = metric if isinstance(metric, str) and metric else "top1"
    return f"eval_{metric}", -1 if "loss" in metric else 1


def total_epochs(args: dict[str, Any]) -> int | None:
    epochs = count(args.get("epochs"))
    if epochs is None:
        return None
    cooldown = args.get("cooldown_epochs")
    return epochs + (int(cooldown) if isinstance(cooldown, int) and not isinstance(cooldown, bool) and cooldown > 0 else 0)


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    args, _ = _args(run)
    key, direction = eval_metric(args)
    stage = StageFacts(runner=ClassRef("timm", "train"), epochs=total_epochs(args), directions={key: direction}, directions_source="source")
    return ConfigFacts(path=run, stages=[stage]), [os.path.join(run, ARGS)]


def hyperparameters(run: str) -> dict[str, Any]:
    return flat_params(_args(run)[0])


def complete_from(progress: ProgressInfo) -> bool:
    return progress.progress_percentage >= 100.0


class TimmProgressTracker(RunFolderTracker):
    """Progress of one timm output folder from its summary rows."""

    RUNNER_TYPE = RUNNER_TYPE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csv = CsvTail(os.path.join(self.work_dir, SUMMARY))

    def get_expected_files(self) -> list[str]:
        return [SUMMARY]

    def _key_extra(self) -> Any:
        return facts_key(self.config)  # args.yaml is watched by the facts

    def get_log_pattern(self) -> str:
        return SUMMARY

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def calculate_progress(self) -> ProgressInfo:
        wd = self.work_dir
        warnings: list[str] = list(self.extra_warnings)
        top_m, names = listing(wd)
        if top_m is None:
            return self._unreadable()
        dirs: dict[str, Any] = {wd: (top_m, names)}
        files: dict[str, Any] = {}
        args, problem = _args(wd)
        if problem:
            warnings.append(problem)
        logs: list[tuple[str, float]] = []
        rows: list[dict[str, Any]] = []
        if SUMMARY in names:
            path = os.path.join(wd, SUMMARY)
            st = stat_or_none(path)
            files[path] = seen(st)
            if st is not None:
                logs.append((SUMMARY, st.st_mtime))
            rows = self._csv.read()
            if self._csv.problem:
                warnings.append(self._csv.problem)
        if "last.pth.tar" in names and (st := stat_or_none(os.path.join(wd, "last.pth.tar"))) is not None:
            logs.append(("last.pth.tar", st.st_mtime))  # saved with each row: not watched apart
        text_logs, error = lab_logs(wd, names, self.settings.trainer_log_pattern, files)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)
        # One row per epoch (a resumed run appends rows again from its start epoch: the last row of an epoch wins).
        by_epoch: dict[int, dict[str, Any]] = {}
        for r in rows:
            e = r.get("epoch")
            if isinstance(e, int) and not isinstance(e, bool) and e >= 0:
                by_epoch[e] = {k: v for k, v in r.items() if k != "epoch" and num(v) is not None}
        done = max(by_epoch) + 1 if by_epoch else 0
        series = [by_epoch.get(i) for i in range(done)]
        total = total_epochs(args)
        if total is None:
            warnings.append(f"{wd}: total epochs unknown (no epochs in {ARGS})")
        key, direction = eval_metric(args)
        if series and not any(s and key in s for s in series):
            warnings.append(f"{wd}: eval_metric {key[5:]!r} is not a column of {SUMMARY}")
        bi = best_index([num(s.get(key)) if s else None for s in series], direction)
        complete = total is not None and done >= total
        records = [EpochRecord(index=i, finished=True, scores=s) for i, s in enumerate(series)]
        # When each epoch ended: its checkpoint-<epoch>.pth.tar (written once, never changed: not watched).
        ends = sorted((int(m.group(1)), st.st_mtime) for n in names if (m := _NUMBERED.match(n)) and (st := stat_or_none(os.path.join(wd, n))) is not None)
        eta = None if complete else epoch_eta(ends, done, total)
        self.details = RunFolderDetails(epochs=records, logs=logs, eta_seconds=eta)
        self._hint = {}
        self._watch(dirs, files)
        return ProgressInfo(
            completed_epochs=done,
            progress_percentage=percent(done, total, complete),
            runner_type=RUNNER_TYPE,  # type: ignore[arg-type]
            total_epochs=total,
            last_update_time=max((m for _, m in logs), default=None),
            best_score=series[bi] if bi is not None else None,
            latest_score=next((s for s in reversed(series) if s), None),
            error_message=error,
            warnings=warnings or None,
            best_epoch=bi,
        )


class TimmLayout(RunFolderLayout):
    name = "timm"
    tracker_class = TimmProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def hyperparameters(self, project: Any, run: str) -> dict[str, Any]:
        return hyperparameters(run)

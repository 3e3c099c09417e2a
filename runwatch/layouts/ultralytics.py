"""Ultralytics YOLO training runs: ``runs/<task>/<name>/`` with ``args.yaml``, ``results.csv`` and ``weights/``.

What is read (see docs/layouts.md): ``args.yaml`` (``epochs``, ``patience``, ``time``: the total, the
early-stopping patience and the hyperparameters; read for the facts), ``results.csv`` (one row per
finished epoch, ``epoch`` from 1; column names may be padded with spaces), and ``weights/last.pt``'s
``epoch`` (decoded as data, without torch): a run that ended by itself has its optimizer stripped and
``epoch == -1``, an interrupted one keeps ``epoch >= 0``. Fitness, YOLO's own score of a row, is
0.1 x mAP50 + 0.9 x mAP50-95 per head (box, mask, pose; summed), or the mean of top-1 and top-5 accuracy
for classification. Its process: ``yolo ... name=N [project=P]`` on the command line.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.base import ProcessMatcher
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, StatMemo
from runwatch.layouts.epoch_runs import (
    ARGS_YAML,
    args_hyperparameters,
    args_yaml,
    CsvRowsTracker,
    csv_step_series,
    FolderMatcher,
    best_index,
    count,
    epoch_eta,
    num,
)
from runwatch.progress_tracking.observation import Observation
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.project import Project
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch.state import STATE

RUNNER_TYPE = register_runner_type("ultralytics")
ARGS = ARGS_YAML
RESULTS = "results.csv"
FITNESS = "fitness"
_HEADS = ("(B)", "(M)", "(P)")  # box, mask, pose
YOLO_TASKS = ("detect", "segment", "classify", "pose", "obb")


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    return ARGS in names and (RESULTS in names or "weights" in names) and "summary.csv" not in names


def fitness(row: dict[str, Any]) -> float | None:
    """Ultralytics' fitness of a results.csv row (``Metric.fitness`` summed over heads; classification: mean top-1/top-5)."""
    total, found = 0.0, False
    for head in _HEADS:
        m50, m5095 = num(row.get(f"metrics/mAP50{head}")), num(row.get(f"metrics/mAP50-95{head}"))
        if m50 is not None and m5095 is not None:
            total += 0.1 * m50 + 0.9 * m5095
            found = True
    if found:
        return total
    t1, t5 = num(row.get("metrics/accuracy_top1")), num(row.get("metrics/accuracy_top5"))
    return (t1 + t5) / 2 if t1 is not None and t5 is not None else None


def _last_pt(path: str) -> dict[str, Any]:
    value, problem = read_torch_file(path)
    data = plain(value) if value is not None else None
    if not isinstance(data, dict):
        return {"problem": problem or f"{path}: not a checkpoint dict"}
    return {"epoch": data.get("epoch"), "best_fitness": num(data.get("best_fitness"))}


_CKPT: StatMemo = STATE.table("layouts.ultralytics.last_pt", lambda: StatMemo(limit=4096))


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    args, problem = args_yaml(run)
    patience = count(args.get("patience"))
    timed = bool(args.get("time"))
    epochs = None if timed else count(args.get("epochs"))
    warnings = [problem] if problem else []
    if timed:
        warnings.append(f"{run}: trained for time={args.get('time')} hours: YOLO sets the number of epochs as it goes, total unknown")
    elif epochs is None:
        warnings.append(f"{run}: total epochs unknown (no epochs in {ARGS})")
    stage = StageFacts(
        runner=ClassRef("ultralytics", "YOLO"),
        epochs=epochs,
        directions={FITNESS: 1},
        directions_source="source",
        early_stopping_enabled=patience is not None,
        early_stopping_patience=patience,
    )
    return ConfigFacts(path=run, stages=[stage], warnings=warnings), [os.path.join(run, ARGS)]


def complete_from(progress: ProgressInfo) -> bool:
    return progress.early_stopped or progress.progress_percentage >= 100.0


class UltralyticsProgressTracker(CsvRowsTracker):
    """Progress of one YOLO training run folder (its total and patience come with the facts, from args.yaml)."""

    RUNNER_TYPE = RUNNER_TYPE
    ROWS_FILE = RESULTS

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        wd = self.work_dir
        warnings: list[str] = []
        # Both watched by their own stat even before they appear: the folders' listings are not needed.
        rows = self.read_rows(reader, warnings)
        rows = [{k.strip(): v for k, v in r.items()} for r in rows]
        lp = os.path.join(wd, "weights", "last.pt")
        last: dict[str, Any] = {}
        if reader.stat(lp) is not None:
            last = reader.remembered(lp, _CKPT, _last_pt) or {}
            if last.get("problem"):
                warnings.append(last["problem"])
        logs: list[tuple[str, float]] = []
        results_mtime = reader.mtime(self._csv.path)
        if results_mtime is not None:
            logs.append((RESULTS, results_mtime))
        error = self.with_lab_logs(reader, names, logs)

        series: list[dict[str, Any] | None] = []
        for r in rows:
            scores = {k: v for k, v in r.items() if k not in ("epoch", "time") and num(v) is not None}
            f = fitness(r)
            series.append({FITNESS: f, **scores} if f is not None else scores)
        done = len(series)
        total = self.config.epochs if self.config is not None else None
        stripped = last.get("epoch") == -1  # strip_optimizer ran: training ended by itself (final_eval)
        times = [(i, t) for i, r in enumerate(rows) if (t := num(r.get("time"))) is not None]
        start = results_mtime - times[-1][1] if results_mtime is not None and times else None
        obs = Observation(
            completed_epochs=done,
            total_epochs=total,
            series=series,
            monitor=FITNESS,
            best_index=best_index([s.get(FITNESS) if s else None for s in series], 1),
            # Ended by itself before its epochs: YOLO's EarlyStopping (a time= run has no fixed total).
            stopped_early=stripped and total is not None and done < total,
            finished=stripped,
            start_time=start,
            last_update_time=max((m for _, m in logs), default=None),
            warnings=warnings,
            error_message=error,
        )
        # results.csv's "time" is seconds since training started: the pace of the last epochs.
        self._epoch_eta = epoch_eta(times, done, total)
        return obs, RunFolderDetails(logs=logs)


def yolo_folder(argv: list[str]) -> str | None:
    """``project/name`` of a ``yolo`` command line with ``name=`` (the folder Ultralytics writes)."""
    kv = dict(tok.split("=", 1) for tok in argv if "=" in tok and not tok.startswith("-"))
    if not kv.get("name") or not any(os.path.basename(t).startswith("yolo") for t in argv[:2]):
        return None
    task = next((t for t in argv if t in YOLO_TASKS), None) or kv.get("task") or "detect"
    project = kv.get("project") or posixpath.join("runs", task)
    return posixpath.join(project, kv["name"])


class UltralyticsLayout(RunFolderLayout):
    """Ultralytics YOLO: ``runs/<task>/<name>/`` holding ``args.yaml`` and ``results.csv`` or ``weights/``."""

    name = "ultralytics"
    title = "Ultralytics YOLO (runs/<task>/<name> with args.yaml and results.csv)"
    tracker_class = UltralyticsProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def process_matcher(self, project: Project, remote: bool) -> ProcessMatcher | None:
        return FolderMatcher(project, yolo_folder, ("name=",))

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        return args_hyperparameters(run)

    def step_series(self, project: Project, run: str) -> dict[str, list[tuple[float, float]]]:
        """results.csv's columns by epoch: one row per epoch is the finest YOLO logs (``time``, cumulative seconds, left out)."""
        return csv_step_series(os.path.join(run, RESULTS), "epoch", frozenset(("time",)))

"""timm ``train.py`` runs: ``output/train/<date>-<model>-<size>/`` with ``args.yaml`` and ``summary.csv``.

What is read (see docs/layouts.md): ``args.yaml`` (``epochs`` + ``cooldown_epochs``: the total, as timm's
scheduler counts it; ``eval_metric``: the main metric, lower is better only for a loss; the
hyperparameters; read for the facts), ``summary.csv`` (``timm.utils.update_summary``: one row per
finished epoch, ``epoch`` from 0, ``train_*`` / ``eval_*`` / ``lr``) and the checkpoints
``CheckpointSaver`` writes (``last.pth.tar``, ``checkpoint-<epoch>.pth.tar``: their times only). timm has
no early stopping and writes no end marker: a run has finished when its rows reach the total. Its
process: ``train.py --experiment E [--output O]`` on the command line.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.base import ProcessMatcher
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, stat_or_none
from runwatch.layouts.epoch_runs import (
    ARGS_YAML,
    args_hyperparameters,
    args_yaml,
    rows_by_epoch,
    CsvRowsTracker,
    csv_step_series,
    FolderMatcher,
    count,
    epoch_eta,
    flag_value,
)
from runwatch.progress_tracking.observation import Observation
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.project import Project

RUNNER_TYPE = register_runner_type("timm")
ARGS = ARGS_YAML
SUMMARY = "summary.csv"
_NUMBERED = re.compile(r"^checkpoint-(\d+)\.pth\.tar$")
_CHECKPOINT = re.compile(r"^(?:checkpoint-\d+|last|model_best)\.pth\.tar$")


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    return ARGS in names and (SUMMARY in names or any(_CHECKPOINT.match(n) for n in names))


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
    args, problem = args_yaml(run)
    key, direction = eval_metric(args)
    total = total_epochs(args)
    warnings = [problem] if problem else []
    if total is None:
        warnings.append(f"{run}: total epochs unknown (no epochs in {ARGS})")
    stage = StageFacts(runner=ClassRef("timm", "train"), epochs=total, directions={key: direction}, directions_source="source")
    return ConfigFacts(path=run, stages=[stage], warnings=warnings), [os.path.join(run, ARGS)]


def complete_from(progress: ProgressInfo) -> bool:
    return progress.progress_percentage >= 100.0


class TimmProgressTracker(CsvRowsTracker):
    """Progress of one timm output folder from its summary rows (total and main metric: the facts, from args.yaml)."""

    RUNNER_TYPE = RUNNER_TYPE
    ROWS_FILE = SUMMARY

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        wd = self.work_dir
        warnings: list[str] = []
        rows = self.read_rows(reader, warnings)
        logs: list[tuple[str, float]] = []
        if (mt := reader.mtime(self._csv.path)) is not None:
            logs.append((SUMMARY, mt))
        # Saved with each row, and checkpoint-<epoch>.pth.tar written once, never changed: not watched apart.
        if "last.pth.tar" in names and (st := stat_or_none(os.path.join(wd, "last.pth.tar"))) is not None:
            logs.append(("last.pth.tar", st.st_mtime))
        ends = sorted((int(m.group(1)), st.st_mtime) for n in names if (m := _NUMBERED.match(n)) and (st := stat_or_none(os.path.join(wd, n))) is not None)
        error = self.with_lab_logs(reader, names, logs)
        by_epoch = rows_by_epoch(rows)
        done = max(by_epoch) + 1 if by_epoch else 0
        series = [by_epoch.get(i) for i in range(done)]
        directions = self.config.directions if self.config is not None else None
        key = next(iter(directions), None) if directions else None
        if key and series and not any(s and key in s for s in series):
            warnings.append(f"{wd}: eval_metric {key[5:]!r} is not a column of {SUMMARY}")
        total = self.config.epochs if self.config is not None else None
        obs = Observation(
            completed_epochs=done,
            total_epochs=total,
            series=series,
            monitor=key,
            last_update_time=max((m for _, m in logs), default=None),
            warnings=warnings,
            error_message=error,
        )
        self._epoch_eta = epoch_eta(ends, done, total)
        return obs, RunFolderDetails(logs=logs)


def timm_folder(argv: list[str]) -> str | None:
    """``--output/--experiment`` of a timm ``train.py`` command line (without ``--experiment`` the folder is dated)."""
    exp = flag_value(argv, "--experiment")
    if not exp:
        return None
    return posixpath.join(flag_value(argv, "--output") or "./output/train", exp)


class TimmLayout(RunFolderLayout):
    """timm's train.py: an output folder holding ``args.yaml`` and ``summary.csv`` or its checkpoints."""

    name = "timm"
    title = "timm train.py (output/train/<date>-<model>-<size> with args.yaml and summary.csv)"
    tracker_class = TimmProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def process_matcher(self, project: Project, remote: bool) -> ProcessMatcher | None:
        return FolderMatcher(project, timm_folder, ("--experiment",))

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        return args_hyperparameters(run)

    def step_series(self, project: Project, run: str) -> dict[str, list[tuple[float, float]]]:
        """summary.csv's columns by epoch (one row per epoch: the finest timm writes to disk)."""
        return csv_step_series(os.path.join(run, SUMMARY), "epoch")

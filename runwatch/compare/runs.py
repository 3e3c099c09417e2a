"""``CompareRun``: what a comparison needs of one run, taken from its status and its layout.

Built from a ``RunStatus`` and its ``ConfigFacts`` (what the CLI's scan and the live index
already hold), so a comparison re-reads nothing the status knows: the per-epoch scores come
from the status's details. Hyperparameters, per-step curves and per-datapoint scores are
read only when a document asks for them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from runwatch.compare.metrics import flatten_metrics
from runwatch.layout import Project
from runwatch.run_status.run_status import RunStatus

_REPETITION = re.compile(r"^(.+)_run_(\d+)$")


def repetition_group(name: str) -> str | None:
    """``exp/lr_0.1_run_2`` -> ``exp/lr_0.1``: runs named ``<name>_run_<k>`` are repetitions (seeds) of one experiment."""
    m = _REPETITION.match(name)
    return m.group(1) if m else None


@dataclass
class CompareRun:
    """One run of a comparison."""

    id: str
    name: str
    key: str
    work_dir: str
    status: str | None
    runner_type: str | None
    directions: dict[str, Any] | None
    # (epoch index, {metric: value}) of every finished epoch with scores (an evaluator: one, index 0)
    epochs: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    best_epoch: int | None = None
    best: dict[str, float] = field(default_factory=dict)
    latest: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    project: Project | None = None
    layout: Any = None
    _params: dict[str, Any] | None = None
    _steps: dict[str, list[tuple[float, float]]] | None = None

    @property
    def group(self) -> str | None:
        return repetition_group(self.name)

    def hyperparameters(self) -> dict[str, Any]:
        if self._params is None:
            from runwatch.compare.query import params_of

            self._params = params_of(self.project, self.key, self.work_dir) if self.layout is not None and self.project is not None else {}
        return self._params

    def step_series(self) -> dict[str, list[tuple[float, float]]]:
        if self._steps is None:
            from runwatch.layouts.run_params import step_series_of

            self._steps = step_series_of(self.layout, self.project, self.key) if self.layout is not None else {}
        return self._steps

    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for _, scores in self.epochs:
            names.update(dict.fromkeys(scores))
        return list(names)

    def scores_files(self) -> list[tuple[int, str]]:
        """(epoch, path) of the scores files holding per-datapoint scores: Pylon's per-epoch and evaluation files."""
        if self.project is None:
            return []
        s = self.project.settings
        if self.runner_type == "evaluator":
            return [(0, os.path.join(self.work_dir, s.evaluation_scores_file))]
        if self.runner_type in ("trainer", "multi_stage"):
            return [(e, os.path.join(self.work_dir, s.epoch_dir_name(e), s.validation_scores_file)) for e, _ in self.epochs]
        return []

    def outside(self, path: str) -> str | None:
        """Why ``path`` is not read: a link that leads out of the run's work dir (else None)."""
        real = os.path.realpath(path)
        root = os.path.realpath(self.work_dir)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return None
        return f"{path}: a link out of the run's folder (to {real}); not read"


def compare_run(project: Project, status: RunStatus, facts: Any = None, entry_id: str | None = None) -> CompareRun:
    """The CompareRun of a scanned run (its status and facts as the scan found them)."""
    from runwatch.view_model import run_id

    name = status.run or status.config
    prog = status.progress
    directions = (facts.directions if facts is not None else None) or None
    if not directions:
        from runwatch.configs.heuristics import heuristic_directions

        directions = heuristic_directions(prog.best_score or prog.latest_score or {}) or None
    epochs: list[tuple[int, dict[str, float]]] = []
    details = status.details
    if details is not None:
        for e in details.epochs:
            if e.finished and e.scores:
                epochs.append((e.index, flatten_metrics(e.scores)))
    if not epochs and prog.latest_score:  # an evaluator: its one evaluation
        epochs.append((0, flatten_metrics(prog.latest_score)))
    try:
        from runwatch.layouts import run_for

        layout = run_for(project, status.config).layout
    except Exception:
        layout = None
    return CompareRun(
        id=entry_id if entry_id is not None else run_id(name),
        name=name,
        key=status.config,
        work_dir=status.work_dir,
        status=str(status.status),
        runner_type=prog.runner_type,
        directions=directions,
        epochs=epochs,
        best_epoch=prog.best_epoch,
        best=flatten_metrics(prog.best_score) if prog.best_score else {},
        latest=flatten_metrics(prog.latest_score) if prog.latest_score else {},
        warnings=list(prog.warnings or []),
        project=project,
        layout=layout,
    )

"""ProgressInfo: the one answer every tracker gives, whatever the runner type.

The first four fields are what Pylon's trainer writes to progress.json and what old
callers read; everything after them is the plan's enhancement, optional so that any
progress.json ever written (4, 5 or 6 fields, unknown extras) still loads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from runwatch.readers.jsonfile import finite_number

# A run's kind: Pylon's three (trainer, evaluator, multi_stage), or the name another layout gives its
# runs with ``register_runner_type``. Open: a new layout registers its kind, the core names none of them.
RunnerType = str
RUNNER_TYPES: list[str] = ["trainer", "evaluator", "multi_stage"]


def register_runner_type(name: str) -> str:
    """Make ``name`` a known runner kind (a progress.json naming it is read back with it)."""
    if name not in RUNNER_TYPES:
        RUNNER_TYPES.append(name)
    return name


LEGACY_FIELDS: tuple[str, ...] = ("completed_epochs", "progress_percentage", "early_stopped", "early_stopped_at_epoch")


@dataclass
class StageProgress:
    """One stage of a multi-stage run; epochs are counted within the stage."""

    index: int
    total_epochs: int | None
    completed_epochs: int
    progress_percentage: float
    runner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ProgressInfo:
    """Progress of one run: epochs done of total, early stop, scores, timing, problems.

    Slotted: a live index keeps one per run, and the ``__dict__`` was half its size.
    """

    completed_epochs: int
    progress_percentage: float
    early_stopped: bool = False
    early_stopped_at_epoch: int | None = None
    runner_type: RunnerType = "trainer"
    total_epochs: int | None = None
    start_time: float | None = None
    last_update_time: float | None = None
    best_score: dict[str, Any] | None = None
    latest_score: dict[str, Any] | None = None
    error_message: str | None = None
    warnings: list[str] | None = None
    # Multi-stage runs (None elsewhere): which stage is running (0-based) and each stage's progress.
    current_stage: int | None = None
    stages: list[StageProgress] | None = None
    # 0-based index of the epoch whose scores are best_score (None when unknown).
    best_epoch: int | None = None
    # Optimizer steps done / planned, where the layout knows them (HF Trainer, Lightning; None for Pylon).
    completed_steps: int | None = None
    total_steps: int | None = None
    # What decided ``early_stopped``: "trainer" (its own progress.json), "log" (its
    # "Training stopped early at epoch N" line), "replay" (runwatch replayed the rule over
    # the scores) or None (no early stopping configured, or nothing said so).
    early_stop_source: str | None = None
    # The epoch or evaluation under way, from the newest log's last progress line:
    # {"phase": "training" | "validation" | "evaluation", "epoch": e | None, "iteration": i, "iterations": M}.
    in_progress: dict[str, Any] | None = None
    # Sessions the run was started in (the first launch plus each resume: train_val_<i>.log / git_<i>.log).
    sessions: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict (a deep copy through copy.deepcopy: most of a
        # 10,000-run ``--json``); the result is the same fresh, JSON-safe dict.
        stages = self.stages
        warnings = self.warnings
        return {
            "completed_epochs": self.completed_epochs,
            "progress_percentage": self.progress_percentage,
            "early_stopped": self.early_stopped,
            "early_stopped_at_epoch": self.early_stopped_at_epoch,
            "runner_type": self.runner_type,
            "total_epochs": self.total_epochs,
            "start_time": self.start_time,
            "last_update_time": self.last_update_time,
            "best_score": json_safe(self.best_score),
            "latest_score": json_safe(self.latest_score),
            "error_message": self.error_message,
            "warnings": list(warnings) if warnings is not None else None,
            "current_stage": self.current_stage,
            "stages": [asdict(st) for st in stages] if stages is not None else None,
            "best_epoch": self.best_epoch,
            "completed_steps": self.completed_steps,
            "total_steps": self.total_steps,
            "early_stop_source": self.early_stop_source,
            "in_progress": dict(self.in_progress) if self.in_progress is not None else None,
            "sessions": self.sessions,
        }

    def to_legacy_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in LEGACY_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressInfo:
        """Build from any progress.json ever written; unknown keys are ignored.

        Raises ValueError (naming the field) when a required field is missing or of
        the wrong type, so a caller can treat the file as unusable, not trust garbage.
        """
        if not isinstance(data, dict):
            raise ValueError(f"progress data must be an object, got {type(data).__name__}")
        for key in ("completed_epochs", "progress_percentage"):
            if key not in data:
                raise ValueError(f"progress data lacks {key!r}")
        completed = data["completed_epochs"]
        pct = data["progress_percentage"]
        if isinstance(completed, bool) or not isinstance(completed, int) or completed < 0:
            raise ValueError(f"completed_epochs must be a non-negative integer, got {completed!r}")
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not math.isfinite(pct):
            raise ValueError(f"progress_percentage must be a finite number, got {pct!r}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["progress_percentage"] = float(pct)
        if kwargs.get("runner_type") not in RUNNER_TYPES:
            kwargs.pop("runner_type", None)
        if kwargs.get("stages") is not None:
            try:
                kwargs["stages"] = [StageProgress(**s) for s in kwargs["stages"]]
            except TypeError as e:
                raise ValueError(f"stages: {e}") from e
        if kwargs.get("warnings") is not None and not isinstance(kwargs["warnings"], list):
            kwargs["warnings"] = [str(kwargs["warnings"])]
        kwargs["early_stopped"] = bool(kwargs.get("early_stopped", False))
        if kwargs.get("in_progress") is not None and not isinstance(kwargs["in_progress"], dict):
            kwargs["in_progress"] = None
        # The optional counts and times as the types the rest reads (``Infinity`` is valid in a file that Python's
        # json wrote, and strict JSON cannot carry it on): anything else is as if the field were absent.
        for key in _COUNT_FIELDS:
            if key in kwargs:
                kwargs[key] = _count(kwargs[key])
        for key in _TIME_FIELDS:
            if key in kwargs:
                kwargs[key] = finite_number(kwargs[key])
        if "error_message" in kwargs and kwargs["error_message"] is not None and not isinstance(kwargs["error_message"], str):
            kwargs["error_message"] = str(kwargs["error_message"])
        return cls(**kwargs)

    def add_warning(self, message: str) -> None:
        if self.warnings is None:
            self.warnings = []
        if message not in self.warnings:
            self.warnings.append(message)


_COUNT_FIELDS = ("total_epochs", "early_stopped_at_epoch", "current_stage", "best_epoch", "completed_steps", "total_steps", "sessions")
_TIME_FIELDS = ("start_time", "last_update_time")


def _count(v: Any) -> int | None:
    """A whole number of at least 0 (an integral float taken as one), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            return None
        v = int(v)
    return v if v >= 0 else None


def json_safe(value: Any) -> Any:
    """NaN/Infinity become strings so every JSON consumer (browsers included) can parse the output."""
    t = type(value)  # exact types first: the bulk of a 10,000-run document
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if value - value == 0.0:
            return value
    elif t is dict:
        return {k if type(k) is str else str(k): json_safe(v) for k, v in value.items()}
    elif t is list:
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value

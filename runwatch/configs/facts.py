"""What tracking needs to know about a config file, as a small typed object.

The reader (``runwatch.configs.reader``) fills these from the syntax tree of a config
file; trackers and status rules depend only on this module, never on how the file
was read, so the reader can change (static, cached, opt-in exec) without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RunnerKind = Literal["trainer", "evaluator", "multi_stage"]


@dataclass(frozen=True)
class ClassRef:
    """A symbolic reference to a class named in a config (never imported)."""

    module: str | None
    qualname: str

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    def __str__(self) -> str:
        return self.dotted


@dataclass
class StageFacts:
    """One stage of a config (a single-stage config has exactly one)."""

    runner: ClassRef | None = None
    runner_kind: RunnerKind | None = None
    epochs: int | None = None
    early_stopping_enabled: bool = False
    early_stopping_patience: int | None = None
    metric: ClassRef | None = None
    # Nested like ``aggregated`` scores; leaves are +1 (higher is better) or -1.
    directions: dict[str, Any] | None = None
    # Where the directions came from: "source", "settings", "heuristic" or None.
    directions_source: str | None = None
    work_dir: str | None = None
    keys: tuple[str, ...] = ()


@dataclass
class ConfigFacts:
    """The facts of one config file; ``error`` is set when the file could not be read."""

    path: str
    stages: list[StageFacts] = field(default_factory=list)
    is_multi_stage: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def first(self) -> StageFacts:
        return self.stages[0] if self.stages else StageFacts()

    @property
    def runner(self) -> ClassRef | None:
        return self.first.runner

    @property
    def runner_kind(self) -> RunnerKind | None:
        if self.is_multi_stage:
            return "multi_stage"
        return self.first.runner_kind

    @property
    def epochs(self) -> int | None:
        """Total epochs: the sum over stages; None when any stage's count is unknown."""
        if not self.stages:
            return None
        counts = [s.epochs for s in self.stages]
        if any(c is None for c in counts):
            return None
        return sum(c for c in counts if c is not None)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.first.keys

    @property
    def work_dir(self) -> str | None:
        return self.first.work_dir

    @property
    def directions(self) -> dict[str, Any] | None:
        return self.first.directions

    @property
    def early_stopping_patience(self) -> int | None:
        s = self.first
        return s.early_stopping_patience if s.early_stopping_enabled else None

"""What a tracker saw of a run, and the one function that turns it into ``ProgressInfo``.

A layout's tracker observes (through a ``RecordingReader``) only what is specific to its
framework: epochs and steps done, the totals, the scores of each epoch or evaluation,
what the framework itself says about the best checkpoint, an early stop or the end of
training. ``progress_from`` then does what every layout shares: the percentage, the ETA
from the step rate, the best and latest scores, and the early-stopping replay over the
scores with the run's metric directions and patience (``early_stopping.replay``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.early_stopping import replay
from runwatch.progress_tracking.progress_info import ProgressInfo

# (wall time, step) points used for the step rate: the most recent ones.
ETA_WINDOW = 20


@dataclass
class Observation:
    """One look at a run's files: what its framework wrote, before anything is derived.

    ``series``: the scores of each epoch (or each evaluation), None where one is missing;
    ``monitor``: the key the framework's early stopping and best checkpoint watch (the
    replay looks at it alone), None for every directed key; ``best_index``: the best entry
    as the framework names it (None: replayed); ``stopped_early``: the framework recorded an
    early stop; ``finished``: it recorded the end of training (``train()`` returned, a stop
    flag); ``epoch_progress``: epochs done with the fraction of the current one, where known.
    """

    completed_epochs: int = 0
    total_epochs: int | None = None
    completed_steps: int | None = None
    total_steps: int | None = None
    epoch_progress: float | None = None
    series: list[dict[str, Any] | None] = field(default_factory=list)
    monitor: str | None = None
    best_index: int | None = None
    stopped_early: bool = False
    finished: bool = False
    step_points: list[tuple[float, int]] = field(default_factory=list)
    start_time: float | None = None
    last_update_time: float | None = None
    warnings: list[str] = field(default_factory=list)
    error_message: str | None = None


@dataclass(frozen=True)
class Derived:
    """What ``progress_from`` adds beyond ProgressInfo: the ETA and the per-entry series."""

    eta_seconds: float | None
    series: list[dict[str, Any] | None]


def step_rate_eta(points: list[tuple[float, int]], step: int, total: int | None) -> float | None:
    """Seconds left at the recent rate of (wall time, step) points; None when unknowable."""
    if total is None or step >= total:
        return None
    pts = sorted(set(points))[-ETA_WINDOW:]
    if len(pts) < 2:
        return None
    (t0, s0), (t1, s1) = pts[0], pts[-1]
    if s1 <= s0 or t1 <= t0:
        return None
    return (total - step) * (t1 - t0) / (s1 - s0)


def progress_from(obs: Observation, facts: ConfigFacts | None, runner_type: str) -> tuple[ProgressInfo, Derived]:
    """The run's ProgressInfo from an observation and its facts (directions, early-stopping patience).

    Done is: the framework says training ended, the total (steps or epochs) is reached, or
    it stopped early; an early stop is the framework's record or the replay's, never when
    the total was reached. A done run is at 100 %; else the share of steps, else of epochs.
    """
    done_epochs, steps = obs.completed_epochs, obs.completed_steps
    total, total_steps = obs.total_epochs, obs.total_steps
    series = obs.series
    directions = facts.directions if facts is not None else None
    patience = facts.early_stopping_patience if facts is not None else None
    monitor = obs.monitor
    watched = [({monitor: s[monitor]} if s and monitor in s else None) for s in series] if monitor else series
    trace = replay(watched, directions, patience) if directions and series else None
    reached = (total_steps is not None and steps is not None and steps >= total_steps) or (total is not None and done_epochs >= total)
    replayed_stop = trace is not None and trace.stop_at is not None and trace.stop_at == done_epochs
    early = not reached and (obs.stopped_early or replayed_stop)
    complete = obs.finished or reached or early
    best_i = obs.best_index if obs.best_index is not None else trace.best_index if trace is not None else None
    best = series[best_i] if best_i is not None and 0 <= best_i < len(series) else None
    latest = next((s for s in reversed(series) if s), None)
    if complete:
        pct = 100.0
    elif total_steps and steps is not None:
        pct = min(100.0, steps * 100.0 / total_steps)
    elif total:
        pct = min(100.0, (obs.epoch_progress if obs.epoch_progress is not None else done_epochs) * 100.0 / total)
    else:
        pct = 0.0
    eta = None
    if not complete and steps is not None:
        if total_steps:
            eta = step_rate_eta(obs.step_points, steps, total_steps)
        elif total and done_epochs:
            # Steps per epoch measured so far, times the epochs planned: the total steps.
            eta = step_rate_eta(obs.step_points, steps, int(steps / done_epochs * total))
    progress = ProgressInfo(
        completed_epochs=done_epochs,
        progress_percentage=pct,
        early_stopped=early,
        early_stopped_at_epoch=done_epochs if early else None,
        runner_type=runner_type,  # type: ignore[arg-type]
        total_epochs=total,
        start_time=obs.start_time,
        last_update_time=obs.last_update_time,
        best_score=best,
        latest_score=latest,
        error_message=obs.error_message,
        warnings=obs.warnings or None,
        best_epoch=best_i,
        completed_steps=steps,
        total_steps=total_steps,
    )
    return progress, Derived(eta, series)

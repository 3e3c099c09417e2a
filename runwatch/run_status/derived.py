"""What is derived from a run's progress, worked out once per computed progress.

A warm scan evaluates every run again although most runs' progress objects are the
ones computed before. What follows from a progress (its headline scores, the time of
the newest artifact, the clock for "outdated") is kept with the run's tracker, keyed
by the identity of the progress, details and facts it came from, and worked out again
only when one of them is a new object. One tuple per run.

The headline dict is stored as a split table (``sharing.split_dict``): a live index
keeps one per run.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.compact import epochs_summary
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.readers.scores import headline
from runwatch.sharing import split_dict


class _Headline:
    """Never used as an object: its instances' ``__dict__`` holds a run's headline (see split_dict)."""


def derived(tracker: BaseProgressTracker | None, facts: ConfigFacts | None, progress: ProgressInfo) -> tuple[dict[str, Any], float | None]:
    """(the run's headline, the time of its newest artifact) for this progress."""
    details = tracker.details if tracker is not None else None
    memo = getattr(tracker, "_derived", None)
    if memo is not None and memo[0] is progress and memo[1] is facts and memo[2] is details:
        return memo[3], memo[4]
    value = split_dict(_Headline, headline(progress.best_score, progress.latest_score, _directions(facts, progress)))
    newest = _artifact_last(details, progress) if details is not None else None
    if tracker is not None:
        tracker._derived = (progress, facts, details, value, newest)  # type: ignore[attr-defined]
    return value, newest


def _directions(facts: ConfigFacts | None, progress: ProgressInfo) -> dict[str, Any] | None:
    if facts is not None and facts.directions:
        return facts.directions
    if progress.best_score:
        from runwatch.configs import heuristic_directions

        return heuristic_directions(progress.best_score) or None
    return None


def _artifact_last(details: Any, progress: ProgressInfo) -> float | None:
    """Newest artifact (epoch files or the evaluator's scores): the clock for 'outdated'."""
    summary = epochs_summary(details)
    if summary is not None:
        if summary[0] is not None:
            return summary[0]
    else:
        times: list[float] = [e.finish_time for e in details.epochs if e.finish_time is not None]
        if times:
            return max(times)
    if progress.runner_type == "evaluator":
        return progress.last_update_time if progress.completed_epochs else None
    return None

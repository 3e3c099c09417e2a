"""Runner detection and tracker creation, failing fast instead of guessing.

A wrong guess (an evaluator tracked as a trainer) makes every finished evaluation
look failed, which is the defect the plan was written to remove; so when neither
the artifacts nor the config say what a run is, this raises with everything a
person needs to fix it.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.progress_tracking import quick_check
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.config_view import ConfigLike, as_config_facts, kind_from_class_name
from runwatch.progress_tracking.evaluator_progress_tracker import EvaluatorProgressTracker
from runwatch.progress_tracking.multi_stage_progress_tracker import MultiStageProgressTracker
from runwatch.progress_tracking.progress_info import RunnerType
from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker
from runwatch.settings import Settings


def _listdir(work_dir: str) -> list[str] | None:
    try:
        return sorted(os.listdir(work_dir))
    except OSError:
        return None


def _has_entries(work_dir: str, entries: tuple[str, str]) -> tuple[bool, bool] | None:
    """Whether each entry exists in the dir, by one lstat each (cheaper than listing 100 epoch
    dirs); None when the dir itself is missing or a stat fails otherwise (then: listing)."""
    out = []
    for name in entries:
        try:
            os.lstat(os.path.join(work_dir, name))
            out.append(True)
        except FileNotFoundError:
            out.append(False)
        except OSError:
            return None
    if not any(out) and not os.path.isdir(work_dir):
        return None
    return out[0], out[1]


def detect_runner_type(
    work_dir: str, config: ConfigLike = None, *, settings: Settings | None = None, found: tuple[bool, bool] | None = None, probed: bool = False
) -> RunnerType:
    """The runner type of a run, by the plan's strategies in order; ValueError when none applies.

    1. artifacts: the evaluator's scores file, or the first epoch dir;
    2. the config's runner class (kind from project sources or its name);
    3. an ``epochs`` key (only trainers have one).
    A trainer-like run whose config is a list of stages (or a MultiStage runner) is multi_stage.
    ``found``: whether the scores file and the first epoch dir exist, when already known (``probed``:
    looked for, not answerable by stats).
    """
    s = settings if settings is not None else Settings()
    facts = as_config_facts(config)
    config_kind = facts.runner_kind if facts is not None else None
    if config_kind is None and facts is not None and facts.runner is not None:
        config_kind = kind_from_class_name(facts.runner.name)
    if found is None and not probed:
        found = _has_entries(work_dir, (s.evaluation_scores_file, s.epoch_dir_name(0)))
    names: list[str] | None = None
    if found is None:  # not answerable by stats: list the dir
        names = _listdir(work_dir)
        if names is not None:
            found = (s.evaluation_scores_file in names, s.epoch_dir_name(0) in names)
    if found is not None:
        if found[0]:
            return "evaluator"
        if found[1]:
            return "multi_stage" if config_kind == "multi_stage" else "trainer"
    if config_kind is not None:
        return config_kind
    if facts is not None and any(st.epochs is not None for st in facts.stages):
        return "multi_stage" if facts.is_multi_stage else "trainer"
    if names is None:
        names = _listdir(work_dir)
    config_info = f"Config keys: {list(facts.keys)}" if facts is not None else "No config provided"
    if facts is not None and facts.error:
        config_info += f"\nConfig error: {facts.error}"
    raise ValueError(
        f"Cannot detect runner type for work_dir: {work_dir}\n"
        f"Available files: {names if names is not None else '(work dir does not exist)'}\n"
        f"{config_info}\n"
        "Expected patterns:\n"
        f"  - Trainer: {s.epoch_dir_name(0)}/ directory OR 'epochs' in config OR a '...Trainer' runner class\n"
        f"  - Evaluator: {s.evaluation_scores_file} file OR 'Evaluator' in runner class name\n"
        "  - Multi-stage: config is a list of stage dicts OR a 'MultiStage...' runner class"
    )


_FOUND = {(a, b): (a, b) for a in (False, True) for b in (False, True)}

_TRACKERS: dict[str, type[BaseProgressTracker]] = {
    "trainer": TrainerProgressTracker,
    "evaluator": EvaluatorProgressTracker,
    "multi_stage": MultiStageProgressTracker,
}


def create_progress_tracker(
    work_dir: str,
    config: ConfigLike = None,
    *,
    settings: Settings | None = None,
    store: Any | None = None,
) -> BaseProgressTracker:
    """The tracker for a run's detected type (raises ValueError like detect_runner_type)."""
    facts = as_config_facts(config)
    s = settings if settings is not None else Settings()
    # What the store says of the work dir's entries, while its mtime is the one they were seen at.
    found = quick_check.stored_entries(store, work_dir) if store is not None and s.quick_check else None
    if found is None:
        found = _has_entries(work_dir, (s.evaluation_scores_file, s.epoch_dir_name(0)))
    kind = detect_runner_type(work_dir, facts, settings=settings, found=found, probed=True)
    tracker = _TRACKERS[kind](work_dir, facts, settings=settings, store=store)
    if found is not None:
        tracker.entries_found = _FOUND[(bool(found[0]), bool(found[1]))]  # one of four shared tuples
    if facts is not None:
        declared = facts.runner_kind
        if declared is not None and declared != kind and not (declared == "multi_stage" and kind == "trainer"):
            warning = f"{work_dir}: the config's runner ({facts.runner}) is a {declared} but the work dir holds {kind} artifacts"
            tracker.extra_warnings = [*tracker.extra_warnings, warning]
    return tracker

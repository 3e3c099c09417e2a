"""Shared pieces of the torture suite: generated trees, scans and exact comparison.

Every torture test compares against the generator's expected answers, so a fault
that makes runwatch lie (not only crash) fails the test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from runwatch import ProcessSnapshot, get_all_run_status
from runwatch.testing import generate_tree
from runwatch.testing.generator import ExpectedRun, GeneratedTree


def small_tree(root: str, n_runs: int = 13, seed: int = 1, **kw: Any) -> GeneratedTree:
    """One run of every scenario (13 covers all trainer and evaluator cases) plus a multi-stage run."""
    return generate_tree(root, n_runs=n_runs, seed=seed, max_epochs=kw.pop("max_epochs", 8), n_points=4, n_seeds=8, **kw)


def scan(tree: GeneratedTree, **kw: Any) -> dict[str, Any]:
    """get_all_run_status over every run of the tree, keyed by the run's rel path."""
    paths = {r.rel: r.config_path for r in tree.runs}
    snap = ProcessSnapshot(processes=list(tree.processes))
    result = get_all_run_status(list(paths.values()), root=tree.root, system_monitor=snap, **kw)
    assert list(result) == list(paths.values())
    return {rel: result[p] for rel, p in paths.items()}


def answer(rs: Any) -> tuple[Any, ...]:
    p = rs.progress
    return (rs.status, p.completed_epochs, p.total_epochs, round(p.progress_percentage, 6), p.early_stopped, p.early_stopped_at_epoch, p.runner_type)


def expected(exp: ExpectedRun) -> tuple[Any, ...]:
    return (exp.status, exp.completed_epochs, exp.total_epochs, round(exp.progress_percentage, 6), exp.early_stopped, exp.early_stopped_at_epoch, exp.kind)


def mismatches(tree: GeneratedTree, by_rel: dict[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """Every run (but ``skip``) whose answer differs from the generator's, with scores checked too."""
    skipped = set(skip)
    problems = []
    for exp in tree.runs:
        if exp.rel in skipped:
            continue
        rs = by_rel[exp.rel]
        p = rs.progress
        if answer(rs) != expected(exp):
            problems.append(f"{exp.rel} ({exp.scenario}): got {answer(rs)}, want {expected(exp)}; warnings={p.warnings} error={p.error_message}")
            continue
        if exp.best_value is not None and (p.best_score is None or p.best_score.get(exp.main_key) != exp.best_value):
            problems.append(f"{exp.rel}: best {p.best_score} want {exp.main_key}={exp.best_value}")
        if exp.latest_value is not None and (p.latest_score is None or p.latest_score.get(exp.main_key) != exp.latest_value):
            problems.append(f"{exp.rel}: latest {p.latest_score} want {exp.main_key}={exp.latest_value}")
    return problems


def messages(rs: Any) -> str:
    """Everything runwatch tells a person about a run (warnings and error), as one text."""
    p = rs.progress
    return "\n".join([*(p.warnings or []), p.error_message or ""])


def work_dir(tree: GeneratedTree, rel: str) -> str:
    return os.path.join(tree.root, "logs", *rel.split("/"))


def pick(tree: GeneratedTree, scenario: str) -> ExpectedRun:
    return next(r for r in tree.runs if r.scenario == scenario)


def all_progress_json_parse(root: str) -> list[str]:
    """Every progress.json / sidecar under ``root`` that does not parse as a JSON object."""
    bad = []
    for d, _, files in os.walk(root):
        for f in files:
            if f in ("progress.json", "progress.runwatch.json"):
                path = os.path.join(d, f)
                try:
                    with open(path, encoding="utf-8") as fh:
                        if not isinstance(json.load(fh), dict):
                            bad.append(f"{path}: not an object")
                except (OSError, ValueError) as e:
                    bad.append(f"{path}: {e}")
    return bad

"""What the scan engine's tests compare against: a generated tree, and each run evaluated alone."""

from __future__ import annotations

from typing import Any

from runwatch import ProcessSnapshot
from runwatch.project import Project
from runwatch.run_status import RunStatus, evaluate_run
from runwatch.testing import generate_tree


def without_checked_at(d: dict[str, Any]) -> dict[str, Any]:
    """A status's dict less the time it was checked (two evaluations differ only there)."""
    return {k: v for k, v in d.items() if k != "checked_at"}


def generated(tmp_path: Any, seed: int, max_epochs: int, n_runs: int = 40) -> tuple[Any, ProcessSnapshot]:
    """A generated tree under ``tmp_path/proj`` and the snapshot of the processes it says are running."""
    tree = generate_tree(str(tmp_path / "proj"), n_runs=n_runs, seed=seed, max_epochs=max_epochs)
    return tree, ProcessSnapshot(processes=list(tree.processes))


def reference_statuses(tree: Any, snap: ProcessSnapshot, now: float) -> dict[str, RunStatus]:
    """Each run alone: a fresh tracker, no store, no engine (the old serial path, run by run)."""
    project = Project.at(tree.root)
    pmap = snap.by_config()
    return {r.config_path: evaluate_run(r.config_path, project, process_map=pmap, process_errors=snap.errors, now=now)[0] for r in tree.runs}

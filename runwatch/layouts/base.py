"""The layout seam: how runs of one framework sit on disk, as five questions.

A layout answers: which runs are under a root (by their marker files), the work dir
of a run, the run a changed path belongs to, a tracker for a run and the facts of a
run (total epochs, metric directions). Status rules, the table, the JSON, the
dashboard and /metrics are the same for every layout: they see only RunStatus.

Runs of Pylon are keyed by their config file (``configs/x.py``); runs of other layouts
by their run folder's absolute path (they have no config file).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from runwatch.configs.facts import ConfigFacts
from runwatch.layout import Project
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker

# Folders never searched for runs: caches, VCS, environments and package trees.
SKIP_DIRS = frozenset((".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache", "site-packages", "wandb"))


class Layout(Protocol):
    """One framework's way of writing runs. Every question is asked about one project (its root and settings).

    A run is named by a key: Pylon's config path, another layout's run folder. The scan
    engine asks only these questions, so a new layout is a new implementation of them.
    """

    name: str

    def is_run_dir(self, path: str, names: frozenset[str]) -> bool:
        """Whether ``path`` (whose entries are ``names``) is a run of this layout, by marker files."""

    def discover(self, project: Project) -> list[str]:
        """Every run of the project, as the keys the scan uses, sorted."""

    def work_dir(self, project: Project, run: str) -> str:
        """The folder the run writes into (raises LayoutError for a key that is no run of the project)."""

    def run_name(self, project: Project, run: str) -> str:
        """The run's name as every surface shows it (``trainers/group_0/run_3``, ``outputs/bert``)."""

    def run_of_path(self, project: Project, path: str) -> str | None:
        """The run a changed file or folder belongs to, or None."""

    def tracker(self, project: Project, run: str, facts: ConfigFacts, store: Any = None, work_dir: str | None = None) -> BaseProgressTracker:
        """A progress tracker for the run (raises ValueError when its kind cannot be told); ``work_dir``:
        the run's work dir when the caller has it (one string for the run's status and tracker)."""

    def facts(self, project: Project, run: str) -> ConfigFacts:
        """What is known of the run beyond its progress: total epochs, metric directions."""

    def facts_batch(self, project: Project, runs: list[str], workers: int | None = None) -> dict[str, ConfigFacts]:
        """``facts`` of many runs at once (Pylon reads its configs in one batch); never raises."""


# Entries of one folder looked at: a folder of millions of files (a dataset) is not a run folder.
MAX_FOLDER_ENTRIES = 100_000
# Called as ``(folders walked, folder now)`` every few hundred folders (``set_walk_progress``).
_walk_progress: list[Callable[[int, str], None]] = []


def set_walk_progress(report: Callable[[int, str], None] | None) -> None:
    """Report how far ``walk_for_runs`` got (the CLI shows it on stderr for a long walk); None: no reports."""
    _walk_progress[:] = [report] if report is not None else []


def walk_for_runs(root: str, is_run: Any, prune: tuple[str, ...] = ()) -> list[str]:
    """Folders under ``root`` for which ``is_run(path, names)`` holds; a run's own subfolders are not searched.

    ``prune``: absolute folders not entered (another layout's trees). Hidden folders and
    ``SKIP_DIRS`` are skipped; links to folders are not followed (no cycles). Memory stays
    bounded in a huge tree (a home directory, ``/``): one folder's entries at a time, at most
    ``MAX_FOLDER_ENTRIES`` of them, and the folders still to visit.
    """
    found: list[str] = []
    stack = [os.path.abspath(root)]
    pruned = set(prune)
    walked = 0
    report = _walk_progress[0] if _walk_progress else None
    while stack:
        d = stack.pop()
        walked += 1
        if report is not None and walked % 256 == 0:
            report(walked, d)
        names_list: list[str] = []
        subdirs: list[str] = []
        try:
            with os.scandir(d) as it:
                for e in it:
                    names_list.append(e.name)
                    if e.name.startswith(".") or e.name in SKIP_DIRS:
                        continue
                    try:
                        if e.is_dir(follow_symlinks=False) and e.path not in pruned:
                            subdirs.append(e.path)
                    except OSError:
                        continue
                    if len(names_list) >= MAX_FOLDER_ENTRIES:
                        break
        except OSError:
            continue
        if is_run(d, frozenset(names_list)):
            found.append(d)
            continue
        stack.extend(reversed(subdirs))
    found.sort()
    return found


def run_above(path: str, root: str, is_run: Any) -> str | None:
    """The nearest folder at or above ``path`` (not above ``root``) that is a run."""
    root = os.path.abspath(root)
    d = os.path.abspath(path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while d == root or d.startswith(root + os.sep):
        try:
            names = frozenset(os.listdir(d))
        except OSError:
            names = frozenset()
        if is_run(d, names):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return None

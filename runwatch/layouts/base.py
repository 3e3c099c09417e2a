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
from typing import Any, Protocol

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.settings import Settings

# Folders never searched for runs: caches, VCS, environments and package trees.
SKIP_DIRS = frozenset((".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache", "site-packages", "wandb"))


class Layout(Protocol):
    """One framework's way of writing runs."""

    name: str

    def is_run_dir(self, path: str, names: frozenset[str]) -> bool:
        """Whether ``path`` (whose entries are ``names``) is a run of this layout, by marker files."""

    def discover(self, root: str, settings: Settings) -> list[str]:
        """Every run under ``root``, as the keys the scan uses, sorted."""

    def work_dir(self, run: str) -> str:
        """The folder the run writes into."""

    def run_of_path(self, root: str, path: str, settings: Settings) -> str | None:
        """The run a changed file or folder belongs to, or None."""

    def tracker(self, run: str, facts: ConfigFacts, settings: Settings, store: Any = None) -> BaseProgressTracker:
        """A progress tracker for the run."""

    def facts(self, run: str, settings: Settings) -> ConfigFacts:
        """What is known of the run beyond its progress: total epochs, metric directions."""


def walk_for_runs(root: str, is_run: Any, prune: tuple[str, ...] = ()) -> list[str]:
    """Folders under ``root`` for which ``is_run(path, names)`` holds; a run's own subfolders are not searched.

    ``prune``: absolute folders not entered (another layout's trees). Hidden folders and
    ``SKIP_DIRS`` are skipped; links to folders are not followed (no cycles).
    """
    found: list[str] = []
    stack = [os.path.abspath(root)]
    pruned = set(prune)
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        names = frozenset(e.name for e in entries)
        if is_run(d, names):
            found.append(d)
            continue
        for e in entries:
            if e.name.startswith(".") or e.name in SKIP_DIRS:
                continue
            try:
                if e.is_dir(follow_symlinks=False) and e.path not in pruned:
                    stack.append(e.path)
            except OSError:
                continue
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

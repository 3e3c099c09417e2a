"""Layouts: how the runs of one framework sit on disk (Pylon, Hugging Face Trainer, Lightning).

``discover_runs(project)`` lists every run a scan should show: Pylon's configs and the
run folders other layouts' marker files reveal (a project may mix them); ``layout = "..."``
in the settings forces one layout. ``layout_run(project, key)`` tells a scan that a key is
a run of another layout and gives its work dir, name, facts and tracker. See docs/layouts.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from runwatch.configs.facts import ConfigFacts
from runwatch.layout import Project
from runwatch.layouts.base import Layout
from runwatch.layouts.huggingface import HuggingFaceLayout
from runwatch.layouts.lightning import LightningLayout
from runwatch.layouts.pylon import PylonLayout
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.state import STATE

LAYOUTS: dict[str, Any] = {"pylon": PylonLayout(), "huggingface": HuggingFaceLayout(), "lightning": LightningLayout()}
LAYOUT_NAMES: tuple[str, ...] = ("auto", *LAYOUTS)
# Marker layouts, in the order a folder is tested (a Lightning version folder is never an HF output_dir).
_MARKED = ("lightning", "huggingface")


def _chosen(project: Project) -> str:
    return getattr(project.settings, "layout", "auto") or "auto"


def _marked_layouts(project: Project) -> list[Any]:
    chosen = _chosen(project)
    if chosen == "pylon":
        return []
    return [LAYOUTS[n] for n in _MARKED if chosen in ("auto", n)]


def _pylon_trees(project: Project) -> tuple[str, ...]:
    """Pylon's configs/ and logs/ folders: not searched for marker files (Pylon finds its runs from configs)."""
    return (project.configs_root, project.logs_root) if os.path.isdir(project.configs_root) else ()


def layout_of_dir(project: Project, path: str) -> Any | None:
    """The marker layout whose run ``path`` is, or None."""
    try:
        names = frozenset(os.listdir(path))
    except OSError:
        return None
    for layout in _marked_layouts(project):
        if layout.is_run_dir(path, names):
            return layout
    return None


def discover_layout_runs(project: Project, under: str | None = None) -> list[str]:
    """Run folders of the marker layouts under ``under`` (default: the root), sorted."""
    layouts = _marked_layouts(project)
    if not layouts:
        return []
    from runwatch.layouts.base import walk_for_runs

    def is_run(path: str, names: frozenset[str]) -> bool:
        return any(layout.is_run_dir(path, names) for layout in layouts)

    return walk_for_runs(under or project.root, is_run, _pylon_trees(project))


def discover_runs(project: Project) -> list[str]:
    """Every run of the project: Pylon configs (unless another layout is forced), then other layouts' run folders."""
    pylon = LAYOUTS["pylon"].discover(project) if _chosen(project) in ("auto", "pylon") else []
    return pylon + discover_layout_runs(project)


def has_runs(project: Project) -> bool:
    """Whether the project has runs of any layout (a folder without configs/ may still hold HF/Lightning runs)."""
    return os.path.isdir(project.configs_root) and _chosen(project) in ("auto", "pylon") or bool(discover_layout_runs(project))


@dataclass(frozen=True, slots=True)
class LayoutRun:
    """A run as a scan needs it: its layout, key, work dir and name."""

    layout: Any
    work_dir: str
    name: str
    key: str = ""

    def facts(self, project: Project) -> ConfigFacts:
        return self.layout.facts(project, self.key or self.work_dir)

    def tracker(self, project: Project, facts: ConfigFacts, store: Any = None) -> BaseProgressTracker:
        return self.layout.tracker(project, self.key or self.work_dir, facts, store, self.work_dir)


# (root, configs dir, logs dir) -> config -> its LayoutRun: pure path arithmetic, but 10,000 times per refresh.
_PYLON_RUNS: dict[tuple[str, str, str], dict[Any, Any]] = STATE.table("layouts.pylon_runs", lambda: LRUCache(maxsize=64))
_ROOTS = ("roots",)  # a tuple key: never a config path


def run_for(project: Project, key: str) -> LayoutRun:
    """The run a scan key names, of whichever layout: a marker layout's run folder, else a Pylon config.

    Raises LayoutError for a key that is no run of the project (a config outside configs/).
    """
    run = layout_run(project, key)
    return run if run is not None else _pylon_run(project, key)


def _pylon_run(project: Project, config: str) -> LayoutRun:
    pkey = (project.root, project.settings.configs_dir, project.settings.logs_dir)
    memo = _PYLON_RUNS.get(pkey)
    if memo is None:
        memo = _PYLON_RUNS[pkey] = {}
    hit = memo.get(config)
    if hit is None:
        roots = memo.get(_ROOTS)
        if roots is None:
            roots = memo[_ROOTS] = (project.configs_root + os.sep, project.logs_root)
        croot, logs_root = roots
        if config.startswith(croot) and config.endswith(".py") and os.sep == "/" and "/./" not in config and "/../" not in config and "//" not in config:
            # The usual spelling (absolute, normalized, under configs/): plain slicing.
            rel = config[len(croot) : -3]
            hit = LayoutRun(LAYOUTS["pylon"], os.path.join(logs_root, rel), rel, config)
        else:
            hit = LayoutRun(LAYOUTS["pylon"], project.work_dir(config), project.config_rel(config), config)
        memo[config] = hit
    return hit


_RUNS: dict[tuple[str, str], LayoutRun | None] = STATE.table("layouts.runs", lambda: LRUCache(maxsize=100_000))


def layout_run(project: Project, key: str) -> LayoutRun | None:
    """The marker-layout run a scan key names (its folder's path), or None for Pylon configs and anything else.

    Cheap for Pylon keys (they end in ``.py``); a folder's answer is remembered once it is a run.
    """
    if key.endswith(".py"):
        return None
    path = key if os.path.isabs(key) else os.path.join(project.root, key)
    path = os.path.normpath(path)
    memo_key = (project.root, path)
    hit = _RUNS.get(memo_key)
    if hit is not None:
        return hit
    layout = layout_of_dir(project, path)
    if layout is None:
        return None
    run = LayoutRun(layout, path, layout.run_name(project, path), path)
    _RUNS[memo_key] = run
    return run


def runs_at(project: Project, path: str) -> list[str]:
    """Marker-layout runs a path the user typed names: the run it is in, or the runs under it."""
    a = os.path.abspath(path)
    for layout in _marked_layouts(project):
        run = layout.run_of_path(project, a)
        if run is not None:
            return [run]
    return discover_layout_runs(project, a) if os.path.isdir(a) else []


def run_of_path(project: Project, path: str) -> str | None:
    """The marker-layout run a changed path belongs to (for a live index), or None."""
    for layout in _marked_layouts(project):
        run = layout.run_of_path(project, path)
        if run is not None:
            return run
    return None


def layout_runs_by_name(project: Project) -> dict[str, str]:
    """{run name: run key} of every marker-layout run (a live index's full scan)."""
    out: dict[str, str] = {}
    for key in discover_layout_runs(project):
        run = layout_run(project, key)
        if run is not None:
            out[run.name] = key
    return out


def layout_run_of_path(project: Project, path: str) -> tuple[str, str] | None:
    """(run name, run key) of the marker-layout run a changed path is in (a live index's path mapping)."""
    key = run_of_path(project, path)
    run = layout_run(project, key) if key is not None else None
    return (run.name, key) if run is not None else None


_WATCH_ROOTS: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = STATE.table("layouts.watch_roots", lambda: LRUCache(maxsize=64))
WATCH_ROOTS_TTL_S = 30.0


def watch_roots(project: Project) -> tuple[str, ...]:
    """The top folders under the root that hold marker-layout runs (what a live watcher must watch).

    A watcher asks at every sweep; the walk behind the answer is redone at most every
    ``WATCH_ROOTS_TTL_S`` seconds (a new top folder of runs is watched within that time).
    """
    import time

    key = (project.root, _chosen(project))
    hit = _WATCH_ROOTS.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < WATCH_ROOTS_TTL_S:
        return hit[1]
    tops = {os.path.join(project.root, os.path.relpath(k, project.root).split(os.sep)[0]) for k in discover_layout_runs(project)}
    roots = tuple(sorted(t for t in tops if os.path.isdir(t)))
    _WATCH_ROOTS[key] = (now, roots)
    return roots


__all__ = ["LAYOUTS", "LAYOUT_NAMES", "Layout", "LayoutRun", "discover_runs", "has_runs", "layout_run", "run_for", "run_of_path", "runs_at"]

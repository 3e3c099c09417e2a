"""Layouts: how the runs of each framework sit on disk, and the one registry of them.

``LAYOUTS`` is the ordered list of every layout; settings validation, docs/settings.md,
the CLI's help and auto-detection all read it. A folder is tested by the layouts in this
order (a Lightning version folder is never an HF output_dir). ``layout = "..."`` in the
settings keeps one layout; ``"auto"`` uses them all (a project may mix them).

Everything a scan asks about a project goes through the functions here: its runs
(``discover_runs``), the run a key names (``run_for``), the runs a typed path names
(``runs_at``), what changed paths touch (``map_paths``), the folders to watch
(``watch_roots``), the process matchers (``process_matchers``). See docs/layouts.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from cachetools import LRUCache

from runwatch.errors import LayoutError
from runwatch.layouts.base import Layout, LayoutRun, PathChanges, ProcessMatcher, walk_for_runs
from runwatch.layouts.huggingface import HuggingFaceLayout
from runwatch.layouts.keras import KerasLayout
from runwatch.layouts.lightning import LightningLayout
from runwatch.layouts.mmengine import MMEngineLayout
from runwatch.layouts.pylon import PylonLayout
from runwatch.layouts.timm import TimmLayout
from runwatch.layouts.ultralytics import UltralyticsLayout
from runwatch.progress_tracking.progress_store import is_own_name
from runwatch.project import Project
from runwatch.settings import declare_layouts
from runwatch.state import STATE

# The registry: every layout, in the order a folder is tested. A new layout is one line here.
# YOLO and timm both write args.yaml (told apart by results.csv / summary.csv); Keras, whose files have
# names of the user's choosing, is tested last.
LAYOUTS: tuple[Layout, ...] = (
    PylonLayout(),
    LightningLayout(),
    HuggingFaceLayout(),
    UltralyticsLayout(),
    TimmLayout(),
    MMEngineLayout(),
    KerasLayout(),
)
BY_NAME: dict[str, Layout] = {layout.name: layout for layout in LAYOUTS}
LAYOUT_NAMES: tuple[str, ...] = ("auto", *BY_NAME)
declare_layouts(LAYOUT_NAMES)


def active(project: Project) -> tuple[Layout, ...]:
    """The layouts a project's runs are looked for with: all of them, or the one its settings name."""
    chosen = project.settings.layout or "auto"
    if chosen == "auto":
        return LAYOUTS
    one = BY_NAME.get(chosen)
    return (one,) if one is not None else ()


def _marked(project: Project) -> tuple[Layout, ...]:
    """The active layouts that find runs by marker files."""
    return tuple(layout for layout in active(project) if type(layout).is_run_dir is not Layout.is_run_dir)


def _own_trees(project: Project) -> tuple[str, ...]:
    return tuple(t for layout in active(project) for t in layout.own_trees(project))


def discover_marked_runs(project: Project, under: str | None = None) -> list[str]:
    """Run folders of the marker layouts under ``under`` (default: the root), sorted: one walk for all."""
    layouts = _marked(project)
    if not layouts:
        return []

    def is_run(path: str, names: frozenset[str]) -> bool:
        return any(layout.is_run_dir(path, names) for layout in layouts)

    return walk_for_runs(under or project.root, is_run, _own_trees(project))


def discover_runs(project: Project) -> list[str]:
    """Every run of the project as scan keys: each layout's own finds (Pylon's configs), then marker runs."""
    found = [k for layout in active(project) for k in layout.find_runs(project)]
    return found + discover_marked_runs(project)


def has_runs(project: Project) -> bool:
    """Whether the project holds runs of any layout (a folder without configs/ may hold HF / Lightning runs)."""
    return any(layout.has_runs(project) for layout in active(project)) or bool(discover_marked_runs(project))


_RUNS: dict[tuple[str, str, str], LayoutRun] = STATE.table("layouts.runs", lambda: LRUCache(maxsize=100_000))


def run_for(project: Project, key: str) -> LayoutRun:
    """The run a scan key names, of whichever layout claims it.

    Raises LayoutError for a key that is no run of the project (a config outside configs/,
    a folder no layout's marker files mark). A marker run's answer is remembered once found.
    """
    memo_key = (project.root, project.settings.layout, key)
    hit = _RUNS.get(memo_key)
    if hit is not None:
        return hit
    for layout in active(project):
        run = layout.run_of_key(project, key)
        if run is not None:
            if not layout.reads_configs:  # (a config layout keeps its own memo, per settings)
                _RUNS[memo_key] = run
            return run
    raise LayoutError(f"{key}: not a run of {project.root} (no layout's config or run folder)")


def hyperparameters(project: Project, key: str) -> dict[str, object]:
    """A run's hyperparameters as one flat ``{"dotted.key": value}`` table (YOLO / timm ``args.yaml``,
    MMEngine's dumped config, a ``.keras`` checkpoint's compile record); {} for a layout that exposes none."""
    try:
        run = run_for(project, key)
    except LayoutError:
        return {}
    return dict(run.layout.hyperparameters(project, run.key or run.work_dir))  # a run is asked by its key (Pylon: its config)


def name_of(project: Project, key: str) -> str | None:
    """The name of the run a key names, or None."""
    try:
        return run_for(project, key).name
    except LayoutError:
        return None


def runs_by_name(project: Project) -> dict[str, str]:
    """{run name: key} of every run (a live index's full scan)."""
    out: dict[str, str] = {}
    for key in discover_runs(project):
        name = name_of(project, key)
        if name is not None:
            out[name] = key
    return out


def runs_at(project: Project, path: str) -> list[str]:
    """The runs an existing path the user typed names: the layout whose trees hold it answers; else
    the marker run it is in, or the marker runs under it (every run of the project for its root)."""
    a = os.path.abspath(path)
    for layout in active(project):
        found = layout.runs_at(project, a)
        if found is not None:
            return found
    if os.path.normpath(a) == os.path.normpath(project.root):
        return discover_runs(project)
    for layout in _marked(project):
        run = layout.run_of_path(project, a)
        if run is not None:
            return [run]
    return discover_marked_runs(project, a) if os.path.isdir(a) else []


def runs_named(project: Project, name: str) -> list[str]:
    """The runs a name that is no existing path names (the first layout that knows it answers)."""
    for layout in active(project):
        found = layout.runs_named(project, name)
        if found:
            return found
    return []


def glob_bases(project: Project) -> tuple[str, ...]:
    return tuple(b for layout in active(project) for b in layout.glob_bases(project))


def map_paths(project: Project, paths: Iterable[str], known: dict[str, str]) -> PathChanges:
    """What changed ``paths`` touch, given ``known`` (name -> key of the runs already listed).

    A path in a layout's own trees is that layout's to answer (``Layout.map_change``);
    elsewhere it belongs to the marker run it is in, or, for a folder that appeared, to the
    runs under it; a known run whose folder is gone is named in ``gone``.
    """
    ch = PathChanges()
    layouts = active(project)
    marked = _marked(project)
    prune = _own_trees(project)
    removed: list[str] = []
    for raw in paths:
        p = os.path.normpath(os.path.abspath(os.fspath(raw)))
        if any(layout.map_change(project, p, known, ch) for layout in layouts):
            continue
        if is_own_name(os.path.basename(p)):
            continue
        hit = False
        for layout in marked:
            run = layout.run_of_path(project, p)
            if run is not None:
                name = layout.run_name(project, run)
                ch.touched[name] = known[name] if known.get(name) == run else run
                hit = True
                break
        if hit:
            continue
        if os.path.isdir(p):
            # A folder of runs moved in or created: its runs are found by walking it.
            for found in walk_for_runs(p, lambda d, names: any(lay.is_run_dir(d, names) for lay in marked), prune):
                found_name = name_of(project, found)
                if found_name is not None:
                    ch.touched[found_name] = known[found_name] if known.get(found_name) == found else found
        elif not os.path.exists(p):
            removed.append(p)
    if removed:
        # Run folders removed (or a folder holding them): their runs are gone.
        for name, key in known.items():
            if any(key == p or key.startswith(p + os.sep) for p in removed) and not os.path.isdir(key):
                ch.gone.append(name)
    for name, folders in ch.rediscover.items():
        BY_NAME[name].rediscover(project, folders, known, ch)
    for name in ch.gone:
        ch.touched.pop(name, None)
    return ch


_WATCH_ROOTS: dict[tuple[str, str], tuple[float, float, tuple[str, ...]]] = STATE.table("layouts.watch_roots", lambda: LRUCache(maxsize=64))
# How often the walk behind the watched top folders is redone: the walk's own cost times
# WATCH_ROOTS_COST_FACTOR (at most 1/200 of the time spent walking), within these bounds.
WATCH_ROOTS_MIN_S = 3.0
WATCH_ROOTS_MAX_S = 30.0
WATCH_ROOTS_COST_FACTOR = 200.0


def watch_roots(project: Project) -> tuple[str, ...]:
    """The folders a live watcher watches: each layout's own trees that exist, and the top folders under
    the root that hold marker runs.

    A watcher asks at every sweep; the walk behind the marker part is redone after
    ``WATCH_ROOTS_COST_FACTOR`` times what the last walk took, between ``WATCH_ROOTS_MIN_S``
    and ``WATCH_ROOTS_MAX_S``: a new top folder of runs is watched within a few sweeps where
    walking is cheap (a folder of runs), and a large tree is walked no more than 1/200 of the time.
    """
    own = tuple(t for t in _own_trees(project) if os.path.isdir(t))
    key = (project.root, project.settings.layout or "auto")
    hit = _WATCH_ROOTS.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < hit[1]:
        return own + hit[2]
    root = project.root
    tops = {os.path.join(root, os.path.relpath(k, root).split(os.sep)[0]) for k in discover_marked_runs(project)}
    roots = tuple(sorted(t for t in tops if os.path.isdir(t) and t not in own))
    took = time.monotonic() - now
    _WATCH_ROOTS[key] = (now, min(WATCH_ROOTS_MAX_S, max(WATCH_ROOTS_MIN_S, took * WATCH_ROOTS_COST_FACTOR)), roots)
    return own + roots


def process_matchers(project: Project, remote: bool = False) -> list[ProcessMatcher]:
    """The process matchers of the active layouts, in registry order (raises a layout's setting error)."""
    return [m for layout in active(project) if (m := layout.process_matcher(project, remote)) is not None]


__all__ = [
    "BY_NAME",
    "LAYOUTS",
    "hyperparameters",
    "LAYOUT_NAMES",
    "Layout",
    "LayoutRun",
    "PathChanges",
    "active",
    "discover_runs",
    "has_runs",
    "map_paths",
    "process_matchers",
    "run_for",
    "runs_at",
    "runs_by_name",
    "watch_roots",
]

"""The layout seam: how the runs of one framework sit on disk, as the questions a scan asks.

Every layout (Pylon's included) is a subclass of ``Layout`` and is listed once in the
registry (``runwatch.layouts.LAYOUTS``). The scan engine, the live index, the path
mapping, process matching and the CLI ask only these questions, so a new framework is a
new subclass. Status rules, the record, the page and /metrics are the same for every
layout: they see only ``RunStatus``.

A run is named by a **key**: Pylon's config path, another layout's run folder (its
absolute path). Each method below documents what its default does; a layout overrides
the ones that apply to it, and no default is ever dead: each is the right answer for a
layout that lacks that trait (no configs, no launcher, no command-line flag naming the run).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from runwatch.configs.facts import ConfigFacts
from runwatch.project import Project
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker

if TYPE_CHECKING:
    from runwatch.progress_tracking.progress_store import ProgressStore

# Folders never searched for runs: caches, VCS, environments and package trees.
SKIP_DIRS = frozenset((".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache", "site-packages", "wandb"))

IsRun = Callable[[str, frozenset[str]], bool]


@dataclass(frozen=True, slots=True)
class LayoutRun:
    """A run as a scan needs it: its layout, work dir, name and key."""

    layout: Layout
    work_dir: str
    name: str
    key: str = ""

    def facts(self, project: Project) -> ConfigFacts:
        return self.layout.facts(project, self.key or self.work_dir)

    def tracker(self, project: Project, facts: ConfigFacts, store: ProgressStore | None = None) -> BaseProgressTracker:
        return self.layout.tracker(project, self.key or self.work_dir, facts, store, self.work_dir)


@dataclass
class PathChanges:
    """What changed paths touch. ``touched``: name -> key of runs to evaluate; ``reread``: names whose
    facts to read again (their config changed); ``gone``: known names whose run was removed;
    ``rediscover``: per layout, the folders to list again for runs (a folder appeared or vanished)."""

    touched: dict[str, str] = field(default_factory=dict)
    reread: set[str] = field(default_factory=set)
    gone: list[str] = field(default_factory=list)
    rediscover: dict[str, set[str]] = field(default_factory=dict)


class ProcessMatcher:
    """Which run of one layout a process trains, from its command line (one per project and source).

    ``remote``: the process runs on another machine (its paths are another checkout's).
    """

    def is_candidate(self, text: str) -> bool:
        """A cheap test on every process's command line before ``match``."""
        return False

    def match(self, argv: list[str], text: str, cwd: str | None) -> tuple[str, bool] | None:
        """(run name, is a debug run) of the process, or None when it trains no run of this layout."""
        return None


class Layout:
    """One framework's way of writing runs. Every question is asked about one project (its root and settings).

    Capabilities, declared rather than compared by name:

    - ``reads_configs``: the facts come from config files (read in one batch for a scan) and
      change only when a config changes; a live index names those in ``reread``. Otherwise
      the facts come from the run's own files and are asked for at every evaluation.
    - ``fans_out``: a cold scan of many of its runs pays for forked workers (each reads facts
      and progress and sends back plain values; see ``run_status.fanout``).
    - ``process_always_seen``: every live run of it has a process that this machine's lookup finds
      by its command line, so with ``runs_local`` no process here means the run has exited.

    A launcher's failure reports (runwatch's collector, ``readers.run_output.from_collector``)
    are matched to runs by their work dir, whatever the layout: no capability is needed for them.
    """

    name: ClassVar[str] = ""
    # How its runs are named to people (CLI help, settings docs, messages).
    title: ClassVar[str] = ""
    reads_configs: ClassVar[bool] = False
    fans_out: ClassVar[bool] = False
    process_always_seen: ClassVar[bool] = False

    # ------------------------------------------------------------------ finding runs

    def is_run_dir(self, path: str, names: frozenset[str]) -> bool:
        """Whether ``path`` (whose entries are ``names``) is a run, by its marker files.
        Default: False (the layout finds its runs another way, as Pylon does from configs)."""
        return False

    def find_runs(self, project: Project) -> list[str]:
        """Runs found other than by marker files (Pylon's configs), as keys, sorted. Default: none;
        runs found by ``is_run_dir`` come from the registry's one walk over the project."""
        return []

    def own_trees(self, project: Project) -> tuple[str, ...]:
        """Absolute folders that are this layout's alone: never searched for other layouts' marker
        files, always watched for changes. Default: none."""
        return ()

    def has_runs(self, project: Project) -> bool:
        """Whether the project holds this layout's runs without walking it (Pylon: a configs folder).
        Default: False (marker runs are found by the walk)."""
        return False

    def runs_at(self, project: Project, path: str) -> list[str] | None:
        """The runs an existing absolute path names when it lies in this layout's own trees, or None when
        it does not. Default: None (a path names marker runs by the folder it is in or above)."""
        return None

    def runs_named(self, project: Project, name: str) -> list[str]:
        """The runs a name that is not an existing path names (``trainers/run_3``). Default: none."""
        return []

    def glob_bases(self, project: Project) -> tuple[str, ...]:
        """Folders a relative glob the user typed is also tried under. Default: none (the current dir only)."""
        return ()

    # ------------------------------------------------------------------ one run

    def run_of_key(self, project: Project, key: str) -> LayoutRun | None:
        """The run a scan key names, if it is this layout's (raises LayoutError for a key that looks
        like this layout's and is no run of the project). Default: a folder that ``is_run_dir``."""
        if key.endswith(".py"):
            return None
        path = os.path.normpath(key if os.path.isabs(key) else os.path.join(project.root, key))
        try:
            names = frozenset(os.listdir(path))
        except OSError:
            return None
        if not self.is_run_dir(path, names):
            return None
        return LayoutRun(self, self.work_dir(project, path), self.run_name(project, path), path)

    def work_dir(self, project: Project, run: str) -> str:
        """The folder the run writes into. Default: the run's folder itself."""
        return run

    def run_name(self, project: Project, run: str) -> str:
        """The run's name as every surface shows it. Default: its folder relative to the root (its own
        path when outside the root, its base name when it is the root)."""
        rel = os.path.relpath(run, project.root)
        return run if rel.startswith("..") else os.path.basename(run) if rel == "." else rel.replace(os.sep, "/")

    def facts(self, project: Project, run: str) -> ConfigFacts:
        """What is known of the run beyond its progress: total epochs, metric directions. Default: the
        run's entry of ``facts_batch``."""
        return self.facts_batch(project, [run])[run]

    def facts_batch(self, project: Project, runs: list[str], workers: int | None = None) -> dict[str, ConfigFacts]:
        """``facts`` of many runs at once; never raises. Default: nothing known (an empty ConfigFacts each)."""
        return {r: ConfigFacts(path=r) for r in runs}

    def tracker(self, project: Project, run: str, facts: ConfigFacts, store: ProgressStore | None = None, work_dir: str | None = None) -> BaseProgressTracker:
        """The tracker that observes the run's files (raises ValueError when its kind cannot be told);
        ``work_dir``: the run's work dir when the caller has it. No default: every layout observes."""
        raise NotImplementedError(f"layout {self.name!r} has no tracker")

    # ------------------------------------------------------------------ changes and processes

    def run_of_path(self, project: Project, path: str) -> str | None:
        """The run (key) a changed file or folder is in, or None. Default: the nearest folder at or
        above it that ``is_run_dir``."""
        return run_above(path, project.root, self.is_run_dir)

    def map_change(self, project: Project, path: str, known: dict[str, str], changes: PathChanges) -> bool:
        """Record in ``changes`` what a changed absolute path means for this layout's runs; True when
        the path is this layout's to answer (no other layout is asked). ``known``: name -> key of the
        runs listed. Default: nothing here (the registry maps marker runs by ``run_of_path``)."""
        return False

    def rediscover(self, project: Project, folders: set[str], known: dict[str, str], changes: PathChanges) -> None:
        """List ``folders`` (put in ``changes.rediscover`` by ``map_change``) again: new runs into
        ``touched``, vanished known ones into ``gone``. Default: nothing (no folders are ever put)."""

    def process_matcher(self, project: Project, remote: bool) -> ProcessMatcher | None:
        """What tells this layout's runs from a process's command line, or None when a command line never
        names its run (such a run's process is found from what it writes). Default: None."""
        return None

    def process_folder_run(self, project: Project, folder: str, names: frozenset[str]) -> str | None:
        """The run (its key) a process of this machine works for when it works in ``folder`` (its cwd) or
        has a file open there (``names``: the folder's entries); asked for a process no command line
        matched, from the folder of each such path upwards to the root, the deepest run first
        (``processes.matching.CommandMatcher.match_paths``). Default: None (this layout's processes are
        found by their command line only)."""
        return None

    # ------------------------------------------------------------------ comparing runs (docs/compare.md)

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        """The run's hyperparameters as one flat ``{"dotted.key": value}`` table (``optimizer.args.lr``: 0.01;
        ``layouts.run_params.flatten_params``); ``run``: its key (Pylon: its config). Default: none known ({})."""
        return {}

    def step_series(self, project: Project, run: str) -> dict[str, list[tuple[float, float]]]:
        """``{metric: [(step, value), ...]}`` where the layout logs per step. Default: none (per epoch only)."""
        return {}


# Entries of one folder looked at: a folder of millions of files (a dataset) is not a run folder.
MAX_FOLDER_ENTRIES = 100_000
# Called as ``(folders walked, folder now)`` every few hundred folders (``set_walk_progress``).
_walk_progress: list[Callable[[int, str], None]] = []


def set_walk_progress(report: Callable[[int, str], None] | None) -> None:
    """Report how far ``walk_for_runs`` got (the CLI shows it on stderr for a long walk); None: no reports."""
    _walk_progress[:] = [report] if report is not None else []


def walk_for_runs(root: str, is_run: IsRun, prune: tuple[str, ...] = ()) -> list[str]:
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


def run_above(path: str, root: str, is_run: IsRun) -> str | None:
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

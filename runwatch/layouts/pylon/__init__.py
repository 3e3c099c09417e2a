"""Pylon's layout: a run is a config under ``configs/``, its work dir ``logs/<config rel>``.

The path arithmetic is ``paths``, the changed-path rules ``path_map``, the command-line
matching ``processes``; the trackers are Pylon's (trainer, evaluator, multi-stage, by the
config's runner) and the facts come from reading the configs statically
(``runwatch.configs``), in one batch for a scan.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from cachetools import LRUCache

from runwatch.configs.facts import ConfigFacts
from runwatch.errors import LayoutError
from runwatch.layouts.base import Layout, LayoutRun, PathChanges, ProcessMatcher
from runwatch import pylon_paths as paths
from runwatch.layouts.pylon import path_map
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.progress_tracking.progress_tracker_factory import create_progress_tracker
from runwatch.project import Project
from runwatch.state import STATE

# (root, configs dir, logs dir) -> config -> its LayoutRun: pure path arithmetic, but 10,000 times per refresh.
_RUNS: LRUCache[tuple[str, str, str], dict[str, LayoutRun | tuple[str, str]]] = STATE.table("layouts.pylon_runs", lambda: LRUCache(maxsize=64))
_ROOTS = "\0roots"  # never a config path


class PylonLayout(Layout):
    """Pylon: runs found from configs/, facts read from the configs, processes matched by ``--config-filepath``."""

    name = "pylon"
    title = "Pylon (configs/<run>.py, work dir logs/<run>/)"
    reads_configs = True
    fans_out = True
    process_always_seen = True  # launched as `python main.py --config-filepath <config>`

    def find_runs(self, project: Project) -> list[str]:
        return paths.discover_configs(project)

    def own_trees(self, project: Project) -> tuple[str, ...]:
        croot = paths.configs_root(project)
        return (croot, paths.logs_root(project)) if os.path.isdir(croot) else ()

    def has_runs(self, project: Project) -> bool:
        return os.path.isdir(paths.configs_root(project))

    def run_of_key(self, project: Project, key: str) -> LayoutRun | None:
        """Any ``.py`` key is a config: under configs/ a run, elsewhere a LayoutError (a config of no run)."""
        if not key.endswith(".py"):
            return None
        pkey = (project.root, project.settings.configs_dir, project.settings.logs_dir)
        memo = _RUNS.get(pkey)
        if memo is None:
            memo = _RUNS[pkey] = {}
        hit = memo.get(key)
        if isinstance(hit, LayoutRun):
            return hit
        roots = memo.get(_ROOTS)
        if not isinstance(roots, tuple):
            roots = (paths.configs_root(project) + os.sep, paths.logs_root(project))
            memo[_ROOTS] = roots
        croot, logs_root = roots
        if key.startswith(croot) and os.sep == "/" and "/./" not in key and "/../" not in key and "//" not in key:
            # The usual spelling (absolute, normalized, under configs/): plain slicing.
            rel = key[len(croot) : -3]
            run = LayoutRun(self, os.path.join(logs_root, rel), rel, key)
        else:
            run = LayoutRun(self, paths.work_dir(project, key), paths.config_rel(project, key), key)
        memo[key] = run
        return run

    def work_dir(self, project: Project, run: str) -> str:
        return paths.work_dir(project, run)

    def run_name(self, project: Project, run: str) -> str:
        return paths.config_rel(project, run)

    def run_of_path(self, project: Project, path: str) -> str | None:
        parts = _work_dir_parts(project, os.path.abspath(path))
        while parts:
            cfg = paths.config_path(project, "/".join(parts))
            if os.path.isfile(cfg):
                return cfg
            parts = parts[:-1]
        return None

    def runs_at(self, project: Project, path: str) -> list[str] | None:
        """The configs an absolute path under configs/ or logs/ names (None: the path is in neither).

        A config file is itself; a folder of configs, every config under it; a work dir
        (or a file in one, ``logs/debug/...`` included) the nearest config above it, or
        every config of the nearest configs folder matching it.
        """
        rel_c = _under(path, paths.configs_root(project))
        if rel_c is not None:
            if os.path.isdir(path):
                return paths.discover_configs(project, under=rel_c or None)
            return [path] if path.endswith(".py") else []
        parts = _work_dir_parts(project, path)
        if parts is None:
            return None
        while parts:
            cfg = paths.config_path(project, "/".join(parts))
            if os.path.isfile(cfg):
                return [cfg]
            folder = os.path.join(paths.configs_root(project), *parts)
            if os.path.isdir(folder):
                return paths.discover_configs(project, under="/".join(parts))
            parts = parts[:-1]
        return paths.discover_configs(project) if _under(path, paths.logs_root(project)) == "" else []  # logs/ itself: every run

    def runs_named(self, project: Project, name: str) -> list[str]:
        """A run name relative to the configs folder ("trainers/group_0/run_3", ".py" optional), or a folder of configs."""
        rel = name.removesuffix(".py").strip("/")
        if not rel:
            return []
        candidate = paths.config_path(project, rel)
        if os.path.isfile(candidate):
            return [candidate]
        folder = os.path.join(paths.configs_root(project), rel)
        if glob.has_magic(rel) or not os.path.isdir(folder):
            return []
        return paths.discover_configs(project, under=os.path.relpath(folder, paths.configs_root(project)))

    def glob_bases(self, project: Project) -> tuple[str, ...]:
        return (paths.configs_root(project),)

    def tracker(self, project: Project, run: str, facts: ConfigFacts, store: ProgressStore | None = None, work_dir: str | None = None) -> BaseProgressTracker:
        if work_dir is None:
            try:
                work_dir = paths.work_dir(project, run)
            except LayoutError as e:
                raise ValueError(str(e)) from e
        return create_progress_tracker(work_dir, facts, settings=project.settings, store=store)

    def facts_batch(self, project: Project, runs: list[str], workers: int | None = None) -> dict[str, ConfigFacts]:
        """Facts of many configs in one batch (one cache load, one stat per shared dependency).

        If the batch fails as a whole, each config is read alone, so that an error stays
        that run's own error.
        """
        from runwatch.configs import read_config, read_configs
        from runwatch.progress_tracking.config_changed import launch_check

        absolute = {k: k if os.path.isabs(k) else os.path.join(project.root, k) for k in runs}
        try:
            # the changed-config check answered while each evaluation is at hand (no second evaluation)
            check = launch_check(project)
            by_abs = read_configs(list(dict.fromkeys(absolute.values())), root=project.root, settings=project.settings, workers=workers, on_evaluated=check)
            return {k: by_abs[a] for k, a in absolute.items() if a in by_abs}
        except Exception:
            pass
        out: dict[str, ConfigFacts] = {}
        for k, a in absolute.items():
            try:
                out[k] = read_config(a, root=project.root, settings=project.settings)
            except Exception as e:  # one unreadable config must never stop a scan
                out[k] = ConfigFacts(path=a, error=f"{a}: cannot read config ({type(e).__name__}: {e})")
        return out

    def map_change(self, project: Project, path: str, known: dict[str, str], changes: PathChanges) -> bool:
        return path_map.map_change(self.name, project, path, known, changes)

    def rediscover(self, project: Project, folders: set[str], known: dict[str, str], changes: PathChanges) -> None:
        path_map.rediscover(project, folders, known, changes)

    def process_matcher(self, project: Project, remote: bool) -> ProcessMatcher | None:
        from runwatch.layouts.pylon.processes import PylonProcessMatcher

        return PylonProcessMatcher(project, remote)

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        """The config, evaluated statically (never run), flattened: ``optimizer.args.lr``."""
        from runwatch.layouts.run_params import pylon_hyperparameters

        return pylon_hyperparameters(project, run)


def _under(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` ("" for the folder itself), or None when outside it."""
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    if path == folder:
        return ""
    if path.startswith(folder + os.sep):
        return os.path.relpath(path, folder)
    return None


def _work_dir_parts(project: Project, path: str) -> list[str] | None:
    """The parts of an absolute path under ``logs/`` (``logs/debug/`` stripped), or None when outside it."""
    rel = _under(path, paths.logs_root(project))
    if rel is None:
        return None
    parts = rel.split(os.sep) if rel else []
    return parts[1:] if parts and parts[0] == "debug" else parts

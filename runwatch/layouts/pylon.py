"""Pylon's layout: the first implementation of the Layout protocol, chosen by default.

Runs are keyed by their config file; the work dir is ``logs/<config rel>``. The path
arithmetic is ``runwatch.layout.Project``'s, the trackers are Pylon's (trainer,
evaluator, multi-stage, by the config's runner), and the facts come from reading the
configs statically (``runwatch.configs``), in one batch for a scan.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.layout import LayoutError, Project
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_tracker_factory import create_progress_tracker


class PylonLayout:
    """Pylon: a run is a config under ``configs/``, its work dir ``logs/<config rel>``; facts come from the config."""

    name = "pylon"

    def is_run_dir(self, path: str, names: frozenset[str]) -> bool:
        return False  # Pylon runs are found from configs/, not by markers in logs/

    def discover(self, project: Project) -> list[str]:
        return project.discover_configs()

    def work_dir(self, project: Project, run: str) -> str:
        return project.work_dir(run)

    def run_name(self, project: Project, run: str) -> str:
        return project.config_rel(run)

    def run_of_path(self, project: Project, path: str) -> str | None:
        parts = _work_dir_parts(project, os.path.abspath(path))
        while parts:
            cfg = project.config_path("/".join(parts))
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
        rel_c = _under(path, project.configs_root)
        if rel_c is not None:
            if os.path.isdir(path):
                return project.discover_configs(under=rel_c or None)
            return [path] if path.endswith(".py") else []
        parts = _work_dir_parts(project, path)
        if parts is None:
            return None
        while parts:
            cfg = project.config_path("/".join(parts))
            if os.path.isfile(cfg):
                return [cfg]
            folder = os.path.join(project.configs_root, *parts)
            if os.path.isdir(folder):
                return project.discover_configs(under="/".join(parts))
            parts = parts[:-1]
        return project.discover_configs() if _under(path, project.logs_root) == "" else []  # logs/ itself: every run

    def tracker(self, project: Project, run: str, facts: ConfigFacts, store: Any = None, work_dir: str | None = None) -> BaseProgressTracker:
        if work_dir is None:
            try:
                work_dir = project.work_dir(run)
            except LayoutError as e:
                raise ValueError(str(e)) from e
        return create_progress_tracker(work_dir, facts, settings=project.settings, store=store)

    def facts(self, project: Project, run: str) -> ConfigFacts:
        return self.facts_batch(project, [run])[run]

    def facts_batch(self, project: Project, runs: list[str], workers: int | None = None) -> dict[str, ConfigFacts]:
        """Facts of many configs in one batch (one cache load, one stat per shared dependency).

        If the batch fails as a whole, each config is read alone, so that an error stays
        that run's own error.
        """
        from runwatch.configs import read_config, read_configs

        absolute = {k: k if os.path.isabs(k) else os.path.join(project.root, k) for k in runs}
        try:
            by_abs = read_configs(list(dict.fromkeys(absolute.values())), root=project.root, settings=project.settings, workers=workers)
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

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        """The config, evaluated statically (never run), flattened: ``optimizer.args.lr``."""
        from runwatch.layouts.run_params import pylon_hyperparameters

        return pylon_hyperparameters(project, run)

    def step_series(self, project: Project, run: str) -> dict[str, list[tuple[float, float]]]:
        return {}  # Pylon writes scores per epoch only


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
    rel = _under(path, project.logs_root)
    if rel is None:
        return None
    parts = rel.split(os.sep) if rel else []
    return parts[1:] if parts and parts[0] == "debug" else parts

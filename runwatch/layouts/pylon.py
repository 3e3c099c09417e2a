"""Pylon's layout through the seam: a thin adapter over ``runwatch.layout.Project`` and the existing trackers.

Runs are keyed by their config file; the work dir is ``logs/<config rel>``. Nothing
here re-implements Pylon's rules: each answer is one call into the existing code.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.layout import LayoutError, Project
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.progress_tracker_factory import create_progress_tracker
from runwatch.settings import Settings


class PylonLayout:
    name = "pylon"

    def is_run_dir(self, path: str, names: frozenset[str]) -> bool:
        return False  # Pylon runs are found from configs/, not by markers in logs/

    def discover(self, root: str, settings: Settings) -> list[str]:
        return Project.at(root, settings).discover_configs()

    def work_dir(self, run: str, root: str = ".", settings: Settings | None = None) -> str:
        return Project.at(root, settings).work_dir(run)

    def run_of_path(self, root: str, path: str, settings: Settings) -> str | None:
        project = Project.at(root, settings)
        try:
            rel = os.path.relpath(os.path.abspath(path), project.logs_root)
        except ValueError:
            return None
        if rel.startswith(".."):
            return None
        parts = rel.split(os.sep)
        if parts and parts[0] == "debug":
            parts = parts[1:]
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
        rel_l = _under(path, project.logs_root)
        if rel_l is None:
            return None
        parts = rel_l.split(os.sep) if rel_l else []
        if parts and parts[0] == "debug":
            parts = parts[1:]
        while parts:
            cfg = project.config_path("/".join(parts))
            if os.path.isfile(cfg):
                return [cfg]
            folder = os.path.join(project.configs_root, *parts)
            if os.path.isdir(folder):
                return project.discover_configs(under="/".join(parts))
            parts = parts[:-1]
        return project.discover_configs() if not rel_l else []

    def tracker(self, run: str, facts: ConfigFacts, settings: Settings, store: Any = None, root: str = ".") -> BaseProgressTracker:
        try:
            work_dir = Project.at(root, settings).work_dir(run)
        except LayoutError as e:
            raise ValueError(str(e)) from e
        return create_progress_tracker(work_dir, facts, settings=settings, store=store)

    def facts(self, run: str, settings: Settings, root: str = ".") -> ConfigFacts:
        from runwatch.configs import read_config

        return read_config(run, root=root, settings=settings)


def _under(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` ("" for the folder itself), or None when outside it."""
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    if path == folder:
        return ""
    if path.startswith(folder + os.sep):
        return os.path.relpath(path, folder)
    return None

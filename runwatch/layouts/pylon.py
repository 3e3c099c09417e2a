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

    def tracker(self, run: str, facts: ConfigFacts, settings: Settings, store: Any = None, root: str = ".") -> BaseProgressTracker:
        try:
            work_dir = Project.at(root, settings).work_dir(run)
        except LayoutError as e:
            raise ValueError(str(e)) from e
        return create_progress_tracker(work_dir, facts, settings=settings, store=store)

    def facts(self, run: str, settings: Settings, root: str = ".") -> ConfigFacts:
        from runwatch.configs import read_config

        return read_config(run, root=root, settings=settings)

"""A project: a folder and its settings, whatever runs it holds (any layout, or several).

The runs in it are found by its layouts (``runwatch.layouts``; ``runwatch.discover_runs``
lists them). The methods below the line are Pylon's path arithmetic, kept for callers of
runwatch's first API; the logic is ``runwatch.pylon_paths``, which Pylon's layout uses too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runwatch import pylon_paths as paths
from runwatch.errors import LayoutError
from runwatch.project_root import find_project_root, infer_root, marked_root
from runwatch.settings import Settings, load_settings


@dataclass(frozen=True)
class Project:
    """A project root and its settings: the unit every surface works on."""

    root: str
    settings: Settings

    @classmethod
    def at(cls, root: str | os.PathLike[str] = ".", settings: Settings | None = None) -> Project:
        r = os.path.abspath(os.fspath(root))
        return cls(root=r, settings=settings if settings is not None else load_settings(r))

    # ---------------------------------------------------------------- Pylon's paths (runwatch.pylon_paths)

    @property
    def configs_root(self) -> str:
        return paths.configs_root(self)

    @property
    def logs_root(self) -> str:
        return paths.logs_root(self)

    def config_rel(self, config: str | os.PathLike[str]) -> str:
        return paths.config_rel(self, config)

    def work_dir(self, config: str | os.PathLike[str], debug: bool = False) -> str:
        return paths.work_dir(self, config, debug)

    def config_path(self, rel: str) -> str:
        return paths.config_path(self, rel)

    def is_template(self, config: str | os.PathLike[str]) -> bool:
        return paths.is_template(self, config)

    def discover_configs(self, under: str | None = None) -> list[str]:
        return paths.discover_configs(self, under)


__all__ = ["LayoutError", "Project", "find_project_root", "infer_root", "marked_root"]

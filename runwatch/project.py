"""A project: a folder and its settings, whatever runs it holds (any layout, or several).

The runs in it are found by its layouts (``runwatch.layouts``; ``runwatch.discover_runs``
lists them). The methods below the line are Pylon's path arithmetic, kept for callers of
runwatch's first API; the logic is ``runwatch.pylon_paths``, which Pylon's layout uses too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runwatch import pylon_paths as paths
from runwatch.errors import LayoutError, UserError
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


def marked_root(start: str | os.PathLike[str] = ".") -> str | None:
    """The nearest folder at or above ``start`` with a settings file or a ``configs`` folder, or None."""
    here = Path(os.path.abspath(os.fspath(start)))
    for d in (here, *here.parents):
        if (d / "runwatch.toml").is_file() or (d / "configs").is_dir():
            return str(d)
    return None


def find_project_root(start: str | os.PathLike[str] = ".") -> str:
    """The nearest folder at or above ``start`` that looks like a project root.

    A settings file or a ``configs`` folder marks a root; without one the start
    folder itself is the root (runs of any layout under it are its runs).
    """
    marked = marked_root(start)
    return marked if marked is not None else os.path.abspath(os.fspath(start))


def infer_root(root: str | None, paths: Sequence[str]) -> str:
    """The project root: ``--root``, else the project of the first existing path, else of cwd.

    A path under no folder with a settings file or ``configs/`` (a folder of framework runs)
    belongs to the current folder's project when it lies inside it: ``show outputs/bert`` run
    beside ``outputs/`` names that run of the current folder, not a project of its own.
    """
    if root is not None:
        if not os.path.isdir(root):
            raise UserError(f"{root}: --root is not a directory")
        return os.path.abspath(root)
    for p in paths:
        if os.path.exists(p):
            start = os.path.abspath(p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)))
            marked = marked_root(start)
            if marked is not None:
                return marked
            here = find_project_root(".")
            return here if start == here or start.startswith(here.rstrip(os.sep) + os.sep) else start
    return find_project_root(".")


__all__ = ["LayoutError", "Project", "find_project_root", "infer_root", "marked_root"]

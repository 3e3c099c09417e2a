"""The config-file <-> work-dir mapping of a project.

Callers pass config paths as ``./configs/x.py``, ``configs/x.py`` or absolute paths
and all must name the same run; everything here is pure path arithmetic (no I/O
beyond listing) so it can run for thousands of runs per refresh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runwatch.settings import Settings, load_settings


class LayoutError(ValueError):
    """A path that is not a config of this project."""


@dataclass(frozen=True)
class Project:
    """A project root and its settings: the unit every surface works on."""

    root: str
    settings: Settings

    @classmethod
    def at(cls, root: str | os.PathLike[str] = ".", settings: Settings | None = None) -> Project:
        r = os.path.abspath(os.fspath(root))
        return cls(root=r, settings=settings if settings is not None else load_settings(r))

    @property
    def configs_root(self) -> str:
        return os.path.join(self.root, self.settings.configs_dir)

    @property
    def logs_root(self) -> str:
        return os.path.join(self.root, self.settings.logs_dir)

    def config_rel(self, config: str | os.PathLike[str]) -> str:
        """``benchmarks/cd/x`` for any spelling of ``configs/benchmarks/cd/x.py``."""
        p = os.fspath(config)
        absolute = os.path.normpath(p if os.path.isabs(p) else os.path.join(self.root, p))
        croot = os.path.normpath(self.configs_root)
        if not (absolute == croot or absolute.startswith(croot + os.sep)):
            raise LayoutError(f"{p}: not under the configs folder {croot}")
        rel = os.path.relpath(absolute, croot)
        if rel.endswith(".py"):
            rel = rel[:-3]
        return rel.replace(os.sep, "/")

    def work_dir(self, config: str | os.PathLike[str], debug: bool = False) -> str:
        """The work dir Pylon gives a config (``logs/<rel>`` or ``logs/debug/<rel>``)."""
        rel = self.config_rel(config)
        base = os.path.join(self.logs_root, "debug") if debug else self.logs_root
        return os.path.join(base, *rel.split("/"))

    def config_path(self, rel: str) -> str:
        return os.path.join(self.configs_root, *rel.split("/")) + ".py"

    def is_template(self, config: str | os.PathLike[str]) -> bool:
        rel = self.config_rel(config)
        first = rel.split("/", 1)[0]
        return first in self.settings.template_dirs

    def discover_configs(self, under: str | None = None) -> list[str]:
        """Every experiment config under the configs folder (templates and ``__init__`` left out), sorted."""
        start = os.path.join(self.configs_root, under) if under else self.configs_root
        found: list[str] = []
        if not os.path.isdir(start):
            return found
        stack = [start]
        while stack:
            d = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = list(it)
            except OSError:
                continue
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False):
                        if e.name != "__pycache__" and not e.name.startswith("."):
                            stack.append(e.path)
                    elif e.name.endswith(".py") and not e.name.startswith("__"):
                        found.append(e.path)
                except OSError:
                    continue
        # Templates are decided by the first folder under configs/, by slicing: this runs
        # for every file on every status call, so no per-file path normalisation.
        templates = tuple(os.path.join(self.configs_root, t) + os.sep for t in self.settings.template_dirs)
        found = [p for p in found if not p.startswith(templates)] if templates else found
        found.sort()
        return found


def find_project_root(start: str | os.PathLike[str] = ".") -> str:
    """The nearest folder at or above ``start`` that looks like a project root.

    A settings file or a ``configs`` folder marks a root; without one the start
    folder itself is the root, as Pylon computes everything from the current dir.
    """
    here = Path(os.path.abspath(os.fspath(start)))
    for d in (here, *here.parents):
        if (d / "runwatch.toml").is_file() or (d / "configs").is_dir():
            return str(d)
    return str(here)

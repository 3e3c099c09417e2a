"""Pylon's config-file <-> work-dir arithmetic: ``configs/<rel>.py`` runs in ``logs/<rel>/``.

Callers pass config paths as ``./configs/x.py``, ``configs/x.py`` or absolute paths and
all must name the same run; everything here is pure path arithmetic (no I/O beyond
listing), so it can run for thousands of runs per refresh. It needs only the project's
root and settings, so it sits in the foundations layer, below both ``runwatch.project``
(whose path methods it serves) and Pylon's layout (``runwatch.layouts.pylon``).
"""

from __future__ import annotations

import os
from typing import Protocol

from runwatch.errors import LayoutError
from runwatch.settings import Settings


class HasRoot(Protocol):
    @property
    def root(self) -> str: ...

    @property
    def settings(self) -> Settings: ...


def configs_root(project: HasRoot) -> str:
    return os.path.join(project.root, project.settings.configs_dir)


def logs_root(project: HasRoot) -> str:
    return os.path.join(project.root, project.settings.logs_dir)


def config_rel(project: HasRoot, config: str | os.PathLike[str]) -> str:
    """``benchmarks/cd/x`` for any spelling of ``configs/benchmarks/cd/x.py``."""
    p = os.fspath(config)
    absolute = os.path.normpath(p if os.path.isabs(p) else os.path.join(project.root, p))
    croot = os.path.normpath(configs_root(project))
    if not (absolute == croot or absolute.startswith(croot + os.sep)):
        raise LayoutError(f"{p}: not under the configs folder {croot}")
    # (relpath of two normal absolute paths, one under the other: the rest of the longer one)
    rel = "." if absolute == croot else absolute[len(croot) + 1 :] if os.path.isabs(croot) else os.path.relpath(absolute, croot)
    if rel.endswith(".py"):
        rel = rel[:-3]
    return rel.replace(os.sep, "/")


def work_dir(project: HasRoot, config: str | os.PathLike[str], debug: bool = False) -> str:
    """The work dir Pylon gives a config (``logs/<rel>`` or ``logs/debug/<rel>``)."""
    rel = config_rel(project, config)
    base = os.path.join(logs_root(project), "debug") if debug else logs_root(project)
    return os.path.join(base, *rel.split("/"))


def config_path(project: HasRoot, rel: str) -> str:
    return os.path.join(configs_root(project), *rel.split("/")) + ".py"


def is_template(project: HasRoot, config: str | os.PathLike[str]) -> bool:
    first = config_rel(project, config).split("/", 1)[0]
    return first in project.settings.template_dirs


def discover_configs(project: HasRoot, under: str | None = None) -> list[str]:
    """Every experiment config under the configs folder (templates and ``__init__`` left out), sorted."""
    croot = configs_root(project)
    start = os.path.join(croot, under) if under else croot
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
    templates = tuple(os.path.join(croot, t) + os.sep for t in project.settings.template_dirs)
    found = [p for p in found if not p.startswith(templates)] if templates else found
    found.sort()
    return found

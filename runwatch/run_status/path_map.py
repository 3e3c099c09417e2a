"""Changed paths -> the runs they belong to: what a live index asks after a file event.

A path under ``configs/`` is a config (re-read its facts), a template (every config may
import it: re-read them all) or a folder (find its configs again); a path under ``logs/``
belongs to the run whose work dir holds it (the deepest known run name that is a prefix),
or, for a parent of work dirs, to every run under it; a path elsewhere may be inside
another layout's run folder. runwatch's own files never count as changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from runwatch.layout import LayoutError, Project
from runwatch.layouts import layout_run_of_path
from runwatch.progress_tracking.progress_cache import is_own_name


@dataclass
class PathChanges:
    """``touched``: name -> key of runs to evaluate; ``reread``: names whose config to read again;
    ``gone``: known names whose config was removed; ``rediscover``: config subfolders to list again."""

    touched: dict[str, str] = field(default_factory=dict)
    reread: set[str] = field(default_factory=set)
    gone: list[str] = field(default_factory=list)
    rediscover: set[str] = field(default_factory=set)


def map_paths(project: Project, paths: Iterable[str], known: dict[str, str]) -> PathChanges:
    """What changed ``paths`` touch, given ``known`` (name -> key of the runs already listed)."""
    croot = os.path.normpath(project.configs_root)
    lroot = os.path.normpath(project.logs_root)
    ch = PathChanges()
    touched, reread, gone, rediscover = ch.touched, ch.reread, ch.gone, ch.rediscover
    for raw in paths:
        p = os.path.normpath(os.path.abspath(os.fspath(raw)))
        if p.startswith(croot + os.sep) or p == croot:
            rel_path = os.path.relpath(p, croot).replace(os.sep, "/")
            if rel_path == ".":
                rediscover.add("")
                continue
            if rel_path.endswith(".py"):
                name = os.path.basename(rel_path)
                if name.startswith("__") or "__pycache__" in rel_path.split("/"):
                    continue
                try:
                    is_template = project.is_template(p)
                except LayoutError:
                    continue
                rel = rel_path[:-3]
                if is_template:
                    # A template may be imported by any config: re-read every config's facts.
                    for r, key in known.items():
                        touched[r] = key
                        reread.add(r)
                    continue
                if os.path.isfile(p):
                    touched[rel] = known[rel] if known.get(rel) == p else p  # the key string a run already holds
                    reread.add(rel)
                elif rel in known:
                    gone.append(rel)
            elif not os.path.splitext(rel_path)[1] and (os.path.isdir(p) or any(r.startswith(rel_path + "/") for r in known)):
                # A folder appeared or vanished (mv, rm -r): its configs are found again.
                rediscover.add(rel_path)
        elif p.startswith(lroot + os.sep):
            parts = os.path.relpath(p, lroot).split(os.sep)
            if is_own_name(parts[-1]):
                continue
            hit = False
            for k in range(len(parts), 0, -1):
                rel = "/".join(parts[:k])
                if rel in known:
                    touched[rel] = known[rel]
                    hit = True
                    break
            if not hit:
                # A parent of work dirs (a whole folder moved in or removed).
                prefix = "/".join(parts) + "/"
                for r, key in known.items():
                    if r.startswith(prefix):
                        touched[r] = key
        else:  # another layout's run folder (Hugging Face, Lightning)
            lrun = layout_run_of_path(project, p)
            if lrun is not None:
                touched[lrun[0]] = lrun[1]
    for rel in gone:
        touched.pop(rel, None)
    return ch

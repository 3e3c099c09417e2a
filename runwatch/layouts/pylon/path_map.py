"""Changed paths under Pylon's trees -> its runs: what a live index asks after a file event.

A path under ``configs/`` is a config (re-read its facts), a template (every config may
import it: re-read them all) or a folder (find its configs again); a path under ``logs/``
belongs to the run whose work dir holds it (the deepest known run name that is a prefix),
or, for a parent of work dirs, to every run under it. runwatch's own files never count.
"""

from __future__ import annotations

import os

from runwatch.errors import LayoutError
from runwatch.layouts.base import PathChanges
from runwatch import pylon_paths as paths
from runwatch.progress_tracking.progress_store import is_own_name
from runwatch.project import Project


def map_change(layout_name: str, project: Project, p: str, known: dict[str, str], ch: PathChanges) -> bool:
    """Record what the normalized absolute path ``p`` touches; False when it is outside configs/ and logs/."""
    croot = os.path.normpath(paths.configs_root(project))
    lroot = os.path.normpath(paths.logs_root(project))
    touched, reread, gone = ch.touched, ch.reread, ch.gone
    if p.startswith(croot + os.sep) or p == croot:
        rel_path = os.path.relpath(p, croot).replace(os.sep, "/")
        if rel_path == ".":
            ch.rediscover.setdefault(layout_name, set()).add("")
            return True
        if rel_path.endswith(".py"):
            name = os.path.basename(rel_path)
            if name.startswith("__") or "__pycache__" in rel_path.split("/"):
                return True
            try:
                is_template = paths.is_template(project, p)
            except LayoutError:
                return True
            rel = rel_path[:-3]
            if is_template:
                # A template may be imported by any config: re-read every config's facts.
                for r, key in known.items():
                    if key.startswith(croot + os.sep):
                        touched[r] = key
                        reread.add(r)
                return True
            if os.path.isfile(p):
                touched[rel] = known[rel] if known.get(rel) == p else p  # the key string a run already holds
                reread.add(rel)
            elif rel in known:
                gone.append(rel)
        elif not os.path.splitext(rel_path)[1] and (os.path.isdir(p) or any(r.startswith(rel_path + "/") for r in known)):
            # A folder appeared or vanished (mv, rm -r): its configs are found again.
            ch.rediscover.setdefault(layout_name, set()).add(rel_path)
        return True
    if p == lroot:
        # The logs folder itself appeared, moved or vanished: every run's work dir with it.
        for r, key in known.items():
            if key.startswith(croot + os.sep):
                touched[r] = key
        return True
    if p.startswith(lroot + os.sep):
        parts = os.path.relpath(p, lroot).split(os.sep)
        if is_own_name(parts[-1]):
            return True
        for k in range(len(parts), 0, -1):
            rel = "/".join(parts[:k])
            if rel in known:
                touched[rel] = known[rel]
                return True
        # A parent of work dirs (a whole folder moved in or removed).
        prefix = "/".join(parts) + "/"
        for r, key in known.items():
            if r.startswith(prefix):
                touched[r] = key
        return True
    return False


def rediscover(project: Project, folders: set[str], known: dict[str, str], ch: PathChanges) -> None:
    """List config subfolders again: their configs are touched (facts re-read); known runs under them
    whose config is gone are named in ``gone``."""
    for under in sorted(folders):
        for c in paths.discover_configs(project, under or None):
            try:
                rel = paths.config_rel(project, c)
            except LayoutError:
                continue
            ch.touched[rel] = c
            ch.reread.add(rel)
        prefix = under + "/" if under else ""
        croot = os.path.normpath(paths.configs_root(project)) + os.sep
        for rel, key in known.items():
            if rel.startswith(prefix) and key.startswith(croot) and rel not in ch.touched and not os.path.isfile(paths.config_path(project, rel)):
                ch.gone.append(rel)

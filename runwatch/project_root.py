"""Which folder is the project: ``--root``, else the project of the paths given, else of the current folder.

Light on purpose (``os`` only): the console script finds the project before it imports
anything else, to ask the project's running agent (``runwatch/cli_entry.py``).
``runwatch.project`` re-exports these.
"""

from __future__ import annotations

import os

from runwatch.errors import UserError
from runwatch.settings_source import SETTINGS_FILE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the console script's path stays light)
if TYPE_CHECKING:
    from collections.abc import Sequence


def marked_root(start: str | os.PathLike[str] = ".") -> str | None:
    """The nearest folder at or above ``start`` with a settings file or a ``configs`` folder, or None."""
    d = os.path.abspath(os.fspath(start))
    while True:
        if os.path.isfile(os.path.join(d, SETTINGS_FILE)) or os.path.isdir(os.path.join(d, "configs")):
            return d
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up


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


__all__ = ["find_project_root", "infer_root", "marked_root"]

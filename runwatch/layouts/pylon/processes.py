"""Command line -> config of this project: which Pylon run a process trains.

Runs are launched as ``python main.py --config-filepath <path> [--debug]`` with any
interpreter, flags in any order and relative or absolute paths, or by another launcher
whose command line a ``launcher_patterns`` regex reads. A process only counts for a run
when its config resolves to a file under this project's configs folder, so a same-named
config of another checkout on this machine never makes a failed run look alive.
"""

from __future__ import annotations

import os
import posixpath
import re

from runwatch.errors import LayoutError
from runwatch.layouts.base import ProcessMatcher
from runwatch import pylon_paths as paths
from runwatch.project import Project

CONFIG_FLAG = "--config-filepath"
DEBUG_FLAG = "--debug"


class PatternError(ValueError):
    """A launcher pattern in the settings that cannot be used."""


def config_argument(argv: list[str]) -> tuple[str | None, bool]:
    """The path given to ``--config-filepath`` and whether ``--debug`` is set."""
    path: str | None = None
    debug = False
    for i, tok in enumerate(argv):
        if tok == CONFIG_FLAG:
            if i + 1 < len(argv) and path is None:
                path = argv[i + 1]
        elif tok.startswith(CONFIG_FLAG + "="):
            if path is None:
                path = tok[len(CONFIG_FLAG) + 1 :]
        elif tok == DEBUG_FLAG or tok == DEBUG_FLAG + "=True" or tok == DEBUG_FLAG + "=true":
            debug = True
    return (path or None), debug


class PylonProcessMatcher(ProcessMatcher):
    """``--config-filepath`` or a launcher pattern's ``config`` group -> the config's run name.

    ``remote`` sources see paths of another checkout of the same project (another machine,
    maybe another home directory); for them an absolute path that is not under this
    project's root still matches by its part after the configs folder.
    """

    def __init__(self, project: Project, remote: bool = False) -> None:
        self.project = project
        self.remote = remote
        self.root = os.path.normpath(project.root)
        self.configs_dir = project.settings.configs_dir.strip("/") or "configs"
        self.patterns: list[re.Pattern[str]] = []
        for i, pat in enumerate(project.settings.launcher_patterns):
            try:
                rx = re.compile(pat)
            except re.error as e:
                raise PatternError(f"setting launcher_patterns[{i}] {pat!r}: invalid regex: {e}") from e
            if "config" not in rx.groupindex:
                raise PatternError(f"setting launcher_patterns[{i}] {pat!r}: needs a named group (?P<config>...) for the config path")
            self.patterns.append(rx)

    def is_candidate(self, text: str) -> bool:
        return CONFIG_FLAG in text or any(p.search(text) for p in self.patterns)

    def match(self, argv: list[str], text: str, cwd: str | None) -> tuple[str, bool] | None:
        path, debug = config_argument(argv)
        if path is None:
            for rx in self.patterns:
                m = rx.search(text)
                if m and m.group("config"):
                    path = m.group("config")
                    if "debug" in rx.groupindex:
                        debug = bool(m.group("debug"))
                    else:
                        debug = debug or DEBUG_FLAG in argv
                    break
        if path is None:
            return None
        rel = self.resolve(path, cwd)
        return (rel, debug) if rel is not None else None

    def resolve(self, path: str, cwd: str | None) -> str | None:
        """config_rel of a path as the process saw it, or None when it is not this project's config."""
        path = os.path.expanduser(path) if not self.remote else path
        if not path.endswith(".py"):
            path = path + ".py"
        if posixpath.isabs(path):
            absolute = posixpath.normpath(path)
        elif cwd:
            absolute = posixpath.normpath(posixpath.join(cwd, path))
        else:
            # Pylon resolves everything from the directory it is started in: the project root.
            absolute = posixpath.normpath(posixpath.join(self.root, path))
        try:
            return paths.config_rel(self.project, absolute)
        except LayoutError:
            pass
        if not self.remote:
            return None
        # Another checkout: keep what follows the last "<configs_dir>/" component.
        marker = "/" + self.configs_dir + "/"
        idx = absolute.rfind(marker)
        if idx < 0:
            return None
        rel = absolute[idx + len(marker) :].removesuffix(".py")
        return rel or None

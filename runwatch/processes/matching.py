"""Command line -> config of this project, the step every process source shares.

Runs are launched as ``python main.py --config-filepath <path> [--debug]`` with any
interpreter, flags in any order and relative or absolute paths; a process only
counts for a run when its config resolves to a file under this project's configs
folder, so a same-named config of another checkout on this machine never makes a
failed run look alive.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any

from runwatch.layout import LayoutError
from runwatch.layouts.processes import is_candidate as layout_candidate
from runwatch.layouts.processes import run_name_of_process
from runwatch.process_info import ProcessInfo

CONFIG_FLAG = "--config-filepath"
DEBUG_FLAG = "--debug"

# Tolerance when comparing start times of two observations of one process: ps prints
# whole seconds while psutil gives fractions, and clocks are read at different moments.
START_TIME_TOLERANCE_S = 1.5


class PatternError(ValueError):
    """A launcher pattern in the settings that cannot be used."""


@dataclass(frozen=True)
class Match:
    config_rel: str
    debug: bool


def split_cmd(cmd: str | list[str] | tuple[str, ...]) -> list[str]:
    """Tokens of a command line; ps joins argv with spaces, so quotes may be unbalanced."""
    if isinstance(cmd, list | tuple):
        return [str(t) for t in cmd]
    try:
        return shlex.split(cmd)
    except ValueError:
        return cmd.split()


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


def looks_like_python(argv0: str) -> bool:
    """True for ``python``, ``python3.11`` and ``/opt/conda/bin/python3``: the launching interpreter."""
    base = posixpath.basename(argv0)
    return re.fullmatch(r"python[0-9.]*[a-z]?", base) is not None


class CommandMatcher:
    """Maps a command line (and the process's cwd when known) to a config of one project.

    ``remote`` sources see paths of another checkout of the same project (another
    machine, maybe another home directory); for them an absolute path that is not
    under this project's root still matches by its part after the configs folder.
    """

    def __init__(self, project: Any, remote: bool = False) -> None:
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

    def is_candidate(self, cmd: str | list[str]) -> bool:
        """A cheap test run on every process before the exact (and cwd-reading) match."""
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        return CONFIG_FLAG in text or any(p.search(text) for p in self.patterns) or layout_candidate(text)  # layouts hook

    def match(self, cmd: str | list[str], cwd: str | None = None) -> Match | None:
        argv = split_cmd(cmd)
        path, debug = config_argument(argv)
        if path is None:
            text = cmd if isinstance(cmd, str) else " ".join(cmd)
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
            name = run_name_of_process(self.project, argv, cwd)  # layouts hook: an HF Trainer's --output_dir
            return Match(name, False) if name is not None else None
        rel = self.resolve(path, cwd)
        return Match(rel, debug) if rel is not None else None

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
            return self.project.config_rel(absolute)
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

    def apply(self, info: ProcessInfo) -> ProcessInfo | None:
        """The same process with config_rel/debug filled in, or None when it runs no config."""
        m = self.match(info.cmd, info.cwd)
        if m is None:
            return None
        info.config_rel = m.config_rel
        info.debug = m.debug
        return info


def same_process(a: ProcessInfo, b: ProcessInfo) -> bool:
    """Whether two observations are one process: same place, same PID, same start time.

    A PID alone is not an identity: the kernel hands freed PIDs to new processes, so a
    run that died could otherwise inherit a stranger's liveness. When either start
    time is unknown the PID is all there is, and it is trusted.
    """
    if a.server != b.server or a.pid != b.pid or a.job_id != b.job_id:
        return False
    if a.start_time is None or b.start_time is None:
        return True
    return abs(a.start_time - b.start_time) <= START_TIME_TOLERANCE_S


def preference(info: ProcessInfo) -> tuple[int, int, float]:
    """Sort key putting the process that best represents a run first.

    DataLoader workers and shell wrappers repeat the launcher's command line; the
    running python interpreter that started earliest is the run itself.
    """
    argv = split_cmd(info.cmd)
    is_python = 0 if argv and looks_like_python(argv[0]) else 1
    running = 0 if info.state == "running" else 1
    return (running, is_python, info.start_time if info.start_time is not None else float("inf"))


class MatchCache:
    """Matches remembered between snapshots, keyed by the process's full identity.

    The key holds the start time and the command line next to the PID, so a PID the
    kernel gave to a new process misses the cache and is matched afresh; entries of
    processes not seen in the latest snapshot are dropped by ``sweep``.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str | None, int, float | None, str], Any] = {}
        self._seen: set[tuple[str | None, int, float | None, str]] = set()
        self._owner: tuple[str, Any] | None = None

    def for_project(self, project: Any) -> None:
        """Forget everything when asked about another project (matches are per project)."""
        owner = (project.root, project.settings)
        if self._owner != owner:
            self._entries.clear()
            self._owner = owner

    @staticmethod
    def key(server: str | None, pid: int, start_time: float | None, cmd: str) -> tuple[str | None, int, float | None, str]:
        return (server, pid, start_time, cmd)

    def get(self, server: str | None, pid: int, start_time: float | None, cmd: str) -> Any:
        k = self.key(server, pid, start_time, cmd)
        self._seen.add(k)
        return self._entries.get(k)

    def put(self, server: str | None, pid: int, start_time: float | None, cmd: str, value: Any) -> None:
        k = self.key(server, pid, start_time, cmd)
        self._seen.add(k)
        self._entries[k] = value

    def sweep(self) -> None:
        for k in list(self._entries):
            if k not in self._seen:
                del self._entries[k]
        self._seen = set()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._seen = set()

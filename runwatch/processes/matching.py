"""Command line -> the run a process trains, the step every process source shares.

Each layout says how its runs show on a command line (``Layout.process_matcher``: Pylon's
``--config-filepath``, an HF Trainer's ``--output_dir``); a process counts for the first
run a layout finds in it. A process of this machine that no command line matched is then
matched by where it works (``match_paths``): its cwd or a file it holds open inside a run
folder (``Layout.process_folder_run``: Keras's CSVLogger file, MMEngine's text log, a
TensorBoard event file). Matching only ever names runs of this project.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any

from runwatch.layouts import active, process_matchers
from runwatch.layouts.base import Layout
from runwatch.layouts.pylon.processes import PatternError as PatternError
from runwatch.process_info import ProcessInfo

# Tolerance when comparing start times of two observations of one process: ps prints
# whole seconds while psutil gives fractions, and clocks are read at different moments.
START_TIME_TOLERANCE_S = 1.5


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


def looks_like_python(argv0: str) -> bool:
    """True for ``python``, ``python3.11`` and ``/opt/conda/bin/python3``: the launching interpreter."""
    base = posixpath.basename(argv0)
    return re.fullmatch(r"python[0-9.]*[a-z]?", base) is not None


# Launchers of training processes besides a python interpreter (their paths are read for a match).
LAUNCHERS = frozenset(("yolo", "torchrun", "accelerate", "deepspeed", "lightning", "mim", "ipython", "jupyter-kernel"))


def may_train(argv: list[str]) -> bool:
    """Whether a process may be a training run (a python interpreter or a launcher): only these have their
    cwd and open files read when no command line named their run."""
    return bool(argv) and (looks_like_python(argv[0]) or posixpath.basename(argv[0]) in LAUNCHERS or any(t.endswith(".py") for t in argv[1:3]))


class CommandMatcher:
    """Maps a command line (and the process's cwd when known) to a run of one project, through its layouts.

    ``remote`` sources see paths of another checkout of the same project (another
    machine, maybe another home directory); a layout may then match by relative parts.
    Raises PatternError for a launcher pattern of the settings that cannot be used.
    """

    def __init__(self, project: Any, remote: bool = False) -> None:
        self.project = project
        self.remote = remote
        self.matchers = process_matchers(project, remote)
        self.root = os.path.normpath(project.root)
        self.real_root = os.path.realpath(self.root)  # the kernel names a process's cwd and files with links resolved
        # Layouts whose runs a process is found in by where it works (remote paths are another checkout's).
        self.path_layouts = () if remote else tuple(lay for lay in active(project) if type(lay).process_folder_run is not Layout.process_folder_run)
        self._folder_runs: dict[str, tuple[Any, str] | None] = {}

    @property
    def reads_paths(self) -> bool:
        """Whether ``match_paths`` can match anything (a layout whose runs are found by where a process works)."""
        return bool(self.path_layouts)

    def _run_at(self, folder: str) -> tuple[Any, str] | None:
        """(layout, key) of the deepest run at or above ``folder`` (not above the root), memoized for this matcher."""
        chain: list[str] = []
        d = folder
        found: tuple[Any, str] | None = None
        while d == self.root or d.startswith(self.root + os.sep):
            if d in self._folder_runs:
                found = self._folder_runs[d]
                break
            chain.append(d)
            try:
                names = frozenset(os.listdir(d))
            except OSError:
                names = frozenset()
            hit = next(((lay, key) for lay in self.path_layouts if (key := lay.process_folder_run(self.project, d, names)) is not None), None)
            if hit is not None:
                found = hit
                break
            if d == self.root:
                break
            d = os.path.dirname(d)
        for c in chain:
            self._folder_runs[c] = found
        return found

    def _in_root(self, path: str) -> str:
        """``path`` spelled under the root as the project names it (the kernel resolves links in the root)."""
        p = os.path.normpath(path)
        if self.real_root != self.root and (p == self.real_root or p.startswith(self.real_root + os.sep)):
            return self.root + p[len(self.real_root) :]
        return p

    def match_paths(self, cwd: str | None, paths: list[str]) -> Match | None:
        """The run a process works for by where it works: a file it holds open inside a run folder (``paths``:
        absolute, the newest first; a process that trained runs one after another may still hold an earlier
        run's log open), else its cwd inside one (the deepest run); None when neither is in a run."""
        folders = list(dict.fromkeys(os.path.dirname(self._in_root(p)) for p in paths))  # in the order given
        if cwd:
            folders.append(self._in_root(cwd))
        for f in folders:
            hit = self._run_at(f)
            if hit is not None:
                layout, key = hit
                return Match(layout.run_name(self.project, key), False)
        return None

    def is_candidate(self, cmd: str | list[str]) -> bool:
        """A cheap test run on every process before the exact (and cwd-reading) match."""
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        return any(m.is_candidate(text) for m in self.matchers)

    def match(self, cmd: str | list[str], cwd: str | None = None) -> Match | None:
        argv = split_cmd(cmd)
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        for m in self.matchers:
            hit = m.match(argv, text, cwd)
            if hit is not None:
                return Match(hit[0], hit[1])
        return None

    def apply(self, info: ProcessInfo) -> ProcessInfo | None:
        """The same process with config_rel/debug filled in, or None when it runs no run of the project."""
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

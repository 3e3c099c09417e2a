"""The process facts that run status depends on, shared by every process source.

These types live below both the core and the sources so that ``run_status`` can
accept any process source (local, SSH, Slurm, a test's fake) through one small
protocol without importing the sources themselves.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

# running: alive; stopped: alive in state T (SIGSTOP, a debugger); queued: a Slurm job
# waiting for a node; ended: a Slurm job that has ended (its state says how).
ProcessState = Literal["running", "stopped", "queued", "ended"]
_PREFERENCE = {"running": 0, "stopped": 1, "queued": 2, "ended": 3}


@dataclass
class ProcessInfo:
    """One process (or Slurm job) that runs a config.

    ``start_time`` is part of the identity: a PID seen again with another start
    time is a different process (PID reuse), never the same run.
    """

    pid: int
    user: str
    cmd: str
    start_time: float | None = None
    server: str | None = None
    gpu_indices: tuple[int, ...] = ()
    gpu_memory_mib: float | None = None
    cwd: str | None = None
    # The matched config, relative to the configs folder without ".py" ("a/b/run_0").
    config_rel: str | None = None
    debug: bool = False
    state: ProcessState = "running"
    source: str = "local"
    job_id: str | None = None
    # Slurm jobs: the scheduler's state name, exit code and signal of an ended job, and its output files.
    job_state: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    end_time: float | None = None

    @property
    def identity(self) -> tuple[str | None, int, float | None]:
        return (self.server, self.pid, self.start_time)

    @property
    def location(self) -> str:
        where = self.server or "local"
        if self.job_id:
            return f"{where}:job{self.job_id}"
        return f"{where}:{self.pid}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpu_indices"] = list(self.gpu_indices)
        return d


@dataclass
class ProcessSnapshot:
    """Processes seen by all sources at one moment, and the sources that could not be asked.

    ``errors`` maps a source or server name to why it failed: an unreachable server
    must never read as "no process" (that would turn stuck runs into failed ones).
    """

    processes: list[ProcessInfo] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    taken_at: float = field(default_factory=time.time)
    # Names of the sources that answered, and the hosts (ProcessInfo.server) they saw: a
    # remembered process absent from a host that was seen has exited; elsewhere it is unknown.
    sources: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def by_config(self) -> dict[str, ProcessInfo]:
        """Matched processes keyed by config_rel: running, then stopped, then a queued job, then
        the most recently ended job (an ended job is the scheduler's last word on the run)."""
        out: dict[str, ProcessInfo] = {}
        for p in self.processes:
            if p.config_rel is None or p.debug:
                continue
            prev = out.get(p.config_rel)
            if (
                prev is None
                or _PREFERENCE.get(p.state, 9) < _PREFERENCE.get(prev.state, 9)
                or (p.state == prev.state == "ended" and (p.end_time or 0.0) > (prev.end_time or 0.0))
            ):
                out[p.config_rel] = p
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "processes": [p.to_dict() for p in self.processes],
            "errors": dict(self.errors),
            "taken_at": self.taken_at,
            "sources": list(self.sources),
            "hosts": list(self.hosts),
        }


@runtime_checkable
class ProcessMonitor(Protocol):
    """Anything that can take a snapshot of the processes running a project's configs."""

    def snapshot(self, project: Any) -> ProcessSnapshot: ...


# The monitor the Python API asks when its caller passes none (the CLI's default: this
# machine, plus the SSH servers and Slurm of the project settings). The package's __init__
# defines it, since the process sources sit above the core's layers; the package is imported
# before any of its modules, so this module takes it from there when imported (the package
# does not import this module: ``import runwatch`` stays light for the console script).
_default_monitor_factory: Callable[[Any], ProcessMonitor] | None = getattr(sys.modules.get(__name__.rpartition(".")[0]), "_default_monitor", None)


def set_default_monitor_factory(factory: Callable[[Any], ProcessMonitor] | None) -> None:
    global _default_monitor_factory
    _default_monitor_factory = factory


def default_monitor(project: Any) -> ProcessMonitor | None:
    """The default process monitor for a project, or None when none is registered."""
    return _default_monitor_factory(project) if _default_monitor_factory is not None else None

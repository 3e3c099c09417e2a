"""The process facts that run status depends on, shared by every process source.

These types live below both the core and the sources so that ``run_status`` can
accept any process source (local, SSH, Slurm, a test's fake) through one small
protocol without importing the sources themselves.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ProcessState = Literal["running", "queued"]


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

    def by_config(self) -> dict[str, ProcessInfo]:
        """Matched processes keyed by config_rel; a running process wins over a queued job."""
        out: dict[str, ProcessInfo] = {}
        for p in self.processes:
            if p.config_rel is None or p.debug:
                continue
            prev = out.get(p.config_rel)
            if prev is None or (prev.state == "queued" and p.state == "running"):
                out[p.config_rel] = p
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "processes": [p.to_dict() for p in self.processes],
            "errors": dict(self.errors),
            "taken_at": self.taken_at,
        }


@runtime_checkable
class ProcessMonitor(Protocol):
    """Anything that can take a snapshot of the processes running a project's configs."""

    def snapshot(self, project: Any) -> ProcessSnapshot: ...

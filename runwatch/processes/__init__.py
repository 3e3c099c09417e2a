"""Finding the processes behind runs: this machine, GPU servers over SSH, Slurm clusters.

A run whose log went quiet is stuck if its process lives and failed if not, so
every source here reports what it could not see (``snapshot.errors``) instead of
pretending there is no process. asyncssh is imported only when SSH is used, to keep
``import runwatch`` light.
"""

from __future__ import annotations

from typing import Any

from runwatch.process_info import ProcessInfo, ProcessMonitor, ProcessSnapshot
from runwatch.processes.local import LocalSource
from runwatch.processes.matching import CommandMatcher, Match, MatchCache, PatternError, same_process
from runwatch.processes.monitor import ProcessSource, SystemMonitor, monitor_from_settings

__all__ = [
    "CommandMatcher",
    "LocalSource",
    "Match",
    "MatchCache",
    "PatternError",
    "ProcessInfo",
    "ProcessMonitor",
    "ProcessSnapshot",
    "ProcessSource",
    "ServerSpec",
    "SlurmError",
    "SlurmSource",
    "SshSource",
    "SystemMonitor",
    "monitor_from_settings",
    "same_process",
]


def __getattr__(name: str) -> Any:
    if name in ("SshSource", "ServerSpec"):
        from runwatch.processes import ssh

        return getattr(ssh, name)
    if name in ("SlurmSource", "SlurmError"):  # (imported when Slurm is used)
        from runwatch.processes import slurm

        return getattr(slurm, name)
    raise AttributeError(f"module 'runwatch.processes' has no attribute {name!r}")

"""Several process sources behind the one ``ProcessMonitor`` the core asks.

Sources are asked in parallel, each with its own deadline; one that raises or
hangs becomes an entry in ``snapshot.errors`` while the others still count, since
a missing answer must read as "unknown", never as "no process".
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from runwatch.process_info import ProcessSnapshot
from runwatch.processes.matching import preference


@runtime_checkable
class ProcessSource(Protocol):
    """One place processes can be seen from: this machine, a set of servers, a cluster."""

    name: str

    def collect(self, project: Any) -> ProcessSnapshot: ...


def _deadline(source: Any, default: float) -> float:
    # An SSH source already bounds each server; give it room for connect + command.
    t = getattr(source, "timeout", None)
    return float(t) * 2 + 5 if isinstance(t, int | float) else default


class SystemMonitor:
    """Implements ``ProcessMonitor`` over several sources."""

    def __init__(self, sources: Sequence[Any], timeout: float = 30.0) -> None:
        names = [s.name for s in sources]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"process sources need distinct names; repeated: {', '.join(sorted(dupes))}")
        self.sources = list(sources)
        self.timeout = timeout
        self._pool: cf.ThreadPoolExecutor | None = None
        self._busy: dict[str, cf.Future[ProcessSnapshot]] = {}
        self._lock = threading.Lock()

    def snapshot(self, project: Any) -> ProcessSnapshot:
        snap = ProcessSnapshot()
        if not self.sources:
            return snap
        with self._lock:
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(max_workers=max(4, 2 * len(self.sources)), thread_name_prefix="runwatch-src")
            futures: dict[str, cf.Future[ProcessSnapshot]] = {}
            for src in self.sources:
                earlier = self._busy.get(src.name)
                if earlier is not None and not earlier.done():
                    # A hung source keeps its thread; do not pile a second call on top of it.
                    snap.errors[src.name] = f"{src.name}: still busy with an earlier snapshot (source hung)"
                    continue
                submitted = self._pool.submit(src.collect, project)
                self._busy[src.name] = futures[src.name] = submitted
        for src in self.sources:
            fut = futures.get(src.name)
            if fut is None:
                continue
            limit = _deadline(src, self.timeout)
            try:
                part = fut.result(timeout=limit)
            except cf.TimeoutError:
                snap.errors[src.name] = f"{src.name}: no answer within {limit:g}s"
                continue
            except Exception as e:
                msg = str(e) or type(e).__name__
                snap.errors[src.name] = msg if msg.startswith(src.name) else f"{src.name}: {msg}"
                continue
            snap.processes.extend(part.processes)
            snap.errors.update(part.errors)
            snap.sources.append(src.name)
            snap.hosts.extend(part.hosts)
        # by_config keeps the first match per config: put the run's own interpreter first.
        snap.processes.sort(key=preference)
        return snap

    def close(self) -> None:
        for src in self.sources:
            close = getattr(src, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> SystemMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def monitor_from_settings(
    project: Any,
    local: bool = True,
    ssh: Sequence[str] | None = None,
    slurm: bool | None = None,
    slurm_all_users: bool | None = None,
    ssh_timeout: float | None = None,
    **ssh_options: Any,
) -> SystemMonitor:
    """The monitor the CLI and server use: options override the project settings file.

    ``ssh=None`` takes ``settings.ssh_servers``; ``ssh=[]`` turns SSH off. ``slurm=None``
    takes ``settings.slurm``. ``ssh_options`` go to ``SshSource`` (config, known_hosts, ...).
    """
    from runwatch.processes.local import LocalSource
    from runwatch.processes.matching import CommandMatcher

    CommandMatcher(project)  # a bad launcher pattern fails here, naming the setting
    settings = project.settings
    sources: list[Any] = []
    if local:
        sources.append(LocalSource())
    servers = list(settings.ssh_servers if ssh is None else ssh)
    timeout = float(ssh_timeout if ssh_timeout is not None else settings.ssh_timeout)
    if servers:
        from runwatch.processes.ssh import SshSource

        sources.append(SshSource(servers, timeout=timeout, **ssh_options))
    if settings.slurm if slurm is None else slurm:
        from runwatch.processes.slurm import SlurmSource

        all_users = project.settings.slurm_all_users if slurm_all_users is None else slurm_all_users
        sources.append(SlurmSource(all_users=all_users, timeout=timeout))
    return SystemMonitor(sources)

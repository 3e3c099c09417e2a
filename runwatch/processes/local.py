"""Processes of this machine, through psutil, with their GPUs when a driver is present.

NVML is asked first because it needs no subprocess; nvidia-smi is the fallback for
machines where only the tool is installed; without either, GPU fields stay empty.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import psutil

from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.processes.matching import CommandMatcher, MatchCache, may_train
from runwatch.processes.open_paths import open_paths

if TYPE_CHECKING:  # (nvidia_smi is imported when GPU usage is asked for: a process matched a run)
    from runwatch.processes.nvidia_smi import GpuUsage

log = logging.getLogger(__name__)

_MiB = 1024 * 1024
# A process matched by where it works (not by its command line) is looked at again after this long:
# it may close its run's file (fit() returned) or move on to another run; an unmatched one, first after this
# long too (Keras opens its CSV when fit() begins, after its imports).
PATH_RECHECK_S = 2.0
# An unmatched process is looked at after 2, 4, 8... seconds, at most this long apart: a training process
# opens its run's files early in its life (a notebook kernel that starts fit() later is found within this).
PATH_RECHECK_MAX_S = 30.0
# psutil states of a process that is alive but not running: SIGSTOP / SIGTSTP, or a tracer.
_STOPPED = (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)


def nvml_usage() -> dict[int, GpuUsage] | None:
    """GPU usage per PID from NVML, or None when there is no NVIDIA driver or library."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None  # no driver / no library: not an error, just no GPUs here
    try:
        acc: dict[int, tuple[list[int], float | None]] = {}
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            procs = list(pynvml.nvmlDeviceGetComputeRunningProcesses(handle))
            try:
                procs += list(pynvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
            except pynvml.NVMLError:
                pass
            for p in procs:
                idxs, mem = acc.get(p.pid, ([], None))
                if i not in idxs:
                    idxs.append(i)
                used = getattr(p, "usedGpuMemory", None)
                if used is not None:
                    mem = (mem or 0.0) + used / _MiB
                acc[p.pid] = (idxs, mem)
        from runwatch.processes.nvidia_smi import GpuUsage

        return {pid: GpuUsage(tuple(sorted(i)), m) for pid, (i, m) in acc.items()}
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def gpu_usage(errors: dict[str, str], name: str) -> dict[int, GpuUsage]:
    """NVML, else nvidia-smi, else nothing; a failing GPU query is a warning, not a lost snapshot."""
    nvml_error: str | None = None
    try:
        usage = nvml_usage()
        if usage is not None:
            return usage
    except Exception as e:  # NVML present but broken: try the tool before giving up
        log.debug("NVML query failed: %s", e)
        nvml_error = f"NVML: {e}"
    from runwatch.processes import nvidia_smi

    try:
        usage = nvidia_smi.query_local()
    except Exception as e:
        errors[f"{name}:gpu"] = f"GPU usage unavailable ({nvml_error + '; ' if nvml_error else ''}nvidia-smi: {e})"
        return {}
    if usage is None:
        if nvml_error:
            errors[f"{name}:gpu"] = f"GPU usage unavailable ({nvml_error}; no nvidia-smi on PATH)"
        return {}
    return usage


class LocalSource:
    """This machine's processes that train a run of the project: matched by their command line, else by
    where they work (their cwd, a file they hold open in a run folder; ``CommandMatcher.match_paths``)."""

    def __init__(self, name: str = "local", gpus: bool = True) -> None:
        self.name = name
        self.gpus = gpus
        # Matches and cwds by full identity: reading cwds of thousands of processes each
        # refresh is wasted work, and a reused PID must never inherit a stale match.
        self.cache = MatchCache()

    def collect(self, project: Any) -> ProcessSnapshot:
        matcher = CommandMatcher(project)
        by_paths = matcher.reads_paths
        now = time.monotonic()
        self.cache.for_project(project)
        snap = ProcessSnapshot()
        # The command line of every process; the rest only of a candidate (most processes are none).
        attrs = ["pid", "username", "create_time", "status"]
        # psutil >= 6 keeps Process objects by PID between calls and no longer checks for
        # PID reuse, so a reused PID comes back with the dead process's create_time, and
        # with it the dead run's cached match and cwd. Fresh objects every snapshot.
        clear = getattr(psutil.process_iter, "cache_clear", None)
        if clear is not None:
            clear()
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if not cmdline:
                continue
            by_text = matcher.is_candidate(cmdline)
            if not by_text and not (by_paths and may_train(cmdline)):
                continue
            try:
                info = proc.as_dict(attrs)
            except psutil.NoSuchProcess:
                continue
            if info.get("status") == psutil.STATUS_ZOMBIE:
                # A zombie has exited (only its exit status is left to collect) and has no
                # command line left to match: the run's remembered process tells it exited.
                continue
            create_time = float(info.get("create_time") or 0.0)
            pid, cmd = int(info["pid"]), " ".join(cmdline)
            cached = self.cache.get(None, pid, create_time, cmd)
            # (match, cwd, when to look at where it works again or None: never, seconds until the look after)
            if cached is None or (cached[2] is not None and now >= cached[2]):
                try:
                    cwd: str | None = proc.cwd()
                except (psutil.Error, OSError):
                    cwd = None
                match = matcher.match(list(cmdline), cwd) if by_text and cached is None else None
                again, wait = None, 0.0
                if match is None and by_paths:
                    # No command line names its run: where it works does (its cwd, a file it holds open).
                    paths = open_paths(pid, project.root)
                    match = matcher.match_paths(cwd, paths or [])
                    if paths is not None:  # another user's process cannot be read: never again
                        # A match is checked again soon (fit() may end); an unmatched process ever less often.
                        wait = PATH_RECHECK_S if match is not None or cached is None else min(2 * cached[3], PATH_RECHECK_MAX_S)
                        again = now + wait
                cached = (match, cwd, again, wait)
                self.cache.put(None, pid, create_time, cmd, cached)
            match, cwd = cached[0], cached[1]
            if match is None:
                continue
            snap.processes.append(
                ProcessInfo(
                    pid=pid,
                    user=info.get("username") or "",
                    cmd=cmd,
                    start_time=create_time,
                    server=None,
                    cwd=cwd,
                    config_rel=match.config_rel,
                    debug=match.debug,
                    state="stopped" if info.get("status") in _STOPPED else "running",
                    source=self.name,
                )
            )
        self.cache.sweep()
        if self.gpus and snap.processes:
            usage = gpu_usage(snap.errors, self.name)
            for p in snap.processes:
                u = usage.get(p.pid)
                if u is not None:
                    p.gpu_indices, p.gpu_memory_mib = u.indices, u.memory_mib
        return snap

    def close(self) -> None:
        self.cache.clear()

"""The last process seen for each run, remembered in runwatch's own store.

A one-shot ``runwatch status`` sees only the processes alive at that moment; to tell
"exited" from "never seen" it needs the process an earlier call saw. Each snapshot
records (host, pid, start time, source, job id) per run in ``processes.json`` in the
cache dir; a later call checks that very process:

- on this machine, psutil is asked about the PID directly: alive only with the same
  start time (PID reuse is a new process), a zombie has exited, state ``T`` is stopped. The start
  is compared as the time from boot (``readers/proc_start``) where it was recorded so: a wall-clock
  start time moves by whole seconds when the clock is set or slewed, and must not make a live run
  read as exited;
- elsewhere, the process is gone only when the source that sees its host answered this
  time and did not list it; a source that could not be asked leaves it unknown.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from runwatch.atomic_files import replace_atomically
from runwatch.readers.jsonfile import finite_number
from runwatch.readers.proc_start import TICK, boot_start
from runwatch.readers.safe_open import read_own
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.state import STATE

FILE_NAME = "processes.json"
# Runs whose process was seen alive well after their files ended on an epoch boundary (``clean_end``):
# run -> {"last_write": newest mtime then, "seen_at": when}. A finished fit exits within seconds of its last
# checkpoint, so such a sighting, with the files unchanged since, says a later end was a kill (rules.ALIVE_AFTER_END).
SIGHTINGS_NAME = "alive-after-end.json"
_START_SLACK = 0.02  # seconds: psutil create times of one process agree to the clock tick (a reused PID a tick later is another process)
# The boot time a create time adds moves with the wall clock (whole seconds when it is set or slewed): a start
# from boot is checked against a snapshot's create time within this many seconds only.
_BOOT_SLACK = 5.0

_MEMORIES: dict[str, ProcessMemory] = STATE.table("run_status.process_memory.memories")
_LOCK = threading.Lock()


def memory_for(cache_dir: str) -> ProcessMemory:
    """The process memory of one cache dir, shared within the process."""
    path = os.path.join(cache_dir, FILE_NAME)
    with _LOCK:
        mem = _MEMORIES.get(path)
        if mem is None:
            mem = _MEMORIES[path] = ProcessMemory(path)
        return mem


def _entry(p: ProcessInfo, now: float) -> dict[str, Any]:
    return {
        "server": p.server,
        "pid": p.pid,
        "start_time": p.start_time,
        "boot_start": _boot_start_of(p),
        "source": p.source,
        "job_id": p.job_id,
        "cmd": p.cmd[:500],
        "seen_at": now,
    }


def _boot_start_of(p: ProcessInfo) -> float | None:
    """A local process's start counted from boot, read now: None for another machine's or a job, and where it
    does not agree with the snapshot's start time within a few seconds (the PID is another process's now)."""
    if p.server is not None or p.job_id or p.start_time is None:
        return None
    started = boot_start(p.pid)
    if started is None:
        return None
    import psutil  # deferred: `import runwatch` stays light

    try:
        booted = psutil.boot_time()
    except Exception:  # no boot time here: the wall-clock start alone
        return None
    return started if abs(booted + started - p.start_time) <= _BOOT_SLACK else None


class _JsonMemo:
    """One JSON object file of runwatch's own, kept in memory: read again only when asked to check and its
    mtime moved (another runwatch process wrote it), written atomically; damaged or unwritable costs only
    what it remembered."""

    def __init__(self, path: str, limit: int, valid: Callable[[Any], bool], prefix: str) -> None:
        self.path, self._limit, self._valid, self._prefix = path, limit, valid, prefix
        self._entries: dict[str, dict[str, Any]] | None = None
        self._mtime: float | None = None

    def load(self, check: bool = False) -> dict[str, dict[str, Any]]:
        """The entries; the file is stat-ed again only with ``check`` (once per snapshot, not per run)."""
        if self._entries is not None and not check:
            return self._entries
        try:
            mtime: float | None = os.stat(self.path).st_mtime
        except OSError:
            mtime = None
        if self._entries is None or mtime != self._mtime:
            entries: dict[str, dict[str, Any]] = {}
            if mtime is not None:
                try:
                    data = json.loads(read_own(self.path, self._limit))  # never through a link
                    if isinstance(data, dict):
                        entries = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict) and self._valid(v)}
                except (OSError, ValueError, RecursionError):
                    entries = {}  # a damaged memory only loses what it remembered
            self._entries, self._mtime = entries, mtime
        return self._entries

    def save(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            replace_atomically(self.path, lambda f: json.dump(entries, f), prefix=self._prefix, text=True)
            self._mtime = os.stat(self.path).st_mtime
        except OSError:
            pass  # a read-only cache dir: the memory lives for this process only


def _is_process_entry(v: Any) -> bool:
    return isinstance(v.get("pid"), int)


def _is_sighting(v: Any) -> bool:
    return all(isinstance(v.get(f), float | int) for f in ("last_write", "seen_at"))


class ProcessMemory:
    def __init__(self, path: str) -> None:
        self.path = path
        self._processes = _JsonMemo(path, 64 * 1024 * 1024, _is_process_entry, ".processes-")
        self._sightings = _JsonMemo(os.path.join(os.path.dirname(path), SIGHTINGS_NAME), 16 * 1024 * 1024, _is_sighting, ".sightings-")
        self._lock = threading.Lock()
        # The latest snapshot observed: which sources answered, which could not be asked.
        self.snapshot: ProcessSnapshot | None = None
        # Its live processes by (host, pid): (start time, the run it works for).
        self._working: dict[tuple[str | None, int], tuple[float | None, str]] = {}

    def seen_alive_after(self, rel: str, last_write: float) -> float | None:
        """Seconds after ``last_write`` (the run's newest mtime) at which its process was seen alive, when a
        sighting of it was noted with its files exactly as they are now; None otherwise."""
        with self._lock:
            got = self._sightings.load(check=True).get(rel)  # another runwatch may have noted one
        if got is None or got["last_write"] != last_write:
            return None
        return float(got["seen_at"] - last_write)

    def note_alive(self, rel: str, last_write: float, now: float) -> None:
        """Note that the run's process was alive at ``now`` while its newest file was written at ``last_write``
        (written once per (run, last write): the first sighting past the caller's threshold is enough)."""
        with self._lock:
            found = self._sightings.load(check=True)
            old = found.get(rel)
            if old is not None and old["last_write"] == last_write:
                return
            found[rel] = {"last_write": last_write, "seen_at": now}
            self._sightings.save(found)

    def _load(self, check: bool = False) -> dict[str, dict[str, Any]]:
        return self._processes.load(check)

    def last(self, rel: str) -> dict[str, Any] | None:
        with self._lock:
            return self._load().get(rel)

    def moved_to(self, entry: dict[str, Any], rel: str) -> str | None:
        """The run a remembered process works for now, when the latest snapshot lists that very process (same
        host, pid and start time) for another run: one process that trains runs one after another (it holds
        the newer run's files open now) has ended this one."""
        if entry.get("job_id"):
            return None
        now = self._working.get((entry.get("server"), entry.get("pid")))  # type: ignore[arg-type]
        if now is None or now[1] == rel:
            return None
        started, other = now
        if started is not None and entry.get("start_time") is not None and abs(started - entry["start_time"]) > 1.5:
            return None  # the pid of another process now
        return other

    def jobs(self, source: str) -> dict[str, str]:
        """job id -> config_rel of the remembered jobs of one Slurm source."""
        with self._lock:
            return {str(v["job_id"]): rel for rel, v in self._load().items() if v.get("job_id") and v.get("source") == source}

    def observe(self, snapshot: ProcessSnapshot) -> None:
        """Remember the processes of this snapshot (only a new identity is written to disk)."""
        self.snapshot = snapshot
        live = [p for p in snapshot.processes if p.config_rel and not p.debug and p.state in ("running", "stopped")]
        self._working = {(p.server, p.pid): (p.start_time, p.config_rel) for p in live if not p.job_id}  # type: ignore[misc]
        with self._lock:
            entries = self._load(check=True)  # another runwatch may have remembered processes since
        if not live:
            return
        now = time.time()
        with self._lock:
            changed = False
            for p in live:
                old = entries.get(p.config_rel)  # type: ignore[arg-type]
                if old is None or (old.get("server"), old.get("pid"), old.get("start_time"), old.get("job_id")) != (p.server, p.pid, p.start_time, p.job_id):
                    entries[p.config_rel] = _entry(p, now)  # type: ignore[index]
                    changed = True
            if changed:
                self._save(entries)

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        self._processes.save(entries)


def local_state(pid: int, start_time: float | None, started_from_boot: float | None = None) -> str:
    """What psutil says of a local process: alive, stopped, zombie or gone (another start time is gone).

    ``started_from_boot`` (seconds, ``readers/proc_start``), where known, is the start compared: it never
    moves; ``start_time`` (a wall-clock create time) is compared only without it."""
    import psutil  # deferred: `import runwatch` stays light

    try:
        proc = psutil.Process(pid)
        now_from_boot = boot_start(pid) if started_from_boot is not None else None
        if started_from_boot is not None and now_from_boot is not None:
            if abs(now_from_boot - started_from_boot) > TICK / 2:
                return "gone"
        elif start_time is not None and abs(proc.create_time() - start_time) > _START_SLACK:
            return "gone"
        status = proc.status()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return "gone"
    if status == psutil.STATUS_ZOMBIE:
        return "zombie"
    if status in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
        return "stopped"
    return "alive"


def writer_evidence(writer: tuple[str, int, float], local_lookup: bool) -> tuple[str, str] | None:
    """(process evidence, detail) from the process named in a TensorBoard event file's name, or None
    when it is another machine's (no source can tell). The process must have started before the
    file was opened: a pid reused since is another process, and the writer has exited."""
    import socket

    host, pid, opened_at = writer
    if host != socket.gethostname():
        return None
    what = f"process {pid} on this machine (the writer of the run's event file)"
    if not local_lookup:
        return "unknown", f"{what} not checked (process lookup off)"
    import psutil  # deferred: `import runwatch` stays light

    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return "gone", f"{what} has exited"
    if started > opened_at + 1.0:  # the name has whole seconds: the file was opened after the process started
        return "gone", f"{what} has exited (pid {pid} is another process now)"
    state = local_state(pid, None)
    if state == "alive":
        return "alive", f"{what} is alive"
    if state == "stopped":
        return "stopped", f"{what} is stopped (state T: SIGSTOP or a debugger)"
    return "gone", f"{what} has exited" + (" (a zombie, not yet reaped by its parent)" if state == "zombie" else "")


def remembered_evidence(entry: dict[str, Any], snapshot: ProcessSnapshot, local_lookup: bool) -> tuple[str, str]:
    """(process evidence, detail) for a remembered process that the snapshot does not list alive."""
    where = entry.get("server") or "this machine"
    what = f"job {entry['job_id']}" if entry.get("job_id") else f"process {entry['pid']}"
    if entry.get("server") is None and not entry.get("job_id"):
        if not local_lookup:
            return "unknown", f"{what} on {where} not checked (process lookup off)"
        state = local_state(int(entry["pid"]), entry.get("start_time"), finite_number(entry.get("boot_start")))  # (its own file, read as any input)
        if state == "alive":
            return "alive", f"{what} on {where} is alive"
        if state == "stopped":
            return "stopped", f"{what} on {where} is stopped (state T: SIGSTOP or a debugger)"
        if state == "zombie":
            return "gone", f"{what} on {where} has exited (a zombie, not yet reaped by its parent)"
        return "gone", f"{what} on {where} has exited"
    source = entry.get("source")
    server = entry.get("server")
    if server in snapshot.hosts and server not in snapshot.errors:
        return "gone", f"{what} on {where} has exited ({source} no longer lists it)"
    return (
        "unknown",
        f"{what} on {where} last seen {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry.get('seen_at') or 0))}; {source or 'its source'} could not be asked",
    )


def local_states_changed(processes: list[ProcessInfo]) -> bool:
    """Whether any of these processes of this machine exited or changed state (running <-> stopped).

    A few /proc reads per process: cheap enough to ask twice a second, so a dashboard
    shows a run finished (or failed) within a second of its process exiting.
    """
    for p in processes:
        if p.server is not None or p.job_id or p.state not in ("running", "stopped"):
            continue
        state = local_state(p.pid, p.start_time)
        if state != ("alive" if p.state == "running" else "stopped"):
            return True
    return False

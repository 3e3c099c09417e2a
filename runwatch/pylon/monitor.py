"""Pylon's process facts, taken by their shape: its ``SystemMonitor`` and ``ProcessInfo``.

Pylon's monitor exposes ``connected_gpus``: a list of GPUs, each a dict (or, in later
versions, an object) whose ``processes`` are Pylon ``ProcessInfo`` records with the
``ps -eo pid=,user=,lstart=,cmd=`` fields as strings (``pid``, ``user``, ``cmd``,
``start_time`` like ``'Mon Jan  1 10:00:00 2024'``). Nothing of Pylon is imported: any
object with those attributes (or a dict with those keys) is accepted, and turned into
runwatch's own ``ProcessInfo`` for the status decision. The caller gets its own
objects back in ``RunStatus.process_info``.

runwatch's process sources (``runwatch.ProcessMonitor``, a ``ProcessSnapshot``) are
accepted as they are.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runwatch import LayoutError, ProcessInfo, ProcessMonitor, ProcessSnapshot, Project

if TYPE_CHECKING:
    from runwatch.processes.matching import CommandMatcher

__all__ = [
    "LAUNCH_MARKER",
    "_build_config_to_process_mapping",
    "from_process_map",
    "from_system_monitor",
    "is_runwatch_process",
    "parse_config",
]

# Pylon's own test for "this process runs a config" (its launcher's and run_status's).
LAUNCH_MARKER = "python main.py --config-filepath"
SOURCE = "system_monitor"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a Pylon record, which is a dict in some versions and an object in others."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def parse_config(cmd: str) -> str:
    """The config path of a Pylon launch command (the word after ``--config-filepath``).

    Pylon's function, with its checks: an AssertionError for a command that is not a
    ``python ... --config-filepath <path>`` launch.
    """
    assert isinstance(cmd, str), f"{cmd=}"
    assert "python" in cmd, f"{cmd=}"
    assert "--config-filepath" in cmd, f"{cmd=}"
    parts = cmd.split(" ")
    for idx, part in enumerate(parts):
        if part == "--config-filepath" and idx + 1 < len(parts):
            return parts[idx + 1]
    raise AssertionError(f"{cmd=}")


def _build_config_to_process_mapping(connected_gpus: Iterable[Any]) -> dict[str, Any]:
    """Config path (as written in the command) -> the process running it, over every GPU's processes.

    Pylon's helper: a process counts when its command holds ``python main.py
    --config-filepath <config>``; the values are the caller's own process records.
    """
    config_to_process: dict[str, Any] = {}
    for gpu in connected_gpus or []:
        for process in _get(gpu, "processes") or []:
            cmd = _get(process, "cmd")
            if isinstance(cmd, str) and LAUNCH_MARKER in cmd:
                config_to_process[parse_config(cmd)] = process
    return config_to_process


def is_runwatch_process(p: Any) -> bool:
    return isinstance(p, ProcessInfo)


def _start_time(value: Any) -> float | None:
    """Epoch seconds of Pylon's ``start_time`` (ps's lstart, local time), or of a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    from runwatch.processes.ps_parse import parse_lstart  # deferred: the process sources load only when asked

    try:
        return parse_lstart(str(value).split(), utc=False)
    except (ValueError, OverflowError):
        return None


def _pid(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def to_process_info(p: Any, matcher: CommandMatcher, server: str | None = None, gpu_index: Any = None, config: str | None = None) -> ProcessInfo | None:
    """runwatch's record of a Pylon process, matched to its config; None when it runs no config of the project.

    ``config``: the config the caller's mapping already names for it (a key of
    ``config_to_process_info``); otherwise the command line says.
    """
    if isinstance(p, ProcessInfo):
        return p
    cmd = _get(p, "cmd")
    if not isinstance(cmd, str):
        return None
    words = cmd.split()  # ps joins argv with spaces; Pylon's launch lines carry no quoting
    m = matcher.match(["python", "main.py", "--config-filepath", os.fspath(config)]) if config is not None else None
    if m is None:
        m = matcher.match(words) or matcher.match(cmd)  # a list is matched without shell parsing
    if m is None:
        return None
    rel, debug = m.config_rel, m.debug or "--debug" in words
    pid = _pid(_get(p, "pid"))
    return ProcessInfo(
        pid=pid if pid is not None else -1,
        user=str(_get(p, "user") or ""),
        cmd=cmd,
        start_time=_start_time(_get(p, "start_time")),
        server=server,
        gpu_indices=(gpu_index,) if isinstance(gpu_index, int) and not isinstance(gpu_index, bool) else (),
        config_rel=rel,
        debug=debug,
        source=SOURCE,
    )


def from_system_monitor(system_monitor: Any, project: Project) -> tuple[Any, dict[str, Any]]:
    """(what runwatch's scan takes as its process source, run name -> the caller's own process record).

    A runwatch monitor or snapshot passes through unchanged. A Pylon-shaped monitor
    (``connected_gpus``) becomes a ``ProcessSnapshot``: the servers of its connected GPUs
    are the hosts that were seen (a run's remembered process missing there has exited);
    servers listed in ``disconnected_gpus`` could not be asked (a run whose process was
    last seen there says it may be stuck, not failed).
    """
    if system_monitor is None or isinstance(system_monitor, ProcessSnapshot | ProcessMonitor | dict):
        return system_monitor, {}
    if not hasattr(system_monitor, "connected_gpus"):
        raise TypeError(
            f"system_monitor must be Pylon's SystemMonitor (with .connected_gpus) or a runwatch process source "
            f"(with .snapshot(project)), got {type(system_monitor).__name__}"
        )
    from runwatch.processes.matching import CommandMatcher  # deferred: the process sources load only when asked

    matcher = CommandMatcher(project, remote=True)
    errors: dict[str, str] = {}
    try:
        gpus = list(system_monitor.connected_gpus or [])
    except Exception as e:  # a broken monitor is a reported error, not "no process"
        return ProcessSnapshot(errors={type(system_monitor).__name__: f"{type(e).__name__}: {e}"}, sources=[SOURCE]), {}
    hosts: list[str] = []
    found: dict[tuple[str | None, int], ProcessInfo] = {}
    record_of: dict[int, Any] = {}  # id(runwatch's record) -> the caller's
    for gpu in gpus:
        server = _get(gpu, "server")
        server = str(server) if server else None
        if _get(gpu, "connected", True) is False:
            if server:
                errors.setdefault(server, "GPU not connected")
            continue
        if server and server not in hosts:
            hosts.append(server)
        for p in _get(gpu, "processes") or []:
            info = to_process_info(p, matcher, server, _get(gpu, "index"))
            if info is None or info.config_rel is None:
                continue
            key = (info.server, info.pid)
            seen = found.get(key)
            if seen is not None:  # one process on several GPUs
                seen.gpu_indices = tuple(sorted(set(seen.gpu_indices) | set(info.gpu_indices)))
                continue
            found[key] = info
            record_of[id(info)] = p
    try:
        for gpu in getattr(system_monitor, "disconnected_gpus", None) or []:
            server = _get(gpu, "server")
            if server and str(server) not in hosts:
                errors.setdefault(str(server), "disconnected")
    except Exception:  # only an aid: the connected GPUs are what was seen
        pass
    snap = ProcessSnapshot(processes=list(found.values()), errors=errors, sources=[SOURCE], hosts=hosts)
    # The caller's record of the process runwatch takes for each run (the running interpreter before its helpers).
    return snap, {rel: record_of[id(info)] for rel, info in snap.by_config().items()}


def from_process_map(config_to_process_info: Mapping[str, Any] | None, project: Project) -> tuple[dict[str, ProcessInfo], dict[str, Any]]:
    """Pylon's ``config_to_process_info`` keyed by run name with runwatch records, and the caller's records by run name."""
    from runwatch.processes.matching import CommandMatcher  # deferred: the process sources load only when asked

    matcher = CommandMatcher(project, remote=True)
    out: dict[str, ProcessInfo] = {}
    originals: dict[str, Any] = {}
    for key, p in (config_to_process_info or {}).items():
        info = to_process_info(p, matcher, config=key)
        if info is None:
            continue
        rel = info.config_rel
        if rel is None:
            try:
                rel = project.config_rel(key)
            except LayoutError:
                rel = key
        out[rel] = info
        originals[rel] = p
    return out, originals

"""Parsing the two nvidia-smi CSV queries Pylon runs on every GPU server.

nvidia-smi is the only GPU interface that exists on a remote server without
installing anything, so its ``--format=csv,noheader,nounits`` output is the
contract; values it cannot read come out as ``[N/A]`` or ``[Not Supported]``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

APPS_QUERY = "--query-compute-apps=gpu_uuid,pid,used_memory"
GPUS_QUERY = "--query-gpu=index,uuid,memory.total,memory.used,utilization.gpu"
CSV_FORMAT = "--format=csv,noheader,nounits"
APPS_COMMAND = f"nvidia-smi {APPS_QUERY} {CSV_FORMAT}"
GPUS_COMMAND = f"nvidia-smi {GPUS_QUERY} {CSV_FORMAT}"


class NvidiaSmiError(RuntimeError):
    """nvidia-smi output that is not what the queries print."""


@dataclass(frozen=True)
class GpuApp:
    gpu_uuid: str
    pid: int
    used_memory_mib: float | None


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    memory_total_mib: float | None
    memory_used_mib: float | None
    utilization_pct: float | None


@dataclass(frozen=True)
class GpuUsage:
    """What one process holds: the GPUs (by index) and its memory summed over them."""

    indices: tuple[int, ...]
    memory_mib: float | None


def _number(s: str) -> float | None:
    s = s.strip()
    if not s or s.startswith("["):  # [N/A], [Not Supported], [Insufficient Permissions]
        return None
    try:
        return float(s)
    except ValueError:
        raise NvidiaSmiError(f"not a number: {s!r}") from None


def _rows(text: str, width: int, what: str) -> list[tuple[int, list[str]]]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("No devices were found"):
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != width:
            raise NvidiaSmiError(f"{what} line {lineno}: expected {width} comma-separated values: {line!r}")
        rows.append((lineno, cells))
    return rows


def parse_compute_apps(text: str) -> list[GpuApp]:
    apps = []
    for lineno, (uuid, pid_s, mem) in _rows(text, 3, "compute-apps"):
        try:
            pid = int(pid_s)
            apps.append(GpuApp(uuid, pid, _number(mem)))
        except (ValueError, NvidiaSmiError) as e:
            raise NvidiaSmiError(f"compute-apps line {lineno}: {e}") from None
    return apps


def parse_gpus(text: str) -> list[Gpu]:
    gpus = []
    for lineno, (idx, uuid, total, used, util) in _rows(text, 5, "query-gpu"):
        try:
            gpus.append(Gpu(int(idx), uuid, _number(total), _number(used), _number(util)))
        except (ValueError, NvidiaSmiError) as e:
            raise NvidiaSmiError(f"query-gpu line {lineno}: {e}") from None
    return gpus


def usage_by_pid(apps: list[GpuApp], gpus: list[Gpu]) -> dict[int, GpuUsage]:
    """Per PID, the GPU indices it runs on and its total memory (None when never reported)."""
    index_of = {g.uuid: g.index for g in gpus}
    acc: dict[int, tuple[list[int], float | None]] = {}
    for app in apps:
        idxs, mem = acc.get(app.pid, ([], None))
        i = index_of.get(app.gpu_uuid)
        if i is not None and i not in idxs:
            idxs.append(i)
        if app.used_memory_mib is not None:
            mem = (mem or 0.0) + app.used_memory_mib
        acc[app.pid] = (idxs, mem)
    return {pid: GpuUsage(tuple(sorted(idxs)), mem) for pid, (idxs, mem) in acc.items()}


def query_local(timeout: float = 10.0) -> dict[int, GpuUsage] | None:
    """GPU usage from this machine's nvidia-smi, or None when it is not installed."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    outs = []
    for query in (APPS_QUERY, GPUS_QUERY):
        r = subprocess.run([exe, query, CSV_FORMAT], capture_output=True, text=True, timeout=timeout, check=False)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise NvidiaSmiError(f"nvidia-smi {query} exited {r.returncode}: {msg[0] if msg else ''}")
        outs.append(r.stdout)
    return usage_by_pid(parse_compute_apps(outs[0]), parse_gpus(outs[1]))

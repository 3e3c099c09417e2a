"""The files a process of this machine holds open under a folder: where a run's process is found when no
command line names its run (Keras's CSVLogger keeps its file open while ``fit`` runs, MMEngine its text log).

On Linux, ``/proc/<pid>/fd`` is listed and each entry read as a link (one ``readlink`` per descriptor,
at most ``MAX_FDS``); elsewhere psutil's ``open_files``. A process of another user answers nothing
(its descriptors cannot be read): None, never an error.
"""

from __future__ import annotations

import os

import psutil

# Descriptors read per process: a process holding more (a data loader over many files) is read up to here.
MAX_FDS = 4096
_PROC = "/proc"


def open_paths(pid: int, under: str) -> list[str] | None:
    """Absolute paths under ``under`` (as the kernel names them: links resolved) that process ``pid`` holds
    open, highest descriptor first (deleted files left out), or None when its descriptors cannot be read
    (gone, another user's)."""
    prefix = os.path.realpath(under).rstrip(os.sep) + os.sep
    fd_dir = f"{_PROC}/{pid}/fd"
    if os.path.isdir(_PROC + "/self/fd"):
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            return None
        out: list[str] = []
        # Newest first: the kernel gives a new file the lowest free number, so a higher one was mostly opened later.
        for fd in sorted(fds, key=lambda n: -int(n) if n.isdigit() else 0)[:MAX_FDS]:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith(prefix) and not target.endswith(" (deleted)"):
                out.append(target)
        return out
    try:
        files = psutil.Process(pid).open_files()
    except (psutil.Error, OSError):
        return None
    return [f.path for f in files[:MAX_FDS] if f.path.startswith(prefix)]

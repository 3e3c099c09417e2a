"""When a process of this machine started, counted from the machine's boot (``/proc/<pid>/stat``).

psutil's ``create_time()`` is this plus the boot time, and on Linux the boot time is the wall clock
minus the time since boot, read anew at every call: when the clock is set or slewed (NTP, a virtual
machine resumed), the same process's create time moves by whole seconds. A process remembered by its
create time would then read as another one, and a live run as exited. The time from boot is the
kernel's own count of clock ticks, fixed when the process started: it never moves.
"""

from __future__ import annotations

import os

__all__ = ["TICK", "boot_start"]

try:
    TICK: float = 1.0 / os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):  # no sysconf (not POSIX): boot_start answers None anyway
    TICK = 0.01


def boot_start(pid: int) -> float | None:
    """Seconds from boot to the start of process ``pid``; None where it cannot be read (no such process,
    no ``/proc`` here)."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:  # the kernel's file, a few hundred bytes
            data = f.read(4096)
    except (OSError, ValueError):
        return None
    # ``pid (comm) state ppid ...``: comm may hold spaces and parentheses, so fields count from the last ``)``;
    # starttime is the 22nd field, the 20th after comm.
    try:
        fields = data[data.rindex(b")") + 1 :].split()
        return int(fields[19]) * TICK
    except (ValueError, IndexError):
        return None

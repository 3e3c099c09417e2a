"""Open a file by a path that has no symbolic link on it, in one system call (Linux ``openat2``).

``open_nolink(path, flags)`` is ``os.open(path, flags)`` for a path on which no component is
a symbolic link (``RESOLVE_NO_SYMLINKS``): what it opens is then exactly the file the path
names, so a path inside the project opens a file inside the project, with no need to ask
the kernel afterwards where the descriptor leads. It returns None whenever it cannot say
so: a link on the way (a link inside the project is legitimate: the caller then takes its
general path, which checks where the link leads), any error (the general path raises it
with its usual message), or no ``openat2`` here (not Linux, a kernel before 5.6, a sandbox
that refuses the call: then it is not tried again in this process).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

_SYS_OPENAT2 = 437  # the same number on every Linux architecture (it came after the tables were unified)
_AT_FDCWD = -100
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04

# flags -> (syscall, byref(open_how), sizeof(open_how), get_errno, open_how), or None when openat2 is unusable.
_CALLS: dict[int, Any] = {}
_UNUSABLE = [not sys.platform.startswith("linux")]


def _bind(flags: int) -> Any:
    try:
        import ctypes

        class _OpenHow(ctypes.Structure):
            _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

        syscall = ctypes.CDLL(None, use_errno=True).syscall
        syscall.restype = ctypes.c_long
        how = _OpenHow(flags, 0, _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
        return (syscall, ctypes.byref(how), ctypes.sizeof(how), ctypes.get_errno, how)
    except (ImportError, OSError, AttributeError):
        _UNUSABLE[0] = True
        return None


def open_nolink(path: str, flags: int) -> int | None:
    """A descriptor of ``path`` opened with ``flags`` when no component of ``path`` is a link; else None."""
    if _UNUSABLE[0] or "\x00" in path:  # a NUL would cut the C string: os.open refuses such a path
        return None
    c = _CALLS.get(flags)
    if c is None:
        c = _CALLS[flags] = _bind(flags)
        if c is None:
            return None
    fd: int = c[0](_SYS_OPENAT2, _AT_FDCWD, os.fsencode(path), c[1], c[2])
    if fd >= 0:
        return fd
    if c[3]() in (errno.ENOSYS, errno.E2BIG):  # no openat2 here (old kernel, sandbox): never again
        _UNUSABLE[0] = True
    return None

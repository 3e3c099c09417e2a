"""runwatch's own files (its caches and stores), replaced atomically.

A reader, in this process or another, sees the old file or the new one, never a mix; a
write that fails (disk full, read-only folder, SIGKILL) leaves the old file and no temp
file. Trainers' files are never written here: progress.json has its own writer
(``readers/jsonfile.write_json_atomic``), which checks the folder it writes into.

Never through a symbolic link: the folder is opened with ``O_NOFOLLOW`` and everything
happens relative to that descriptor; the temp file is created ``O_EXCL`` with mode 0600;
``os.replace`` puts it in the name's place (a link planted at the name is replaced, never
followed).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from typing import IO, Any

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class LinkedFolder(OSError):
    """runwatch's folder is a symbolic link: its own files are never written through one."""


def _open_dir(directory: str) -> int:
    os.makedirs(directory, exist_ok=True)
    try:
        return os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(directory):
            raise LinkedFolder(errno.ELOOP, "runwatch's folder is a symbolic link; its own files are never written through a link", directory) from None
        raise


def replace_atomically(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, prefix: str | None = None, text: bool = False) -> None:
    """Fill a temp file beside ``path`` with ``write(f)`` and put it in ``path``'s place.

    The folder is made if missing. Raises OSError (or whatever ``write`` raises), with
    the temp file removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    name = os.path.basename(path)
    dfd = _open_dir(directory)
    try:
        tmp = (prefix if prefix is not None else "." + name + ".") + os.urandom(4).hex() + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "w" if text else "wb", encoding="utf-8" if text else None) as f:
                write(f)
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)

"""runwatch's own files (its caches and stores), replaced atomically.

A reader, in this process or another, sees the old file or the new one, never a mix; a
write that fails (disk full, read-only folder, SIGKILL) leaves the old file and no temp
file. Trainers' files are never written here: progress.json has its own writer
(``readers/jsonfile.write_json_atomic``), which checks the folder it writes into.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any


def replace_atomically(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, prefix: str | None = None, text: bool = False) -> None:
    """Fill a temp file beside ``path`` with ``write(f)`` and put it in ``path``'s place.

    The folder is made if missing. Raises OSError (or whatever ``write`` raises), with
    the temp file removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix if prefix is not None else "." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w" if text else "wb", encoding="utf-8" if text else None) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

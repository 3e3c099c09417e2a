"""Where a project's settings come from: its ``runwatch.toml`` (or ``pyproject.toml``) and that file's bytes.

Light on purpose (``os`` only): the console script reads the settings file's bytes and
sends them to the project's running agent, which answers only when they make its own
settings (``runwatch/agent_client.py``); ``runwatch.settings`` parses the same bytes.
"""

from __future__ import annotations

import errno
import os
import stat

SETTINGS_FILE = "runwatch.toml"
MAX_SETTINGS_BYTES = 1024 * 1024


def find_settings_file(root: str | os.PathLike[str]) -> tuple[str, bool] | None:
    """The settings file of a project root (a path) and whether it is a pyproject table, or None."""
    own = os.path.join(os.fspath(root), SETTINGS_FILE)
    if os.path.isfile(own):
        return own, False
    py = os.path.join(os.fspath(root), "pyproject.toml")
    if os.path.isfile(py):
        return py, True
    return None


def read_settings_file(path: str, max_bytes: int = MAX_SETTINGS_BYTES) -> bytes:
    """The settings file's bytes: a regular file of at most 1 MiB, opened non-blocking.

    (``readers.safe_open`` is a layer above: this is its check, kept small, for the one
    file the settings layer reads.)
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file; not read", path)
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes; not read", path)
    return data

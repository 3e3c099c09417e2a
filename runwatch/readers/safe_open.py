"""Open a file from disk only when it is what a reader expects: a regular file of bounded size.

A FIFO where a log or a config should be blocks ``open()`` until a writer appears (forever,
on a hostile tree); a character device (``/dev/zero``, ``/dev/urandom``) never ends, so
``f.read()`` takes memory until the process dies. Every reader of run files opens through
here: the file is opened with ``O_NONBLOCK`` (so a FIFO cannot block the open itself), then
checked with ``fstat`` on the open descriptor (so a name swapped between a stat and the open
cannot fool the check), and refused unless it is a regular file. The one documented
exception is a regular file whose size says 0 but that has content (``/proc`` and ``/sys``
files): it is read, and the limit then applies to the bytes actually read.

A refusal is an ``OSError`` whose ``strerror`` says what the path is ("a FIFO, not a regular
file"), so every caller that already turns an ``OSError`` into a warning naming the path
reports it without new code.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotRegularFile(OSError):
    """The path is a FIFO, device, socket...: refused before any byte is read."""


class FileTooLarge(OSError):
    """The file is over the reader's size limit: refused before it is read."""


def describe_mode(mode: int) -> str:
    """'a FIFO', 'a character device'...: what a non-regular file is, for messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular_message(mode: int) -> str:
    """The ``strerror`` of a refusal: '<kind>, not a regular file; not read'."""
    kind = describe_mode(mode)
    return f"{kind}, not a regular file; not read" if kind != "not a regular file" else "not a regular file; not read"


def open_fd(path: str, max_bytes: int | None = None) -> tuple[int, os.stat_result]:
    """(descriptor, its fstat) of a regular file; raises OSError (NotRegularFile, FileTooLarge...).

    ``max_bytes`` refuses a file whose size is over it (``FileTooLarge``). A directory raises
    ``IsADirectoryError``, as ``open()`` would.
    """
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
            raise NotRegularFile(errno.EINVAL, not_regular_message(st.st_mode), path)
        if max_bytes is not None and st.st_size > max_bytes:
            raise FileTooLarge(errno.EFBIG, f"larger than {max_bytes} bytes ({st.st_size}); not read", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_regular(path: str, max_bytes: int | None = None) -> BinaryIO:
    """``open(path, "rb")`` for regular files only (see ``open_fd``); use it as a context manager."""
    fd, _ = open_fd(path, max_bytes)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` (raises OSError otherwise).

    Reads at most ``max_bytes + 1`` bytes whatever the size says, so a file that grows while
    it is read, or a ``/proc`` file that says 0, cannot take more than the limit.
    """
    fd, st = open_fd(path, max_bytes)
    limit = max_bytes + 1
    chunks: list[bytes] = []
    got = 0
    try:
        while got < limit:
            want = min(limit - got, max(st.st_size + 1 - got, 64 * 1024))
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if st.st_size and len(chunk) < want:
                break  # a short read of a regular file: its end
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one chunk: no copy
    if len(data) > max_bytes:
        raise FileTooLarge(errno.EFBIG, f"larger than {max_bytes} bytes; not read", path)
    return data

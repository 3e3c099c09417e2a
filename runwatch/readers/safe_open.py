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

**Confinement.** A project registers its root (``confine_to``, done by the scan engine).
A run's file under a registered root is read only when the file actually opened (the
descriptor's own path, ``/proc/self/fd/N``, so no swap between a check and the open can
fool it) is inside that root too: a log that is a symbolic link to ``~/.ssh/id_rsa``, or
a run folder linked to ``/etc``, is refused with "a symbolic link leading outside the
project". Links that stay inside the project (Pylon's ``checkpoint_latest.pt``) are read.
A path with no link on it at all is opened in one call that refuses any link on the way
(``open_nolink``, Linux ``openat2``): the file opened is then the one the path names, and
the question to ``/proc`` is skipped (it was a third of a cold scan's cost per scores file).

**runwatch's own files** (its caches, stores and the collector's event log) are opened
with ``open_own`` / ``append_own``: never through a symbolic link (``O_NOFOLLOW`` on the
file, and on the folder it is in), created with mode 0600 only when missing.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any, BinaryIO

from runwatch.readers.open_nolink import open_nolink
from runwatch.state import STATE

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotRegularFile(OSError):
    """The path is a FIFO, device, socket...: refused before any byte is read."""


class FileTooLarge(OSError):
    """The file is over the reader's size limit: refused before it is read."""


# The words of an ``OutsideProject`` refusal (a result that holds them is not kept across processes:
# the link_targets setting may allow the link next time).
OUTSIDE_PROJECT = "a symbolic link leading outside the project"


class OutsideProject(OSError):
    """The path leads, through a symbolic link, outside the project it belongs to: refused unread."""


class LinkRefused(OSError):
    """One of runwatch's own files (or its folder) is a symbolic link: never read or written through."""


# Size limits per kind of file (bytes). A reader passes its kind's limit; decoders bound the rest.
LIMITS: dict[str, int] = {
    "json": 512 * 1024 * 1024,  # scores, progress.json (a 40 MB `aggregated` is real)
    "yaml": 4 * 1024 * 1024,  # hparams.yaml, config.yaml (a real one is a few KB)
    "csv": 256 * 1024 * 1024,  # metrics.csv (read incrementally)
    "config": 1024 * 1024,  # a Pylon config's source
    "launch": 4 * 1024 * 1024,  # a launch config copied into the work dir
    "events": 64 * 1024 * 1024,  # collector_events.json, collector-events.jsonl
    "own": 512 * 1024 * 1024,  # runwatch's caches and stores
    "settings": 1024 * 1024,  # runwatch.toml
}

# Registered project roots: the lexical absolute root -> the real folders its files may be in
# (the root itself, links resolved, and the folders its ``link_targets`` setting names).
_ROOTS: dict[str, tuple[str, ...]] = STATE.table("readers.safe_open.roots")


def confine_to(root: str, link_targets: tuple[str, ...] = ()) -> None:
    """Register a project root: files under it are read only when they really are inside it (or in ``link_targets``)."""
    a = os.path.abspath(root)
    allowed = (os.path.realpath(a), *(os.path.realpath(os.path.join(a, os.path.expanduser(t))) for t in link_targets))
    if _ROOTS.get(a) != allowed:
        if len(_ROOTS) > 256:
            _ROOTS.pop(next(iter(_ROOTS)))
        _ROOTS[a] = allowed


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


def root_of(path: str) -> str | None:
    """The registered root ``path`` lies under (lexically; the deepest one), or None."""
    if not _ROOTS:
        return None
    return _root_of_abs(path if os.path.isabs(path) else os.path.abspath(path))


def _root_of_abs(a: str) -> str | None:
    best = None
    for r in _ROOTS:
        # _within(a, r), inline: this runs for every file a scan reads
        if a.startswith(r) and (len(a) == len(r) or a[len(r)] == "/" or r.endswith("/")) and (best is None or len(r) > len(best)):
            best = r
    return best


def _real_path_of(fd: int, path: str) -> str:
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
    return real.removesuffix(" (deleted)")


def check_confined(fd: int, path: str) -> None:
    """Raise ``OutsideProject`` when the open ``fd`` is outside the registered root ``path`` is under."""
    root = root_of(path)
    if root is not None:
        _check_real(fd, path, os.path.abspath(path), root)


def _check_real(fd: int, path: str, a: str, root: str) -> None:
    """``check_confined`` once ``a`` (``path`` made absolute) and its ``root`` are known."""
    real = _real_path_of(fd, path)
    allowed = _ROOTS[root]
    if real == a and allowed[0] == root:
        return  # no link on the way: inside lexically, inside really
    if not any(_within(real, r) for r in allowed):
        raise OutsideProject(errno.EPERM, f"{OUTSIDE_PROJECT} (to {real}; see the link_targets setting); not read", path)


def _open_confined(path: str) -> int:
    """``os.open(path)``, refused (``OutsideProject``) when what it opened lies outside the path's registered root.

    A path already absolute and normal under a root that has no link in it is opened with
    no link allowed on the way (``open_nolink``): what is opened then is the file the path
    names, inside the root, and asking the kernel where the descriptor leads would only
    repeat that. A link on the way (or no ``openat2``) takes the general path: open, then
    check the descriptor's own path.
    """
    if not _ROOTS:
        return os.open(path, _FLAGS)
    # Certainly ``abspath(path) == path``: absolute, no empty, ``.`` or ``..`` component, no trailing
    # slash (a name that starts with a dot is left to abspath).
    normal = path[:1] == "/" and "//" not in path and "/." not in path and path[-1:] != "/"
    a = path if normal else os.path.abspath(path)
    root = _root_of_abs(a)
    if root is None:
        return os.open(path, _FLAGS)
    if normal and _ROOTS[root][0] == root:
        fd = open_nolink(path, _FLAGS)
        if fd is not None:
            return fd
    fd = os.open(path, _FLAGS)
    try:
        _check_real(fd, path, a, root)
    except BaseException:
        os.close(fd)
        raise
    return fd


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
    fd = _open_confined(path)
    try:
        return fd, _regular_fstat(fd, path, max_bytes)
    except BaseException:
        os.close(fd)
        raise


def _regular_fstat(fd: int, path: str, max_bytes: int | None = None) -> os.stat_result:
    """The fstat of ``fd``; OSError unless it is a regular file of at most ``max_bytes``."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, not_regular_message(st.st_mode), path)
        raise NotRegularFile(errno.EINVAL, not_regular_message(st.st_mode), path)
    if max_bytes is not None and st.st_size > max_bytes:
        raise FileTooLarge(errno.EFBIG, f"larger than {max_bytes} bytes ({st.st_size}); not read", path)
    return st


def _as_file(fd: int) -> BinaryIO:
    """The open descriptor as a binary file object (closed if that fails)."""
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_regular(path: str, max_bytes: int | None = None) -> BinaryIO:
    """``open(path, "rb")`` for regular files only (see ``open_fd``); use it as a context manager."""
    return _as_file(open_fd(path, max_bytes)[0])


def read_regular(path: str, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` (raises OSError otherwise).

    Reads at most ``max_bytes + 1`` bytes whatever the size says, so a file that grows while
    it is read, or a ``/proc`` file that says 0, cannot take more than the limit.
    """
    fd, st = open_fd(path, max_bytes)
    return _read_all(fd, st, path, max_bytes)


def _read_all(fd: int, st: os.stat_result, path: str, max_bytes: int) -> bytes:
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


def read_bounded(f: BinaryIO, max_bytes: int, path: str) -> bytes:
    """At most ``max_bytes`` of an open file from where it is; ``FileTooLarge`` past that."""
    data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(errno.EFBIG, f"larger than {max_bytes} bytes; not read", path)
    return data


def read_zip_member(archive: Any, name: str, max_bytes: int, path: str) -> bytes:
    """A member of an open ``zipfile.ZipFile`` (itself over ``open_regular``), inflated up to ``max_bytes``
    whatever its header declares; ``FileTooLarge`` past that (a zip bomb costs the cap, no more)."""
    with archive.open(name) as m:
        data: bytes = m.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(errno.EFBIG, f"{name} inflates past {max_bytes} bytes; not read", path)
    return data


# ---- runwatch's own files ------------------------------------------------------------------

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _own_dir_fd(path: str, create: bool = False) -> tuple[int, str]:
    """(descriptor of ``path``'s folder, opened without following a link, the file's name)."""
    directory, name = os.path.dirname(path) or ".", os.path.basename(path)
    if create:
        os.makedirs(directory, exist_ok=True)
    try:
        return os.open(directory, _DIR_FLAGS), name
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(directory):
            raise LinkRefused(errno.ELOOP, "runwatch's folder is a symbolic link; its own files are never used through a link", directory) from None
        raise


def _own_refusal(e: OSError, path: str) -> OSError:
    if e.errno == errno.ELOOP or (e.errno == errno.EMLINK and os.path.islink(path)):
        return LinkRefused(errno.ELOOP, "a symbolic link; runwatch's own files are never used through a link", path)
    return e


def open_own_fd(path: str, max_bytes: int | None = None) -> tuple[int, os.stat_result]:
    """(descriptor, fstat) of one of runwatch's own files for reading: no link, regular, bounded."""
    dfd, name = _own_dir_fd(path)
    try:
        fd = os.open(name, _FLAGS | _NOFOLLOW, dir_fd=dfd)
    except OSError as e:
        raise _own_refusal(e, path) from None
    finally:
        os.close(dfd)
    try:
        return fd, _regular_fstat(fd, path, max_bytes)
    except BaseException:
        os.close(fd)
        raise


def open_own(path: str, max_bytes: int | None = None) -> BinaryIO:
    """``open(path, "rb")`` for runwatch's own files (see ``open_own_fd``)."""
    return _as_file(open_own_fd(path, max_bytes)[0])


def read_own(path: str, max_bytes: int = LIMITS["own"]) -> bytes:
    """The whole content of one of runwatch's own files (no link, regular, at most ``max_bytes``)."""
    fd, st = open_own_fd(path, max_bytes)
    return _read_all(fd, st, path, max_bytes)


def append_own(path: str, data: bytes) -> None:
    """Append ``data`` in one write to one of runwatch's own files, made (mode 0600) if missing.

    Never through a link (the file's or its folder's), never into a FIFO or device.
    """
    dfd, name = _own_dir_fd(path, create=True)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0), 0o600, dir_fd=dfd)
    except OSError as e:
        raise _own_refusal(e, path) from None
    finally:
        os.close(dfd)
    try:
        _regular_fstat(fd, path)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def own_dir_fd(directory: str) -> int:
    """A descriptor of runwatch's own folder (made if missing), opened without following a link."""
    fd, _ = _own_dir_fd(os.path.join(directory, "x"), create=True)
    return fd

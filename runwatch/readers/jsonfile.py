"""Tolerant JSON reading and atomic JSON writing.

Runs write their JSON from background threads while we read, so a read can see an
empty, truncated or half-replaced file at any moment. Every reader here returns
``(value, problem)`` instead of raising, so one bad file becomes a warning on one
run instead of an exception that takes a whole scan down.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
from typing import Any

from runwatch.readers.safe_open import FileTooLarge, NotRegularFile, read_regular

# Files larger than this are not parsed whole for status purposes (a guard against
# a mistaken multi-GB file named like a scores file).
MAX_JSON_BYTES = 512 * 1024 * 1024


class JSONProblem(str):
    """A one-line description of why a JSON file could not be used (a str, for messages)."""


def _reject_constant(name: str) -> float:
    # NaN / Infinity appear in real scores (diverged runs); keep them as floats.
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def finite_number(v: Any) -> float | None:
    """A decoded JSON value as a finite number (``Infinity`` and ``NaN`` decode too), else None; a bool is no number."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def loads_tolerant(data: bytes | str, path: str = "<data>") -> tuple[Any, JSONProblem | None]:
    """Parse JSON text; on failure say why, naming the file."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            return None, JSONProblem(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")
    else:
        text = data
    if not text.strip():
        return None, JSONProblem(f"{path}: empty file (possibly being written)")
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except RecursionError:
        return None, JSONProblem(f"{path}: JSON nested too deeply")
    except ValueError as e:
        return None, JSONProblem(f"{path}: malformed or half-written JSON ({e})")


def open_problem(path: str, e: OSError, expected: str) -> JSONProblem:
    """What a file that could not be opened is, said the one way every JSON reader says it."""
    if isinstance(e, FileNotFoundError):
        return JSONProblem(f"{path}: missing")
    if isinstance(e, IsADirectoryError):
        return JSONProblem(f"{path}: is a directory, expected {expected}")
    if isinstance(e, NotRegularFile):
        return JSONProblem(f"{path}: {e.strerror}")
    return JSONProblem(f"{path}: unreadable ({e.strerror or e})")


def read_json_tolerant(path: str) -> tuple[Any, JSONProblem | None]:
    """Read and parse a JSON file; missing, unreadable, empty or malformed -> (None, problem)."""
    try:
        # Sized by fstat first: read(MAX_JSON_BYTES + 1) would allocate 512 MiB per call.
        data = read_regular(path, MAX_JSON_BYTES)
    except FileTooLarge:
        return None, JSONProblem(f"{path}: larger than {MAX_JSON_BYTES} bytes, not parsed")
    except OSError as e:
        return None, open_problem(path, e, "a JSON file")
    if len(data) > MAX_JSON_BYTES:
        return None, JSONProblem(f"{path}: larger than {MAX_JSON_BYTES} bytes, not parsed")
    return loads_tolerant(data, path)


def json_text(value: Any) -> str:
    """The text ``write_json_atomic`` writes for a value."""
    return json.dumps(value, indent=2, allow_nan=True) + "\n"


def write_json_atomic(path: str, value: Any, *, text: str | None = None, dir_fd: int | None = None, no_clobber: bool = False) -> bool:
    """Write JSON so that a concurrent reader sees the old file or the new one, never a mix.

    A temp file in the same dir then ``os.replace``: the earlier implementation
    truncated in place and readers saw ``Expecting value: line 1 column 1``.
    With ``dir_fd``, ``path`` is a plain name in that open directory: the write lands in
    exactly the directory the caller checked, even if its path now names another one.
    With ``no_clobber`` the file is only created, never replaced (a hard link of the
    temp file, which fails if the name exists): False when someone else's file is there.
    Raises OSError (read-only dir, disk full); callers turn that into a warning.
    """
    if dir_fd is not None:
        directory, base = "", path
    else:
        directory, base = os.path.dirname(path) or ".", os.path.basename(path)
    if text is None:  # callers that compared the text already pass it
        text = json_text(value)
    # A name unique to this process and thread (O_EXCL guards the rest): cheaper than mkstemp.
    # ``is_own_temp_name`` recognises exactly these names (and mkstemp's fallback below).
    tmp_name = f".{base}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp = tmp_name if dir_fd is not None else os.path.join(directory, tmp_name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    except FileExistsError:
        if dir_fd is not None:
            tmp = f".{base}.{os.urandom(4).hex()}.tmp"  # 8 chars, like mkstemp's
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
        else:
            fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
    try:
        try:
            data = text.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        if no_clobber:
            try:
                os.link(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp, dir_fd=dir_fd)
            return True
        os.replace(tmp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


_OWN_TEMP = re.compile(r"^\.(?:progress\.json|progress\.runwatch\.json)\.(?:\d+\.\d+|[A-Za-z0-9_]{8})\.tmp$")


def is_own_temp_name(name: str) -> bool:
    """Whether ``name`` is a temp file runwatch's own progress.json writes create (see ``write_json_atomic``).

    Exactly that pattern: a leftover of a writer killed mid-write, never anyone else's file.
    """
    return _OWN_TEMP.match(name) is not None

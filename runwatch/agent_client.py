"""Asking the running agent: a one-shot ``runwatch status`` answered by ``runwatch serve`` in milliseconds.

When ``runwatch serve`` watches a project on this machine it keeps every run current; a
one-shot command (``status``, ``show``, ``runwatch.status_records``) asks it over a local
Unix socket instead of scanning again. Both sides find the socket from the project root alone:

- ``$XDG_RUNTIME_DIR/runwatch/<digest>.sock`` where that dir exists (the user's own, mode
  0700 by the system), else ``$TMPDIR/runwatch-<uid>/<digest>.sock`` (``/tmp`` without
  ``TMPDIR``); ``<digest>`` names the project root;
- the socket is created mode 0600 in a dir of mode 0700 owned by the user, and each side
  checks the other's user id through the kernel (``SO_PEERCRED``): another user can neither
  ask nor answer; nothing goes over a network;
- the request names the project root and its settings: a digest of them (``ask``), or the
  settings file's very bytes (the console script, which does not parse them: see
  ``print_answer``); the agent answers only for the same project with the same settings
  (a client with other settings, or options that change what a scan decides, scans itself);
- the answer carries the agent's sequence number and the time of its last change; the
  agent brings every run up to date before answering (see ``live/agent_socket.py``), so
  the answer is what a scan made at that moment would say.

The console script's way (``print_answer``) hands the agent its standard output with the
request (``SCM_RIGHTS``): the agent writes the bytes to print there itself, once, and
then tells the client how it went; a document of megabytes is not copied through the
socket and the client. Everything else reads the payload from the socket (``ask``).

No agent, a refused connection, a wrong user, any error or a slow answer: the caller scans
as it would have (``ask`` returns None). ``RUNWATCH_NO_AGENT=1`` turns asking off.

Light on purpose: ``os``, ``json`` and the C socket module (``socket``'s enums cost milliseconds):
the console script imports this before anything else.
"""

from __future__ import annotations

import _socket
import json
import os
import struct
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the console script's path stays light)
if TYPE_CHECKING:
    from typing import Any

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the builtin module
    from hashlib import blake2b

PROTOCOL = 2
MAX_SUN_PATH = 100  # sockaddr_un holds 108 bytes; leave room
MAX_REQUEST = 1 << 16
MAX_SETTINGS = 1 << 20  # runwatch.settings_source.MAX_SETTINGS_BYTES
_UCRED = struct.Struct("3i")  # pid, uid, gid


def _digest(text: str) -> str:
    return blake2b(text.encode(), digest_size=10).hexdigest()


def settings_digest(settings: Any) -> str:
    """A digest of every setting (a frozen dataclass's repr lists them all, in order)."""
    return _digest(repr(settings))


def socket_path(root: str) -> str:
    """Where the agent of the project at ``root`` listens."""
    name = _digest(os.path.realpath(root)) + ".sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "runwatch", name)
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", f"runwatch-{os.getuid()}", name)


def peer_uid(sock: Any) -> int | None:
    """The user id of the process at the other end of a Unix socket (from the kernel), or None."""
    try:
        data = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):
        return None
    return _UCRED.unpack(data)[1]


# Environment variables that decide how rich draws a table (colours, width).
CONSOLE_ENV = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def terminal() -> dict[str, Any]:
    """What the agent needs to draw a table as this process would: a terminal or not, its width, rich's variables."""
    tty = sys.stdout.isatty()
    width: int | None = _terminal_columns() if tty else None if os.environ.get("COLUMNS") else 200
    return {"tty": tty, "width": width, "env": {k: os.environ[k] for k in CONSOLE_ENV if k in os.environ}}


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` (without importing shutil)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Reader:
    """Reads a header line, then an exact number of bytes, from a stream socket."""

    def __init__(self, sock: Any, buf: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(buf)

    def line(self, limit: int) -> bytes | None:
        """Bytes up to a newline (not included), at most ``limit``; None when the peer closed or sent too much."""
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                out = bytes(self.buf[:nl])
                del self.buf[: nl + 1]
                return out
            if len(self.buf) > limit:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def exact(self, n: int) -> bytes | None:
        parts = [bytes(self.buf[:n])]
        got = len(parts[0])
        del self.buf[:n]
        while got < n:
            chunk = self.sock.recv(min(1 << 20, n - got))
            if not chunk:
                return None
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


class Answer:
    """An open answer: the agent's header (``ok``, ``length``, ...) and the connection its payload is read from."""

    def __init__(self, sock: Any, reader: Reader, header: dict[str, Any]) -> None:
        self.sock, self.reader, self.header = sock, reader, header
        self.length: int = header["length"]

    def payload(self) -> bytes | None:
        """The whole payload, or None when the connection broke off."""
        try:
            return self.reader.exact(self.length)
        except OSError:
            return None
        finally:
            self.sock.close()


def _connect(root: str) -> Any:
    """A connection to the agent of ``root`` that runs as this user, or None (no agent: one stat)."""
    if os.environ.get("RUNWATCH_NO_AGENT"):
        return None
    path = socket_path(root)
    try:
        os.stat(path)
    except OSError:
        return None  # the common case: no agent
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        sock.connect(path)
        if peer_uid(sock) == os.getuid():
            return sock
    except OSError:
        pass
    sock.close()  # not our own process: never trust (or tell) it anything
    return None


def _header(reader: Reader, want_root: str) -> dict[str, Any] | None:
    line = reader.line(MAX_REQUEST)
    header = json.loads(line) if line is not None else None
    if not isinstance(header, dict) or not header.get("ok") or header.get("root") != want_root:
        return None
    length = header.get("length")
    if not isinstance(length, int) or length < 0:
        return None
    return header


def open_answer(root: str, settings: Any, request: dict[str, Any], answer_timeout: float = 60.0) -> Answer | None:
    """The agent's answer to ``request`` with its header read, or None: no agent, another project or settings, any failure.

    ``answer_timeout`` bounds the wait for the answer once the agent took the request (it catches
    its index up and may draw a table of thousands of rows: a scan here would take longer still).
    The caller reads the payload (``payload``), which closes the connection."""
    sock = _connect(root)
    if sock is None:
        return None
    try:
        want_root, want_settings = os.path.realpath(root), settings_digest(settings)
        body = dict(request, protocol=PROTOCOL, root=want_root, settings=want_settings)
        sock.sendall(json.dumps(body).encode() + b"\n")
        sock.settimeout(answer_timeout)
        reader = Reader(sock)
        header = _header(reader, want_root)
        if header is None or header.get("settings") != want_settings:
            sock.close()
            return None
        return Answer(sock, reader, header)
    except (OSError, ValueError):
        sock.close()
        return None


def ask(root: str, settings: Any, request: dict[str, Any], answer_timeout: float = 60.0) -> tuple[dict[str, Any], bytes] | None:
    """The agent's (header, payload) for ``request``, or None: no agent, another project or settings, any failure."""
    answer = open_answer(root, settings, request, answer_timeout)
    if answer is None:
        return None
    payload = answer.payload()
    return None if payload is None else (answer.header, payload)


class BrokeOff(Exception):
    """The agent took the request, then stopped before it said it had written everything."""


def print_answer(root: str, settings_file: tuple[str, bytes] | None, request: dict[str, Any], fd: int, answer_timeout: float = 60.0) -> int | None:
    """Have the agent of ``root`` write its answer to ``request`` to the file descriptor ``fd``
    (the caller's standard output) and return the command's exit code; None when it did not answer
    (nothing was written: the caller runs the command itself).

    ``settings_file`` is the project's settings file (its name in the root, its bytes), or None
    when it has none: the agent answers only when its own settings are what those bytes make.
    Raises BrokenPipeError when the reader of ``fd`` went away, BrokeOff when the agent stopped
    part way (part of the answer may have been written)."""
    sock = _connect(root)
    if sock is None:
        return None
    try:
        return _print_answer(sock, root, settings_file, request, fd, answer_timeout)
    finally:
        sock.close()


def _print_answer(sock: Any, root: str, settings_file: tuple[str, bytes] | None, request: dict[str, Any], fd: int, answer_timeout: float) -> int | None:
    try:
        want_root = os.path.realpath(root)
        name, data = settings_file if settings_file is not None else (None, b"")
        body = dict(request, protocol=PROTOCOL, root=want_root, settings_file=name, settings_length=len(data), reply="fd")
        msg = json.dumps(body).encode() + b"\n" + data
        sent = sock.sendmsg([msg], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))])
        if sent < len(msg):
            sock.sendall(msg[sent:])
        sock.settimeout(answer_timeout)
        reader = Reader(sock)
        header = _header(reader, want_root)
        if header is None or header.get("reply") != "fd":
            return None
    except (OSError, ValueError):
        return None
    # From here the agent writes to fd: there is no going back to the CLI (it would print twice).
    try:
        sock.settimeout(None)  # as long as the reader of fd takes (a pager): the agent is there while the socket is
        line = reader.line(MAX_REQUEST)
        done = json.loads(line) if line is not None else None
    except (OSError, ValueError):
        done = None
    if not isinstance(done, dict) or done.get("written") != header["length"]:
        if isinstance(done, dict) and done.get("error") == "EPIPE":
            raise BrokenPipeError(fd, "the reader of the answer went away")
        raise BrokeOff(done.get("error") if isinstance(done, dict) else "no word from the agent")
    code = header.get("exit_code", 0)
    return code if isinstance(code, int) else 0

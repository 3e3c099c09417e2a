"""Asking the running agent: a one-shot ``runwatch status`` answered by ``runwatch serve`` in milliseconds.

When ``runwatch serve`` watches a project on this machine it keeps every run current; a
one-shot command (``status``, ``show``, ``runwatch.agent_records``) asks it over a local
Unix socket instead of scanning again. Both sides find the socket from the project alone:

- ``$XDG_RUNTIME_DIR/runwatch/<digest>.sock`` where that dir exists (the user's own, mode
  0700 by the system), else ``<cache dir>/agent.sock``, else (a path too long for a Unix
  socket) ``$TMPDIR/runwatch-<uid>/<digest>.sock``; ``<digest>`` names the project root;
- the socket is created mode 0600 in a dir of mode 0700, and each side checks the other's
  user id through the kernel (``SO_PEERCRED``): another user can neither ask nor answer;
  nothing goes over a network;
- the request names the project root and a digest of its settings; the agent answers only
  for the same project with the same settings (a client with other settings, or options
  that change what a scan decides, scans itself);
- the answer carries the agent's sequence number and the time of its last change; the
  agent brings every run up to date before answering (see ``live/agent_socket.py``), so
  the answer is what a scan made at that moment would say.

No agent, a refused connection, a wrong user, any error or a slow answer: the caller scans
as it would have (``ask`` returns None). ``RUNWATCH_NO_AGENT=1`` turns asking off.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import tempfile
from typing import Any

PROTOCOL = 1
MAX_SUN_PATH = 100  # sockaddr_un holds 108 bytes; leave room
MAX_REQUEST = 1 << 16
_UCRED = struct.Struct("3i")  # pid, uid, gid


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def settings_digest(settings: Any) -> str:
    """A digest of every setting (a frozen dataclass's repr lists them all, in order)."""
    return _digest(repr(settings))


def socket_path(root: str, cache_dir: str) -> str:
    """Where the agent of the project at ``root`` listens (``cache_dir``: its resolved cache dir)."""
    name = _digest(os.path.realpath(root)) + ".sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "runwatch", name)
    own = os.path.join(cache_dir, "agent.sock")
    if len(os.fsencode(own)) <= MAX_SUN_PATH:
        return own
    return os.path.join(tempfile.gettempdir(), f"runwatch-{os.getuid()}", name)


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (from the kernel), or None."""
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):
        return None
    return _UCRED.unpack(data)[1]


class Reader:
    """Reads a header line, then an exact number of bytes, from a stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

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

    def __init__(self, sock: socket.socket, reader: Reader, header: dict[str, Any]) -> None:
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

    def copy_to(self, fd: int) -> bool:
        """Write the payload to ``fd`` as it arrives (no second copy of a document of megabytes); False when
        the connection broke off (part of it may have been written). An error writing ``fd`` is raised."""
        try:
            left = self.length
            first = bytes(self.reader.buf[:left])
            del self.reader.buf[:left]
            left -= len(first)
            _write_all(fd, memoryview(first))
            buf = bytearray(1 << 20)
            while left > 0:
                try:
                    n = self.sock.recv_into(buf, min(len(buf), left))
                except OSError:
                    return False
                if not n:
                    return False
                left -= n
                _write_all(fd, memoryview(buf)[:n])
            return True
        finally:
            self.sock.close()


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def open_answer(root: str, cache_dir: str, settings: Any, request: dict[str, Any], timeout: float = 2.0, answer_timeout: float = 60.0) -> Answer | None:
    """The agent's answer to ``request`` with its header read, or None: no agent, another project or settings, any failure.

    ``timeout`` bounds the connection; ``answer_timeout`` the wait for the answer once the agent took
    the request (it catches its index up and may draw a table of thousands of rows: a scan here would
    take longer still). The caller reads the payload (``payload`` or ``copy_to``), which closes the connection."""
    if os.environ.get("RUNWATCH_NO_AGENT"):
        return None
    path = socket_path(root, cache_dir)
    try:
        os.stat(path)
    except OSError:
        return None  # the common case: no agent (one stat)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        if peer_uid(sock) != os.getuid():
            sock.close()
            return None  # not our own process: never trust (or tell) it anything
        want_root, want_settings = os.path.realpath(root), settings_digest(settings)
        body = dict(request, protocol=PROTOCOL, root=want_root, settings=want_settings)
        sock.sendall(json.dumps(body).encode() + b"\n")
        sock.settimeout(answer_timeout)
        reader = Reader(sock)
        line = reader.line(MAX_REQUEST)
        header = json.loads(line) if line is not None else None
        if not isinstance(header, dict) or not header.get("ok") or header.get("root") != want_root or header.get("settings") != want_settings:
            sock.close()
            return None
        length = header.get("length")
        if not isinstance(length, int) or length < 0:
            sock.close()
            return None
        return Answer(sock, reader, header)
    except (OSError, ValueError):
        sock.close()
        return None


def ask(
    root: str, cache_dir: str, settings: Any, request: dict[str, Any], timeout: float = 2.0, answer_timeout: float = 60.0
) -> tuple[dict[str, Any], bytes] | None:
    """The agent's (header, payload) for ``request``, or None: no agent, another project or settings, any failure."""
    answer = open_answer(root, cache_dir, settings, request, timeout, answer_timeout)
    if answer is None:
        return None
    payload = answer.payload()
    return None if payload is None else (answer.header, payload)

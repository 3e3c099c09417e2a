"""The agent's local socket: one-shot ``runwatch status`` / ``show`` answered from the live index.

``runwatch serve`` (and ``notify``) keep every run of a project current. This module lets a
one-shot command on the same machine ask them instead of scanning (the client side and the
socket's place and permissions: ``runwatch/agent_client.py``). One request per connection:
a JSON line naming the project, its settings' digest and what to print; the answer is a
JSON header line (``seq``, ``last_event``, ``verified_at``, the payload's length, an exit
code) and the payload, the very bytes the command would have printed.

Never a stale answer: before each answer the agent brings the index up to date as a scan
made at that moment would see the runs (``catch_up``):

- the changes the serving process's file watcher has seen and not yet applied are applied;
- the kernel's change events are read (one ``read``); every run whose fingerprint is not
  armed and quiet (an event in its dirs, no kernel watch) is evaluated again, each a few
  stats; an armed, quiet run cannot have changed; a run never launched is evaluated (a
  stat) unless the watcher has a kernel watch on the folder its work dir would appear in;
- every run whose decision falls due by the clock (its silence limit, ``outdated_days``)
  is evaluated again;
- a local process that exited or stopped since the last snapshot brings a new snapshot
  (the other sources, SSH and Slurm, are asked at the sweep interval as ever: the
  header's ``processes_at`` says when);
- the configs folder (and the folders holding other layouts' runs) has kernel watches of
  its own: a config added, edited or removed is read again before the answer. Where those
  cannot be set (a network file system), the agent does not answer and the client scans.

The answer is built by the surface that asks (``answer``, given by the CLI), and kept for
the same request while the index's sequence number is unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import select
import socket
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

from runwatch.agent_client import MAX_REQUEST, MAX_SETTINGS, PROTOCOL, Reader, peer_uid, settings_digest, socket_path
from runwatch.live.index import LiveIndex
from runwatch.progress_tracking.change_notify import NOTIFIER
from runwatch.run_status.verdict_memo import kept_now, unsettled
from runwatch.settings_source import SETTINGS_FILE
from runwatch.state import STATE

_log = logging.getLogger("runwatch")

# Socket path -> the agent socket listening there, in this process.
AGENTS: dict[str, AgentSocket] = STATE.table("live.agent_socket.agents")

# Request fields about the connection, not the question.
_TRANSPORT = frozenset(("protocol", "root", "settings", "settings_file", "settings_length", "reply"))

Answer = Callable[[LiveIndex, dict[str, Any]], tuple[dict[str, Any], bytes]]


class _Watched:
    """What the notifier needs of a watcher (a fingerprint's notification fields), for the configs folder."""

    __slots__ = ("work_dir", "notify_dirty", "notify_slot")

    def __init__(self, path: str) -> None:
        self.work_dir = path
        self.notify_dirty = True
        self.notify_slot = 0


class StructureWatch:
    """Kernel watches on the folders whose entries make the list of runs: configs/, other layouts' run parents."""

    def __init__(self, index: LiveIndex) -> None:
        self.index = index
        self.watched = _Watched(index.project.configs_root)
        self.generation = 0
        self.rechecked = 0  # runs the last catch-up evaluated again (the rest: kernel watches quiet, decision not due)
        # After a catch-up that found every run settled: (what would show a change, every run's kept decision,
        # the earliest time one falls due). Until one of those moves, the next catch-up finds the same.
        self.quiet: tuple[tuple[Any, ...], list[Any], float] | None = None

    def dirs(self) -> list[str]:
        project = self.index.project
        out = []
        croot = project.configs_root
        if os.path.isdir(croot):
            out.append(croot)
            for dirpath, dirnames, _ in os.walk(croot):
                dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
                out.extend(os.path.join(dirpath, d) for d in dirnames)
        parents = {os.path.dirname(e.config) for e in self.index.entries.values() if not e.config.endswith(".py")}
        out.extend(sorted(parents))
        return out

    def arm(self) -> bool:
        """Watch every dir again; False when they cannot be watched (not a local file system, no budget)."""
        dirs = self.dirs()
        if not dirs:
            return False
        try:
            st_dev = os.stat(dirs[0]).st_dev
        except OSError:
            return False
        if not NOTIFIER.usable_for(st_dev):
            return False
        self.watched.notify_dirty = False
        generation = NOTIFIER.generation
        if not NOTIFIER.arm(self.watched, dirs):
            self.watched.notify_dirty = True
            return False
        self.generation = generation
        return True

    def changed(self) -> bool:
        """Whether anything under the watched dirs changed since they were armed (after a ``drain``)."""
        return self.watched.notify_dirty or self.generation != NOTIFIER.generation


def catch_up(index: LiveIndex, structure: StructureWatch) -> bool:
    """Bring the index up to date with the disk, the clock and local processes; False when it cannot be vouched for."""
    watcher = index.watcher
    if watcher is not None:
        watcher.catch_up()  # the changes its kernel watches saw that it has not applied yet
    NOTIFIER.drain()
    if structure.changed():
        if not structure.arm():  # before the rescan: a change from now on raises an event
            return False
        index.apply_changes([index.project.configs_root, *sorted({os.path.dirname(e.config) for e in index.entries.values() if not e.config.endswith(".py")})])
        NOTIFIER.drain()
    if index.local_process_changed():
        index.sweep(full=False)
    engine = index.engine
    now = index.clock()
    tree = getattr(watcher, "tree", None)
    # Settled last time, and since then: no kernel event read, no watch removed or lost, no run evaluated
    # (each evaluation keeps a new decision) or added or removed, no decision fallen due. Then every run
    # is still settled, and the per-run pass below (tens of milliseconds at 10,000 runs) is not needed.
    moved = (NOTIFIER.generation, NOTIFIER.changes, index.seq, len(index), id(tree), getattr(tree, "listening", None), getattr(tree, "generation", None))
    kept = kept_now(engine)
    quiet, structure.quiet = structure.quiet, None
    if quiet is not None and quiet[0] == moved and now < quiet[2] and quiet[1] == kept:
        structure.quiet = quiet
        structure.rechecked = 0
        return True
    with index._lock:
        known = {e.rel: e.config for e in index.entries.values()}
    # A run never launched is looked at (a stat) unless the folder its work dir would appear in is watched.
    stale = set(unsettled(engine, known.values(), now, NOTIFIER.generation, tree.covers if tree is not None else None))
    structure.rechecked = len(stale)
    if stale:
        index.reevaluate({rel: key for rel, key in known.items() if key in stale})
    else:
        structure.quiet = (moved, kept, min((k.due for k in kept), default=math.inf))
    return True


class AgentSocket:
    """Listens on the project's agent socket in a thread; ``close()`` removes it."""

    def __init__(self, index: LiveIndex, answer: Answer) -> None:
        self.index = index
        self.answer = answer
        project = index.project
        self.root = os.path.realpath(project.root)
        self.settings = settings_digest(project.settings)
        self.path = socket_path(project.root)
        self._settings_files: dict[tuple[str | None, bytes], bool] = {}  # (settings file, its bytes) -> whether they make ours
        self.structure = StructureWatch(index)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._answer_lock = threading.Lock()
        self._inode = 0
        self._warm = False
        self.served = 0

    def start(self) -> bool:
        """Bind and listen; False (and a debug line) when the socket cannot be made: the agent then serves without it."""
        try:
            self._sock = self._bind()
        except OSError as e:
            _log.debug("agent socket %s: %s", self.path, e)
            return False
        self.structure.arm()
        AGENTS[self.path] = self
        self._thread = threading.Thread(target=self._serve, name="runwatch-agent-socket", daemon=True)
        self._thread.start()
        return True

    def _bind(self) -> socket.socket:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise OSError(f"{folder}: not a folder of this user")
        if st.st_mode & 0o077:
            os.chmod(folder, 0o700)
        with contextlib.suppress(FileNotFoundError):
            old = os.lstat(self.path)
            if not stat.S_ISSOCK(old.st_mode):
                raise OSError(f"{self.path}: exists and is not a socket")
            if _alive(self.path):
                raise OSError(f"{self.path}: another agent already listens there")
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is made mode 0600: no window where others may connect
        try:
            sock.bind(self.path)
        finally:
            os.umask(old_mask)
        self._inode = os.lstat(self.path).st_ino  # close() removes the socket only while it is still this one
        sock.listen(16)
        sock.settimeout(0.5)
        return sock

    def close(self) -> None:
        self._stop.set()
        if AGENTS.get(self.path) is self:
            AGENTS.pop(self.path, None)
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                st = os.lstat(self.path)
                if stat.S_ISSOCK(st.st_mode) and st.st_ino == self._inode:
                    os.unlink(self.path)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _serve(self) -> None:
        while not self._stop.is_set():
            sock = self._sock
            if sock is None:
                return
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                self._warm_up()
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), name="runwatch-agent-answer", daemon=True).start()

    def _warm_up(self) -> None:
        """Once the first scan is done: check every run twice, so that each gets its kernel watches
        (a run is armed on its third look) and the first question finds them quiet."""
        index = self.index
        if self._warm or index.scanning or (index.seq == 0 and len(index) == 0):
            return
        with self._answer_lock:
            for _ in range(2):
                if not catch_up(index, self.structure):
                    break
        self._warm = True

    def _handle(self, conn: socket.socket) -> None:
        fds: list[int] = []
        with conn:
            try:
                conn.settimeout(30.0)
                if peer_uid(conn) != os.getuid():
                    return  # another user: not a word
                first, fds, _, _ = socket.recv_fds(conn, 65536, 1)  # the client's stdout, when it asks the agent to write there
                reader = Reader(conn, first)
                line = reader.line(MAX_REQUEST)
                if line is None:
                    return
                request = json.loads(line)
                if isinstance(request, dict) and "settings_file" in request:
                    length = request.get("settings_length")
                    data = reader.exact(length) if isinstance(length, int) and 0 <= length <= MAX_SETTINGS else None
                    if data is None:
                        return
                    request["settings"] = self.settings if self._same_settings(request.get("settings_file"), data) else "other"
                to_fd = isinstance(request, dict) and request.get("reply") == "fd"
                if to_fd and len(fds) != 1:
                    return
                header, payload = self._respond(request)
                header["length"] = len(payload)
                if to_fd and header["ok"]:
                    header["reply"] = "fd"
                    conn.sendall(json.dumps(header).encode() + b"\n")
                    written, error = _write_fd(fds[0], payload, conn)
                    conn.sendall(json.dumps({"written": written, "error": error}).encode() + b"\n")
                    return
                conn.sendall(json.dumps(header).encode() + b"\n")
                conn.sendall(payload)
            except (OSError, ValueError) as e:
                _log.debug("agent socket: %s", e)
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _same_settings(self, name: Any, data: bytes) -> bool:
        """Whether the settings file ``name`` in the root holding ``data`` makes this agent's settings (kept per bytes)."""
        if name not in (None, SETTINGS_FILE, "pyproject.toml"):  # the two files runwatch.settings_source looks for
            return False
        key = (name, data)
        same = self._settings_files.get(key)
        if same is None:
            from runwatch.settings import SettingsError, settings_from_bytes

            try:
                theirs = settings_from_bytes(None if name is None else os.path.join(self.root, name), data)
                same = settings_digest(theirs) == self.settings
            except SettingsError:
                same = False
            if len(self._settings_files) > 16:
                self._settings_files.clear()
            self._settings_files[key] = same
        return same

    def _respond(self, request: Any) -> tuple[dict[str, Any], bytes]:
        head: dict[str, Any] = {"ok": False, "root": self.root, "settings": self.settings, "protocol": PROTOCOL}
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            return dict(head, why="protocol"), b""
        if request.get("root") != self.root or request.get("settings") != self.settings:
            return dict(head, why="another project or other settings"), b""
        index = self.index
        if index.scanning or (index.seq == 0 and len(index) == 0):
            return dict(head, why="the first scan is not done"), b""
        with self._answer_lock:  # one answer at a time: they share the index's caches
            t0 = time.perf_counter()
            if not catch_up(index, self.structure):
                return dict(head, why="the project's folders cannot be watched here"), b""
            verified = time.time()
            t1 = time.perf_counter()
            try:
                # What to print depends on the question, not on how it came (the same bytes for every client).
                extra, payload = self.answer(index, {k: v for k, v in request.items() if k not in _TRANSPORT})
            except Exception as e:  # an answer that cannot be made: the client scans
                _log.warning("agent socket: cannot answer %s: %s", request.get("command"), e)
                return dict(head, why=f"{type(e).__name__}: {e}"), b""
        self.served += 1
        return dict(
            head,
            ok=True,
            seq=index.seq,
            last_event=index.updated_at,
            verified_at=verified,
            rechecked=self.structure.rechecked,
            catch_up_s=round(t1 - t0, 6),  # how long bringing the index up to date took, and making the bytes
            answer_s=round(time.perf_counter() - t1, 6),
            processes_at=getattr(index.snapshot, "taken_at", None),
            **extra,
        ), payload


def _write_fd(fd: int, payload: bytes, conn: socket.socket) -> tuple[int, str | None]:
    """Write ``payload`` to the client's ``fd`` (its stdout: a file, a pipe, a terminal); (bytes written, None or what
    went wrong). A non-blocking ``fd`` is waited on while the client is still connected."""
    view = memoryview(payload)
    done = 0
    while done < len(view):
        try:
            done += os.write(fd, view[done:])
        except BlockingIOError:
            ready = select.poll()
            ready.register(fd, select.POLLOUT)
            ready.register(conn.fileno(), select.POLLIN)
            events = dict(ready.poll(30_000))
            if conn.fileno() in events:
                return done, "the client went away"
        except BrokenPipeError:
            return done, "EPIPE"
        except InterruptedError:
            continue
        except OSError as e:
            return done, errno.errorcode.get(e.errno or 0, str(e))
    return done, None


def _alive(path: str) -> bool:
    """Whether something listens on the Unix socket at ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.5)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()

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
import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

from runwatch.agent_client import MAX_REQUEST, PROTOCOL, Reader, peer_uid, settings_digest, socket_path
from runwatch.live.index import LiveIndex
from runwatch.progress_tracking.change_notify import NOTIFIER
from runwatch.run_status.verdict_memo import unsettled
from runwatch.state import STATE

_log = logging.getLogger("runwatch")

# Socket path -> the agent socket listening there, in this process.
AGENTS: dict[str, AgentSocket] = STATE.table("live.agent_socket.agents")

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
    with index._lock:
        known = {e.rel: e.config for e in index.entries.values()}
    tree = getattr(watcher, "tree", None)
    # A run never launched is looked at (a stat) unless the folder its work dir would appear in is watched.
    stale = set(unsettled(engine, known.values(), now, NOTIFIER.generation, tree.covers if tree is not None else None))
    structure.rechecked = len(stale)
    if stale:
        index.reevaluate({rel: key for rel, key in known.items() if key in stale})
    return True


class AgentSocket:
    """Listens on the project's agent socket in a thread; ``close()`` removes it."""

    def __init__(self, index: LiveIndex, answer: Answer) -> None:
        self.index = index
        self.answer = answer
        project = index.project
        self.root = os.path.realpath(project.root)
        self.settings = settings_digest(project.settings)
        self.path = socket_path(project.root, str(project.settings.resolve_cache_dir(project.root)))
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
        if st.st_mode & 0o077 and os.path.basename(self.path) != "agent.sock":
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
        with conn:
            try:
                conn.settimeout(30.0)
                if peer_uid(conn) != os.getuid():
                    return  # another user: not a word
                line = Reader(conn).line(MAX_REQUEST)
                if line is None:
                    return
                request = json.loads(line)
                header, payload = self._respond(request)
                header["length"] = len(payload)
                conn.sendall(json.dumps(header).encode() + b"\n" + payload)
            except (OSError, ValueError) as e:
                _log.debug("agent socket: %s", e)

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
            if not catch_up(index, self.structure):
                return dict(head, why="the project's folders cannot be watched here"), b""
            verified = time.time()
            try:
                extra, payload = self.answer(index, request)
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
            processes_at=getattr(index.snapshot, "taken_at", None),
            **extra,
        ), payload


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

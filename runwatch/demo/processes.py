"""The demo's writer processes, each in its own process group, all stopped on exit.

Each run is launched as Pylon launches it (``python main.py --config-filepath
./configs/<rel>.py`` from the project root) so the local process source sees real
processes. A process group per run lets ``stop`` kill a run and anything it
started; the runs also watch their parent PID, so a demo killed with SIGKILL still
leaves nothing behind for long.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time


class WriterProcesses:
    """Start and stop the demo's run processes."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()  # the demo's director starts runs from its own thread
        self._stop_lock = threading.Lock()
        self._stopped = False

    def start(self, rel: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, RUNWATCH_DEMO_PARENT=str(os.getpid()), PYTHONDONTWRITEBYTECODE="1")
        # Like a launcher's tmux pane: the run's stdout and stderr (where Pylon's tracebacks go).
        out_path = os.path.join(self.root, "demo_output", *rel.split("/")) + ".out"
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        with open(out_path, "ab") as out:
            p = subprocess.Popen(
                [sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # its own group: Ctrl-C reaches the demo only, which then stops them all
            )
        self.procs[rel] = p
        return p

    def start_run(self, rel: str) -> subprocess.Popen[bytes] | None:
        """``start`` from another thread (the demo's director); None once ``stop`` has begun."""
        with self._lock:
            if self._stopped:  # stopping: nothing new may outlive the demo
                return None
            return self.start(rel)

    def kill(self, rel: str, timeout: float = 3.0) -> None:
        """Stop one run (and its group): SIGTERM, then SIGKILL."""
        with self._lock:
            p = self.procs.get(rel)
        if p is None or p.poll() is not None:
            return
        _killpg(p.pid, signal.SIGTERM)  # not reaped yet (poll() is None): its group id is still its own
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            _killpg(p.pid, signal.SIGKILL)
            p.wait(2.0)

    def start_all(self, rels: list[str]) -> None:
        for rel in rels:
            self.start(rel)

    def alive(self) -> list[str]:
        with self._lock:
            procs = list(self.procs.items())
        return [rel for rel, p in procs if p.poll() is None]

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM every group, wait, then SIGKILL whatever is left; reap all.

        Safe to call from two threads at once (a signal's and the demo's ``finally``): the
        second waits for the first. Only processes not yet reaped are signalled, so a
        process group id the system has reused is never touched.
        """
        with self._stop_lock:
            with self._lock:
                self._stopped = True
                procs = [p for p in self.procs.values() if p.returncode is None]
            live = [p for p in procs if p.poll() is None]
            for p in live:
                _killpg(p.pid, signal.SIGTERM)
            deadline = time.time() + timeout
            for p in live:
                try:
                    p.wait(max(0.0, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
            for p in live:
                if p.poll() is None:
                    _killpg(p.pid, signal.SIGKILL)
                    try:
                        p.wait(2.0)
                    except subprocess.TimeoutExpired:
                        pass
            with self._lock:
                self.procs.clear()


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass

"""Process sources under failure: SSH servers that hang, refuse or drop; squeue missing,
failing or hanging; a PID reused by another process. A source that cannot be asked
must be reported (so a quiet run reads "may be stuck", not "failed"), within its time
limit, and never taken for "no process".
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from runwatch import Project, get_all_run_status
from runwatch.processes import LocalSource, SlurmSource, SystemMonitor

from .helpers import pick, small_tree


class FakeServer:
    """A TCP listener on 127.0.0.1 that does one bad thing with every connection."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.behaviour == "hang":
                self.conns.append(c)  # accept, never speak, never close
            elif self.behaviour == "drop_after_banner":
                try:
                    c.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
                    c.recv(100)
                except OSError:
                    pass
                c.close()
            elif self.behaviour == "garbage":
                try:
                    c.sendall(b"SSH-2.0-x\r\n" + os.urandom(4096))
                except OSError:
                    pass
                self.conns.append(c)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _ssh_source(tmp_path, port: int, timeout: float):
    from runwatch.processes import SshSource

    kh = tmp_path / "known_hosts"
    kh.write_text("")
    cfg = tmp_path / "ssh_config"
    cfg.write_text("")
    key = tmp_path / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return SshSource([f"root@127.0.0.1:{port}"], timeout=timeout, known_hosts=str(kh), config=[str(cfg)], client_keys=[str(key)], name="ssh")


@pytest.mark.parametrize("behaviour", ["hang", "refuse", "drop_after_banner", "garbage"])
def test_bad_ssh_server_is_reported_in_time(tmp_path, behaviour, tally):
    pytest.importorskip("asyncssh")
    server = FakeServer(behaviour) if behaviour != "refuse" else None
    port = server.port if server else _closed_port()
    tree = small_tree(str(tmp_path / "p"))
    src = _ssh_source(tmp_path, port, timeout=2.0)
    monitor = SystemMonitor([src], timeout=10)
    tally["faults_process_sources"] += 1
    try:
        t0 = time.monotonic()
        result = get_all_run_status([r.config_path for r in tree.runs], root=tree.root, system_monitor=monitor)
        elapsed = time.monotonic() - t0
        # A second refresh must not pile up on a hung connection either.
        t1 = time.monotonic()
        get_all_run_status([r.config_path for r in tree.runs], root=tree.root, system_monitor=monitor)
        elapsed2 = time.monotonic() - t1
    finally:
        monitor.close()
        if server:
            server.close()
    assert elapsed < 15 and elapsed2 < 15, (elapsed, elapsed2)
    stuck = pick(tree, "stuck")  # its process is only known to the snapshot, which we did not pass
    rs = result[stuck.config_path]
    assert rs.status == "failed"
    text = " ".join(rs.progress.warnings or [])
    assert "could not be asked" in text and f"127.0.0.1:{port}" in text, text
    finished = result[pick(tree, "finished").config_path]
    assert finished.status == "finished" and not any("could not be asked" in w for w in finished.progress.warnings or [])


def _fake_bin(tmp_path, name: str, script: str) -> str:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text("#!/bin/sh\n" + script)
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(d)


@pytest.mark.parametrize("case", ["missing", "exit1", "hangs", "garbage_output"])
def test_squeue_failures(tmp_path, case, tally):
    if case == "missing":
        path = str(tmp_path / "empty")
        os.makedirs(path)
    elif case == "exit1":
        path = _fake_bin(tmp_path, "squeue", "echo 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
    elif case == "hangs":
        path = _fake_bin(tmp_path, "squeue", "exec /bin/sleep 60\n")
    else:
        path = _fake_bin(tmp_path, "squeue", "printf '\\377\\376 garbage|||\\n12|x|y\\n'\nexit 0\n")
    tree = small_tree(str(tmp_path / "p"))
    src = SlurmSource(timeout=1.5, env={"PATH": path}, user="researcher")
    monitor = SystemMonitor([src], timeout=10)
    tally["faults_process_sources"] += 1
    try:
        t0 = time.monotonic()
        snap = monitor.snapshot(Project.at(tree.root))
        elapsed = time.monotonic() - t0
    finally:
        monitor.close()
    assert elapsed < 8
    if case == "garbage_output":
        assert snap.processes == [] or all(p.config_rel is None for p in snap.processes)
        return
    assert "slurm" in snap.errors, snap.errors
    msg = snap.errors["slurm"]
    assert {"missing": "not found on PATH", "exit1": "Unable to contact", "hangs": "no answer within"}[case] in msg, msg


MAIN_PY = "import time\nwhile True:\n    time.sleep(1)\n"


def _spawn_with_pid(pid: int, args: list[str], cwd: str) -> subprocess.Popen | None:
    """Start a process that gets exactly ``pid`` (via ns_last_pid, root only); None if raced."""
    try:
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
    except OSError:
        return None
    p = subprocess.Popen(args, cwd=cwd)
    if p.pid == pid:
        return p
    p.kill()
    p.wait()
    return None


def test_pid_reuse_is_a_different_process(tmp_path, tally):
    """The run's PID handed to a new process with the same command line in another project:
    the run is not kept alive by the stranger."""
    tree = small_tree(str(tmp_path / "p"))
    other = tmp_path / "other"
    (other / "configs").mkdir(parents=True)
    for root in (tree.root, str(other)):
        with open(os.path.join(root, "main.py"), "w") as f:
            f.write(MAIN_PY)
    victim = pick(tree, "failed")  # stale log: stuck while its process lives, failed after
    args = [sys.executable, "main.py", "--config-filepath", f"./{victim.config_path}"]
    src = LocalSource(gpus=False)
    monitor = SystemMonitor([src])
    project = Project.at(tree.root)
    first = subprocess.Popen(args, cwd=tree.root)
    second = None
    try:
        time.sleep(0.3)
        snap = monitor.snapshot(project)
        assert victim.rel in snap.by_config(), snap
        assert get_all_run_status([victim.config_path], root=tree.root, system_monitor=snap)[victim.config_path].status == "stuck"
        pid = first.pid
        first.kill()
        first.wait()
        for _ in range(50):
            second = _spawn_with_pid(pid, args, str(other))
            if second is not None:
                break
        if second is None:
            pytest.skip("could not get the same PID again (ns_last_pid not writable or raced)")
        tally["faults_pid_reuse"] += 1
        time.sleep(0.3)
        snap2 = monitor.snapshot(project)
        status = get_all_run_status([victim.config_path], root=tree.root, system_monitor=snap2)[victim.config_path].status
        assert victim.rel not in snap2.by_config(), snap2
        assert status == "failed"
    finally:
        monitor.close()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

"""A real OpenSSH server on a loopback port, with keys, known_hosts and an ssh config made for the test.

Imported by the SSH tests (``from fixtures_sshd import sshd``); nothing touches the
user's own ~/.ssh. sshd runs in the foreground as a child of the test session and is
stopped by PID at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from proc_helpers import stop

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "runwatch-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    port: int
    dir: Path
    client_key: Path
    known_hosts: Path
    wrong_known_hosts: Path
    empty_known_hosts: Path
    ssh_config: Path
    alias: str  # a Host entry of ssh_config naming this server
    # A Host entry whose key is authorized only with a forced command that kills the
    # session's own sshd process: the connection drops after authentication, mid-command.
    drop_alias: str = ""

    @property
    def spec(self) -> str:
        return f"root@127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        pytest.skip(f"{SSHD} or ssh-keygen missing: apt-get install -y openssh-server openssh-client")
    if os.geteuid() != 0:
        pytest.skip("the sshd fixture logs in as root over a loopback port and needs to run as root")
    d = tmp_path_factory.mktemp("sshd")
    host_pub = keygen(d / "host_key")
    client_pub = keygen(d / "client_key")
    other_pub = keygen(d / "other_host_key")
    drop_pub = keygen(d / "drop_key")
    (d / "authorized_keys").write_text(client_pub + "\n" + 'command="kill -9 $PPID" ' + drop_pub + "\n")
    port = free_port()
    key_type, key_b64 = host_pub.split()[:2]
    other_type, other_b64 = other_pub.split()[:2]
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key_b64}\n")
    (d / "wrong_known_hosts").write_text(f"[127.0.0.1]:{port} {other_type} {other_b64}\n")
    (d / "empty_known_hosts").write_text("")
    (d / "sshd_config").write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d / "host_key"}
PidFile {d / "sshd.pid"}
AuthorizedKeysFile {d / "authorized_keys"}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100
LogLevel VERBOSE
"""
    )
    alias = "runwatch-test-server"
    drop_alias = "runwatch-test-dropping"
    (d / "ssh_config").write_text(
        f"""Host {drop_alias}
    HostName 127.0.0.1
    Port {port}
    User root
    IdentityFile {d / "drop_key"}
    IdentitiesOnly yes
    UserKnownHostsFile {d / "known_hosts"}

Host {alias}
    HostName 127.0.0.1
    Port {port}
    User root
    IdentityFile {d / "client_key"}
    UserKnownHostsFile {d / "known_hosts"}

Host 127.0.0.1
    IdentityFile {d / "client_key"}
    UserKnownHostsFile {d / "known_hosts"}
"""
    )
    # Debian's sshd refuses to start without its privilege separation directory.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    check = subprocess.run([SSHD, "-t", "-f", str(d / "sshd_config")], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.fail(f"sshd rejected the test config: {check.stderr.strip()}")
    log = open(d / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_port(port):
            pytest.fail(f"sshd did not listen on 127.0.0.1:{port}: {(d / 'sshd.log').read_text()[-2000:]}")
        yield Sshd(
            port=port,
            dir=d,
            client_key=d / "client_key",
            known_hosts=d / "known_hosts",
            wrong_known_hosts=d / "wrong_known_hosts",
            empty_known_hosts=d / "empty_known_hosts",
            ssh_config=d / "ssh_config",
            alias=alias,
            drop_alias=drop_alias,
        )
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word: a hung sshd."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        srv.close()


MAIN_PY = "import sys, time\ntime.sleep(float(sys.argv[sys.argv.index('--sleep') + 1]) if '--sleep' in sys.argv else 120)\n"


def start_main(cwd: Path, *args: str, interpreter: str = sys.executable) -> subprocess.Popen[bytes]:
    """A real ``python main.py <args>`` process, like a run launched in tmux."""
    (cwd / "main.py").write_text(MAIN_PY)
    return subprocess.Popen([interpreter, "main.py", *args], cwd=cwd)

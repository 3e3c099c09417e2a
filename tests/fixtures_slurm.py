"""A real single-node Slurm (munged + slurmctld + slurmd on localhost) in a temp dir.

Everything (munge key and socket, slurm.conf, state, spool, logs, ports) is made
for the test session, so the host's own Slurm or munge setup is neither needed nor
touched; commands reach this cluster through ``SLURM_CONF`` in ``Slurm.env``. The
daemons are children of the session and are stopped by PID at the end. When the
sandbox cannot run them the fixture skips with the daemons' own error.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from proc_helpers import stop

NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Slurm:
    dir: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        r = subprocess.run(list(args), env=self.env, cwd=cwd, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def sbatch(self, *args: str, cwd: Path) -> str:
        out = self.run("sbatch", "--parsable", "-o", "/dev/null", "-e", "/dev/null", *args, cwd=cwd)
        return out.strip().split(";")[0]

    def state(self, job_id: str) -> str:
        return self.run("squeue", "--noheader", "-j", job_id, "-o", "%T", check=False).strip()

    def wait_state(self, job_id: str, want: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(job_id) == want:
                return
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not {want} within {timeout}s (now {self.state(job_id)!r})")


def _daemon_log(d: Path) -> str:
    parts = []
    for name in ("munged.log", "slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
        p = d / name
        if p.exists():
            parts.append(f"--- {name}\n" + p.read_text(errors="replace")[-1500:])
    return "\n".join(parts)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    missing = [c for c in NEEDED if shutil.which(c, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None]
    if missing:
        pytest.skip(f"Slurm not installed (missing {', '.join(missing)}): apt-get install -y slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("the single-node Slurm fixture runs slurmd as root (SlurmdUser=root) and needs root")
    d = tmp_path_factory.mktemp("slurm")
    d.chmod(0o755)  # munged refuses sockets in dirs others cannot traverse... but only warns
    for sub in ("state", "spool"):
        (d / sub).mkdir()
    key = d / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)

    def sbin(name: str) -> str:
        return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or name

    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    env = dict(os.environ, SLURM_CONF=str(d / "slurm.conf"))
    jobs_started = False
    try:
        munge_sock = d / "munge.sock"
        procs.append(
            subprocess.Popen(
                [
                    sbin("munged"),
                    "-F",
                    "-f",
                    f"--socket={munge_sock}",
                    f"--key-file={key}",
                    f"--pid-file={d / 'munged.pid'}",
                    f"--log-file={d / 'munged.log'}",
                    f"--seed-file={d / 'munged.seed'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 10
        while not munge_sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not munge_sock.exists():
            pytest.skip(f"munged did not start in this sandbox:\n{_daemon_log(d)}")
        cpus = re.search(r"CPUs=(\d+)", subprocess.run([sbin("slurmd"), "-C"], capture_output=True, text=True).stdout)
        ncpu = cpus.group(1) if cpus else str(os.cpu_count() or 1)
        (d / "slurm.conf").write_text(
            f"""ClusterName=runwatchtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={munge_sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d / "state"}
SlurmdSpoolDir={d / "spool"}
SlurmctldPidFile={d / "slurmctld.pid"}
SlurmdPidFile={d / "slurmd.pid"}
SlurmctldLogFile={d / "slurmctld.log"}
SlurmdLogFile={d / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1 CPUs={ncpu} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        )
        for name, args in (("slurmctld", ["-D", "-i"]), ("slurmd", ["-D", "-N", "localhost"])):
            logs.append(open(d / f"{name}.out", "wb"))
            procs.append(subprocess.Popen([sbin(name), *args], env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
        cluster = Slurm(dir=d, env=env)
        deadline = time.monotonic() + 30
        state = ""
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            state = cluster.run("sinfo", "--noheader", "-o", "%T", check=False).strip()
            if state in ("idle", "mixed", "allocated"):
                break
            time.sleep(0.3)
        if state not in ("idle", "mixed", "allocated"):
            pytest.skip(f"single-node Slurm did not come up in this sandbox (node state {state!r}):\n{_daemon_log(d)}")
        jobs_started = True
        yield cluster
    finally:
        if jobs_started:
            subprocess.run(["scancel", "--full", "-u", "root"], env=env, capture_output=True, timeout=30)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                r = subprocess.run(["squeue", "--noheader"], env=env, capture_output=True, text=True, timeout=30)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.3)
        for p in reversed(procs):
            stop(p, grace=10.0)
        for f in logs:
            f.close()

"""Process evidence over SSH (a real sshd on loopback): stopped is stuck, gone is exited, unreachable is unknown."""

from __future__ import annotations

import os
import signal
import time

import pytest
from fixtures_sshd import Sshd, sshd  # noqa: F401
from status_project import ToyProject

from runwatch.processes import SystemMonitor
from runwatch.processes.ssh import SshSource
from runwatch.run_status import get_all_run_status

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(120)]


def test_stopped_then_exited_then_unreachable_over_ssh(sshd: Sshd, tmp_path) -> None:
    proj = ToyProject(tmp_path / "proj", settings="stall_floor = 1\ntmux_output = false\n")
    proj.config("r/one", epochs=500, epoch_seconds=0.5)
    cfg = str(proj.root / "configs" / "r" / "one.py")
    src = SshSource([sshd.spec], timeout=10.0, config=[str(sshd.ssh_config)])
    mon = SystemMonitor([src])

    def status():
        return get_all_run_status([cfg], root=str(proj.root), system_monitor=mon)[cfg]

    try:
        p = proj.launch("r/one")
        proj.wait_epochs("r/one", 1)
        rs = status()
        assert rs.status == "running" and rs.process_info.server == sshd.spec
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(0.2)
        rs = status()
        assert (rs.status, rs.reason) == ("stuck", "stopped") and rs.process_info.state == "stopped"
        os.kill(p.pid, signal.SIGCONT)
        p.kill()
        p.wait()
        rs = status()
        assert (rs.status, rs.reason) == ("failed", "exited") and sshd.spec in rs.reason_detail
        # The same remembered process behind a server that cannot be asked: unknown, never "exited".
        bad = SshSource([sshd.spec.rsplit(":", 1)[0] + ":1"], timeout=3.0, config=[str(sshd.ssh_config)], name="ssh")
        with SystemMonitor([bad]) as unreachable:
            rs2 = get_all_run_status([cfg], root=str(proj.root), system_monitor=unreachable)[cfg]
        assert rs2.reason != "exited"
    finally:
        mon.close()
        proj.close()

"""The SSH source against a real sshd on loopback, finding a real launcher process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_sshd import Sshd, free_port, silent_server, sshd, start_main, stop  # noqa: F401

from runwatch.project import Project
from runwatch.processes import LocalSource, SystemMonitor
from runwatch.processes.ssh import ServerSpec, ServerSpecError, SshSource
from runwatch.settings import Settings

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(120)]


def make_project(root: Path) -> Project:
    (root / "configs" / "x").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "x" / "run_0.py").write_text("config = {}\n")
    return Project.at(root, Settings())


@pytest.fixture(scope="module")
def project_with_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, int]]:
    root = tmp_path_factory.mktemp("proj")
    project = make_project(root)
    proc = start_main(root, "--config-filepath", "./configs/x/run_0.py")
    time.sleep(0.3)
    try:
        yield project, proc.pid
    finally:
        stop(proc)


def source(sshd: Sshd, servers: list[str] | None = None, timeout: float = 10.0, **kw: object) -> SshSource:
    kw.setdefault("config", [str(sshd.ssh_config)])
    return SshSource(servers or [sshd.spec], timeout=timeout, **kw)  # type: ignore[arg-type]


def test_finds_real_process_over_ssh(sshd: Sshd, project_with_run: tuple[Project, int]) -> None:
    project, pid = project_with_run
    src = source(sshd)
    try:
        snap = src.collect(project)
        assert snap.errors == {}
        mine = [p for p in snap.processes if p.pid == pid]
        assert len(mine) == 1, snap.to_dict()
        p = mine[0]
        assert p.config_rel == "x/run_0" and not p.debug
        assert p.server == sshd.spec and p.source == "ssh" and p.user == "root"
        assert p.cwd == project.root  # read from /proc over the same round trip
        assert p.start_time is not None and abs(p.start_time - time.time()) < 120
        assert snap.by_config()["x/run_0"].pid == pid
        # The same process seen locally has the same identity (start time agrees within ps's 1s).
        local = next(q for q in LocalSource().collect(project).processes if q.pid == pid)
        assert abs(local.start_time - p.start_time) <= 1.5  # type: ignore[operator]
    finally:
        src.close()


def test_connection_reused_across_snapshots(sshd: Sshd, project_with_run: tuple[Project, int]) -> None:
    project, pid = project_with_run
    src = source(sshd)
    try:
        for _ in range(3):
            snap = src.collect(project)
            assert snap.errors == {} and any(p.pid == pid for p in snap.processes)
        assert src.connects == 1
    finally:
        src.close()


def test_ssh_config_alias_supplies_host_port_user_key_and_known_hosts(sshd: Sshd, project_with_run: tuple[Project, int]) -> None:
    project, pid = project_with_run
    src = source(sshd, servers=[sshd.alias])
    try:
        snap = src.collect(project)
        assert snap.errors == {}
        assert [p.server for p in snap.processes if p.pid == pid] == [sshd.alias]
    finally:
        src.close()


def test_process_in_another_checkout_matches_by_configs_suffix(sshd: Sshd, tmp_path: Path) -> None:
    # The server's checkout lives elsewhere than this machine's; the config path still names the run.
    here = make_project(tmp_path / "here")
    there = tmp_path / "there"
    there.mkdir()
    proc = start_main(there, "--debug", "--config-filepath=configs/x/run_0.py")
    time.sleep(0.3)
    src = source(sshd)
    try:
        snap = src.collect(here)
        mine = [p for p in snap.processes if p.pid == proc.pid]
        assert len(mine) == 1 and mine[0].config_rel == "x/run_0" and mine[0].debug
        assert mine[0].cwd == str(there)
        # Locally the other checkout is not this project: no false match.
        assert not [p for p in LocalSource().collect(here).processes if p.pid == proc.pid]
    finally:
        src.close()
        stop(proc)


def test_wrong_host_key_is_an_error_not_a_match(sshd: Sshd, project_with_run: tuple[Project, int]) -> None:
    project, _ = project_with_run
    for kh in (sshd.wrong_known_hosts, sshd.empty_known_hosts):
        src = source(sshd, known_hosts=str(kh), config=[])
        try:
            snap = src.collect(project)
            assert snap.processes == []
            assert sshd.spec in snap.errors
            assert "host key" in snap.errors[sshd.spec] and sshd.spec in snap.errors[sshd.spec]
        finally:
            src.close()


def test_refusing_to_disable_host_key_checks() -> None:
    with pytest.raises(ValueError, match="host key"):
        SshSource(["a"], known_hosts=None)


def test_unreachable_server_reported_and_others_still_count(sshd: Sshd, project_with_run: tuple[Project, int]) -> None:
    project, pid = project_with_run
    dead = f"root@127.0.0.1:{free_port()}"
    mon = SystemMonitor([LocalSource(), source(sshd, servers=[dead, sshd.spec])])
    try:
        snap = mon.snapshot(project)
        assert dead in snap.errors and "refused" in snap.errors[dead]
        assert sshd.spec not in snap.errors
        servers = {p.server for p in snap.processes if p.pid == pid}
        assert servers == {None, sshd.spec}  # local and the healthy server both reported it
    finally:
        mon.close()


def test_server_dropping_the_connection_mid_command_is_an_error_and_others_count(sshd: Sshd, project_with_run: tuple[Project, int]) -> None:
    project, pid = project_with_run
    src = source(sshd, servers=[sshd.drop_alias, sshd.spec], timeout=5.0)
    try:
        t0 = time.monotonic()
        snap = src.collect(project)
        assert time.monotonic() - t0 < 5.0
        assert sshd.drop_alias in snap.errors, snap.to_dict()
        # Authenticated, then cut off mid-command: said as such, not as a login failure.
        assert "stopped before finishing" in snap.errors[sshd.drop_alias]
        assert sshd.spec not in snap.errors
        assert not any(p.server == sshd.drop_alias for p in snap.processes)
        assert any(p.pid == pid and p.server == sshd.spec for p in snap.processes)
        # The next snapshot reconnects and fails the same way: never a stale or empty success.
        again = src.collect(project)
        assert sshd.drop_alias in again.errors
    finally:
        src.close()


def test_hung_server_times_out_within_the_per_server_timeout(sshd: Sshd, silent_server: int, project_with_run: tuple[Project, int]) -> None:
    project, pid = project_with_run
    hung = f"root@127.0.0.1:{silent_server}"
    src = source(sshd, servers=[hung, sshd.spec], timeout=2.0)
    try:
        t0 = time.monotonic()
        snap = src.collect(project)
        elapsed = time.monotonic() - t0
        assert elapsed < 4.0, elapsed
        assert hung in snap.errors and "no answer within 2s" in snap.errors[hung]
        assert any(p.pid == pid for p in snap.processes)
    finally:
        src.close()


def test_server_spec_parsing() -> None:
    assert ServerSpec.parse("alice@gpu1:2222") == ServerSpec("alice@gpu1:2222", "gpu1", "alice", 2222)
    assert ServerSpec.parse("gpu1") == ServerSpec("gpu1", "gpu1", None, None)
    assert ServerSpec.parse("bob@[::1]:22").host == "::1"
    for bad in ("alice@gpu1:99999", "@gpu1", "gpu1:abc", "[::1", "a b"):
        with pytest.raises(ServerSpecError, match="ssh server"):
            ServerSpec.parse(bad)

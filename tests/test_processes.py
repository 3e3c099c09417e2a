"""Matching, parsing, the local source on real processes, and composing sources."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runwatch.project import Project
from runwatch.process_info import ProcessInfo, ProcessMonitor, ProcessSnapshot
from runwatch.processes import (
    CommandMatcher,
    LocalSource,
    MatchCache,
    PatternError,
    SystemMonitor,
    monitor_from_settings,
    same_process,
)
from runwatch.processes.nvidia_smi import NvidiaSmiError, parse_compute_apps, parse_gpus, usage_by_pid
from runwatch.processes.ps_parse import parse_lstart, parse_ps
from runwatch.settings import Settings

DATA = Path(__file__).parent / "data" / "nvidia_smi"
MAIN_PY = "import time\ntime.sleep(120)\n"


def make_project(root: Path, **settings: object) -> Project:
    (root / "configs" / "x").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "x" / "run_0.py").write_text("config = {}\n")
    (root / "main.py").write_text(MAIN_PY)
    return Project.at(root, Settings(**settings))  # type: ignore[arg-type]


# -- matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd, cwd, rel, debug",
    [
        ("python main.py --config-filepath ./configs/x/run_0.py", None, "x/run_0", False),
        ("python3 main.py --config-filepath configs/x/run_0.py --debug", None, "x/run_0", True),
        ("/opt/conda/bin/python -u main.py --debug --config-filepath=configs/x/run_0.py", None, "x/run_0", True),
        ("python main.py --config-filepath {root}/configs/x/run_0.py", None, "x/run_0", False),
        ("python ../main.py --config-filepath ../configs/x/run_0.py", "{root}/sub", "x/run_0", False),
        ("python main.py --config-filepath configs/x/run_0", None, "x/run_0", False),
        ("torchrun --nproc_per_node 8 main.py --config-filepath configs/a/b/c.py", None, "a/b/c", False),
        ("python main.py --config-filepath configs/x/run_0.py", "/elsewhere", None, False),
        ("python main.py --config-filepath /elsewhere/configs/x/run_0.py", None, None, False),
        ("python main.py --config-filepath ./logs/x.py", None, None, False),
        ("python main.py --other configs/x/run_0.py", None, None, False),
        ("python main.py --config-filepath", None, None, False),
    ],
)
def test_match_command_lines(tmp_path: Path, cmd: str, cwd: str | None, rel: str | None, debug: bool) -> None:
    project = make_project(tmp_path)
    m = CommandMatcher(project).match(cmd.format(root=tmp_path), cwd.format(root=tmp_path) if cwd else None)
    assert (m.config_rel, m.debug) == (rel, debug) if m else rel is None


def test_remote_matcher_accepts_another_checkout(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    remote = CommandMatcher(project, remote=True)
    m = remote.match("python main.py --config-filepath /home/bob/proj/configs/x/run_0.py")
    assert m is not None and m.config_rel == "x/run_0"
    m = remote.match("python main.py --config-filepath ./configs/x/run_0.py", cwd="/home/bob/proj")
    assert m is not None and m.config_rel == "x/run_0"
    assert remote.match("python main.py --config-filepath /home/bob/notes/x.py") is None


def test_launcher_patterns(tmp_path: Path) -> None:
    project = make_project(tmp_path, launcher_patterns=(r"accelerate launch \S+ --cfg (?P<config>\S+)", r"run\.sh (?P<config>\S+)(?P<debug> dbg)?"))
    m = CommandMatcher(project)
    assert m.match("accelerate launch train.py --cfg configs/x/run_0.py") == m.match("python main.py --config-filepath configs/x/run_0.py")
    got = m.match("bash run.sh configs/x/run_0.py dbg")
    assert got is not None and got.debug and got.config_rel == "x/run_0"
    assert m.is_candidate("bash run.sh configs/x/run_0.py") and not m.is_candidate("bash other.sh")


@pytest.mark.parametrize("pattern, why", [("(", "invalid regex"), ("run (\\S+)", "named group")])
def test_bad_launcher_pattern_names_the_setting(tmp_path: Path, pattern: str, why: str) -> None:
    project = make_project(tmp_path, launcher_patterns=(pattern,))
    with pytest.raises(PatternError, match=rf"launcher_patterns\[0\].*{why}"):
        CommandMatcher(project)
    with pytest.raises(PatternError):
        monitor_from_settings(project)


def test_same_process_guards_pid_reuse() -> None:
    a = ProcessInfo(pid=100, user="u", cmd="python main.py", start_time=1000.0)
    assert same_process(a, ProcessInfo(pid=100, user="u", cmd="x", start_time=1000.9))
    assert not same_process(a, ProcessInfo(pid=100, user="u", cmd="python main.py", start_time=2000.0))
    assert not same_process(a, ProcessInfo(pid=100, user="u", cmd="python main.py", start_time=1000.0, server="gpu1"))
    assert same_process(a, ProcessInfo(pid=100, user="u", cmd="x", start_time=None))


def test_match_cache_never_carries_a_match_over_to_a_reused_pid(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    cache = MatchCache()
    cache.for_project(project)
    cache.put(None, 100, 1000.0, "python main.py --config-filepath configs/x/run_0.py", "x/run_0")
    cache.sweep()
    assert cache.get(None, 100, 2000.0, "python main.py --config-filepath configs/x/run_0.py") is None
    assert cache.get(None, 100, 1000.0, "python main.py --config-filepath configs/x/run_0.py") == "x/run_0"
    cache.sweep()
    cache.sweep()  # not seen in the last snapshot: forgotten
    assert len(cache) == 0
    cache.put(None, 1, 1.0, "c", "v")
    cache.for_project(make_project(tmp_path / "other"))
    assert cache.get(None, 1, 1.0, "c") is None


# -- ps and nvidia-smi ------------------------------------------------------------------


def test_parse_ps_lines() -> None:
    text = (
        "      1 root     Mon Jan  1 10:00:00 2024 /sbin/init\n"
        "2381907 alice    Tue Feb 27 09:05:03 2024 /opt/conda/bin/python main.py --config-filepath ./configs/x/run_0.py\n"
        "     17 root     Mon Jan  1 10:00:00 2024 [kworker/0:1-events]\n"
        "garbage line\n"
    )
    out = parse_ps(text)
    assert [r.pid for r in out.rows] == [1, 2381907, 17]
    assert out.rows[1].cmd.endswith("--config-filepath ./configs/x/run_0.py") and out.rows[1].user == "alice"
    assert out.rows[0].start_time == 1704103200.0  # 2024-01-01T10:00:00Z
    assert len(out.problems) == 1 and "line 4" in out.problems[0]


def test_parse_ps_against_real_ps() -> None:
    out = subprocess.run(["ps", "-eo", "pid=,user=,lstart=,cmd="], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C", TZ="UTC")).stdout
    rows = {r.pid: r for r in parse_ps(out).rows}
    me = rows[os.getpid()]
    import psutil

    assert abs(me.start_time - psutil.Process().create_time()) <= 1.5
    assert "pytest" in me.cmd or "python" in me.cmd


def test_parse_lstart_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="5 tokens"):
        parse_lstart(["Mon", "Jan", "1", "10:00:00"])


def test_parse_recorded_nvidia_smi() -> None:
    gpus = parse_gpus((DATA / "query_gpu_8xh100.csv").read_text())
    apps = parse_compute_apps((DATA / "compute_apps_8xh100.csv").read_text())
    assert len(gpus) == 8 and gpus[2].memory_total_mib == 81559 and gpus[2].utilization_pct == 100
    usage = usage_by_pid(apps, gpus)
    assert usage[2381907].indices == (0,) and usage[2381908].indices == (1,)
    assert usage[2420051].indices == (4, 5) and usage[2420051].memory_mib == 2 * 22498
    assert usage[2420112].indices == (4,)

    na = usage_by_pid(parse_compute_apps((DATA / "compute_apps_na.csv").read_text()), parse_gpus((DATA / "query_gpu_na.csv").read_text()))
    assert na[88121].indices == (0, 1) and na[88121].memory_mib is None
    assert parse_gpus((DATA / "query_gpu_na.csv").read_text())[1].memory_used_mib is None
    assert parse_compute_apps((DATA / "compute_apps_idle.csv").read_text()) == []


def test_nvidia_smi_garbage_is_a_clear_error() -> None:
    with pytest.raises(NvidiaSmiError, match="compute-apps line 1"):
        parse_compute_apps("GPU-x, notapid, 3\n")
    with pytest.raises(NvidiaSmiError, match="query-gpu line 2: expected 5"):
        parse_gpus("0, GPU-a, 1, 1, 1\n1, GPU-b\n")


# -- local source ------------------------------------------------------------------------


def test_local_source_finds_real_processes_and_skips_zombies(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    live = subprocess.Popen([sys.executable, "main.py", "--config-filepath", "./configs/x/run_0.py"], cwd=tmp_path)
    # A zombie: exited, not yet reaped by its parent (us).
    dead = subprocess.Popen([sys.executable, "-c", "pass", "--config-filepath", "./configs/x/run_0.py"], cwd=tmp_path)
    try:
        import psutil

        deadline = time.monotonic() + 10
        while psutil.Process(dead.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert psutil.Process(dead.pid).status() == psutil.STATUS_ZOMBIE
        src = LocalSource()
        for _ in range(2):  # the second snapshot comes from the match cache
            snap = src.collect(project)
            pids = {p.pid: p for p in snap.processes}
            assert live.pid in pids and dead.pid not in pids
            p = pids[live.pid]
            assert p.config_rel == "x/run_0" and p.cwd == str(tmp_path) and p.server is None
            assert abs(p.start_time - psutil.Process(live.pid).create_time()) < 0.01  # type: ignore[operator]
            assert p.location == f"local:{live.pid}"
        live.terminate()
        live.wait(5)
        assert live.pid not in {p.pid for p in src.collect(project).processes}
    finally:
        live.kill()
        live.wait()
        dead.wait()


# -- monitor -----------------------------------------------------------------------------


class _Fixed:
    def __init__(self, name: str, procs: list[ProcessInfo]) -> None:
        self.name, self.procs = name, procs

    def collect(self, project: object) -> ProcessSnapshot:
        return ProcessSnapshot(processes=list(self.procs))


class _Broken:
    name = "broken"

    def collect(self, project: object) -> ProcessSnapshot:
        raise RuntimeError("cannot reach the cluster")


class _Hung:
    name = "hung"

    def __init__(self) -> None:
        self.release = threading.Event()

    def collect(self, project: object) -> ProcessSnapshot:
        self.release.wait(30)
        return ProcessSnapshot()


def test_monitor_reports_failed_and_hung_sources_and_keeps_the_rest(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    good = _Fixed("fixed", [ProcessInfo(pid=5, user="u", cmd="c", config_rel="x/run_0", source="fixed")])
    hung = _Hung()
    mon = SystemMonitor([good, _Broken(), hung], timeout=1)
    assert isinstance(mon, ProcessMonitor)
    try:
        t0 = time.monotonic()
        snap = mon.snapshot(project)
        assert time.monotonic() - t0 < 3
        assert snap.by_config()["x/run_0"].pid == 5
        assert snap.errors["broken"] == "broken: cannot reach the cluster"
        assert "no answer within 1s" in snap.errors["hung"]
        snap = mon.snapshot(project)  # the hung call still holds its thread: not piled up
        assert "still busy" in snap.errors["hung"] and snap.by_config()["x/run_0"].pid == 5
    finally:
        hung.release.set()
        mon.close()


def test_monitor_prefers_the_interpreter_over_wrappers_and_workers(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    wrapper = ProcessInfo(pid=10, user="u", cmd="bash -c python main.py --config-filepath x", start_time=1.0, config_rel="x/run_0")
    worker = ProcessInfo(pid=12, user="u", cmd="python main.py --config-filepath x", start_time=3.0, config_rel="x/run_0")
    main = ProcessInfo(pid=11, user="u", cmd="python main.py --config-filepath x", start_time=2.0, config_rel="x/run_0")
    queued = ProcessInfo(pid=99, user="u", cmd="", start_time=0.0, config_rel="x/run_0", state="queued", job_id="99")
    snap = SystemMonitor([_Fixed("a", [queued, wrapper, worker, main])]).snapshot(project)
    assert snap.by_config()["x/run_0"].pid == 11


def test_monitor_rejects_duplicate_source_names() -> None:
    with pytest.raises(ValueError, match="distinct names"):
        SystemMonitor([_Fixed("a", []), _Fixed("a", [])])


def test_monitor_from_settings_builds_sources(tmp_path: Path) -> None:
    project = make_project(tmp_path, ssh_servers=("alice@gpu1:2222", "gpu2"), slurm=True, ssh_timeout=3.0)
    mon = monitor_from_settings(project)
    try:
        names = [s.name for s in mon.sources]
        assert names == ["local", "ssh", "slurm"]
        assert [s.spec for s in mon.sources[1].servers] == ["alice@gpu1:2222", "gpu2"]
        assert mon.sources[1].timeout == 3.0
    finally:
        mon.close()
    mon = monitor_from_settings(project, local=False, ssh=[], slurm=False)
    assert mon.sources == []
    assert mon.snapshot(project).processes == []


def test_importing_processes_does_not_import_asyncssh() -> None:
    code = "import sys, runwatch.processes; print('asyncssh' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_parse_ps_with_stat_column() -> None:
    text = (
        "      1 root     Ss   Mon Jan  1 10:00:00 2024 /sbin/init\n"
        "    300 alice    Tl   Sat Feb 24 09:05:03 2024 python main.py --config-filepath ./configs/x/run_0.py\n"
        "    301 alice    Z    Sun Feb 25 09:05:03 2024 [python] <defunct>\n"
        "    302 alice    Sun Feb 25 09:05:03 2024 python main.py\n"
    )
    out = parse_ps(text)
    rows = {r.pid: r for r in out.rows}
    assert (rows[1].stat, rows[1].cmd) == ("Ss", "/sbin/init")
    assert rows[300].stat == "Tl" and rows[300].cmd.endswith("run_0.py") and rows[300].user == "alice"
    assert rows[301].stat == "Z" and rows[302].stat is None and rows[302].cmd == "python main.py"
    assert rows[300].start_time == parse_lstart(["Sat", "Feb", "24", "09:05:03", "2024"])


def test_parse_ps_stat_against_real_ps() -> None:
    from runwatch.processes.ps_parse import PS_COMMAND

    out = subprocess.run(PS_COMMAND, shell=True, capture_output=True, text=True).stdout
    me = {r.pid: r for r in parse_ps(out).rows}[os.getpid()]
    assert me.stat is not None and me.stat[0] in "RS" and ("pytest" in me.cmd or "python" in me.cmd)

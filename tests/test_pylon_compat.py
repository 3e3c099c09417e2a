"""``runwatch.pylon`` called exactly the way Pylon's own code calls its API.

Pylon's launcher (``agents/launcher.py``), viewer backend (``agents/viewer/backend.py``)
and logs snapshot (``agents/logs_snapshot.py``) call ``get_all_run_status`` by keyword
and by position with Pylon's ``SystemMonitor``; here a stand-in of the same shape
(``connected_gpus``: GPU dicts whose ``processes`` are records with the
``ps -eo pid=,user=,lstart=,cmd=`` fields as strings) lists real processes read with a
real ``ps``. Every path is relative to the current folder, as in Pylon: each test runs in
its project's root. The expected answers come from what the runs did (the simulated
Pylon of ``tests/pylon_sim``, the toy trainer of ``tests/pylon_toy``) or from the
generator's own record of what it wrote (``runwatch.testing.generate_tree``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from runwatch.testing.generator import EVAL_SCENARIOS, TRAINER_SCENARIOS, generate_tree
from test_pylon_sim import copy_sim, every_progress_json, write_config

EXPECTED = ["training_losses.pt", "optimizer_buffer.json", "validation_scores.json"]


# ---------------------------------------------------------------- Pylon's shapes, as stand-ins


@dataclass
class PylonProcessInfo:
    """Pylon's ``utils.monitor.process_info.ProcessInfo``: the ps fields, as strings."""

    pid: str
    user: str
    cmd: str
    start_time: str


@dataclass
class StandInMonitor:
    """Shaped like Pylon's ``SystemMonitor``: ``connected_gpus`` / ``disconnected_gpus`` lists of GPU dicts.

    ``gpu_pids``: per server, the PIDs its GPU runs (what nvidia-smi would list); the
    records are read with a real ``ps`` for local servers, or given as they are.
    """

    gpu_pids: dict[str, list[int]] = field(default_factory=dict)
    records: dict[str, list[PylonProcessInfo]] = field(default_factory=dict)
    disconnected: list[str] = field(default_factory=list)

    @property
    def connected_gpus(self) -> list[dict[str, Any]]:
        gpus = []
        for i, (server, pids) in enumerate(self.gpu_pids.items()):
            gpus.append(_gpu(server, i, [r for r in (ps_record(p) for p in pids) if r is not None]))
        for i, (server, recs) in enumerate(self.records.items()):
            gpus.append(_gpu(server, i, list(recs)))
        return gpus

    @property
    def disconnected_gpus(self) -> list[dict[str, Any]]:
        return [{"server": s, "index": 0, "connected": False, "processes": []} for s in self.disconnected]


def _gpu(server: str, index: int, processes: list[PylonProcessInfo]) -> dict[str, Any]:
    return {
        "server": server,
        "index": index,
        "connected": True,
        "max_memory": 81920,
        "processes": processes,
        "util_stats": {"avg": 10.0},
        "memory_stats": {"avg": 1024.0},
    }


def ps_record(pid: int) -> PylonProcessInfo | None:
    """Pylon's record of one process, from ``ps -o pid=,user=,lstart=,cmd=`` as Pylon reads it."""
    r = subprocess.run(["ps", "-ww", "-o", "pid=,user=,lstart=,cmd=", "-p", str(pid)], capture_output=True, text=True, check=False)
    line = r.stdout.strip()
    if not line:
        return None
    parts = line.split()
    return PylonProcessInfo(pid=parts[0], user=parts[1], start_time=" ".join(parts[2:7]), cmd=" ".join(parts[7:]))


def lstart(t: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))


def launch_as_pylon(root, config: str, out_name: str = "run", env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python main.py --config-filepath <config>`` in the project root: argv[0] is ``python``, as Pylon's launcher types it."""
    out = open(os.path.join(root, f"{out_name}.out"), "wb")
    p = subprocess.Popen(
        ["python", "main.py", "--config-filepath", config],
        executable=sys.executable,
        cwd=root,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, **(env or {})),
    )
    out.close()
    return p


# ---------------------------------------------------------------- projects


@pytest.fixture()
def sim(tmp_path, monkeypatch):
    """A copy of the simulated Pylon project, as the current folder."""
    root = copy_sim(tmp_path)
    monkeypatch.chdir(root)
    return root


def sim_trainer(root, rel: str, epochs: int, **kw: Any) -> str:
    from test_pylon_sim import trainer_dict

    return write_config(root, rel, trainer_dict(rel, epochs, **kw))


def run_to_end(root, config: str, env: dict[str, str] | None = None, check: bool = True) -> None:
    r = subprocess.run(
        ["python", "main.py", "--config-filepath", config],
        executable=sys.executable,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **(env or {})),
    )
    if check:
        assert r.returncode == 0, r.stderr


@pytest.fixture()
def tree(tmp_path, monkeypatch):
    """A generated Pylon tree (every trainer and evaluator case) as the current folder, and its stand-in monitor."""
    root = tmp_path / "gen"
    t = generate_tree(str(root), n_runs=26, seed=3, scenarios=TRAINER_SCENARIOS + EVAL_SCENARIOS, multi_stage=0)
    monkeypatch.chdir(root)
    records: dict[str, list[PylonProcessInfo]] = {}
    for p in t.processes:
        records.setdefault(p.server or "localhost", []).append(
            PylonProcessInfo(pid=str(p.pid), user=p.user, cmd=p.cmd, start_time=lstart(p.start_time or t.now))
        )
    return t, StandInMonitor(records=records)


def configs_of(t) -> list[str]:
    return [f"./configs/{r.rel}.py" for r in t.runs]


# ---------------------------------------------------------------- bullet 1: Pylon's SystemMonitor


@pytest.mark.slow  # a real process, held then killed
def test_launcher_call_with_pylon_system_monitor_matches_a_real_process(sim, tmp_path):
    """The launcher's keyword call; the run's process is found through the monitor's ``connected_gpus``."""
    from runwatch.pylon.run_status import RunStatus, _build_config_to_process_mapping, get_all_run_status, parse_config

    cfg = sim_trainer(sim, "live/run", 6, scores=[0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    pause = tmp_path / "pause"
    pause.write_text("")
    p = launch_as_pylon(sim, cfg, env={"SIM_PAUSE_FILE": str(pause), "SIM_PAUSE_AT": "train:2:1"})
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "pause.reached").exists():  # held in epoch 2, its process alive
            assert time.monotonic() < deadline and p.poll() is None, "the run never reached epoch 2"
            time.sleep(0.05)
        monitor = StandInMonitor(gpu_pids={"me@localhost": [p.pid]})
        # What Pylon's launcher does with the monitor itself.
        mapping = _build_config_to_process_mapping(monitor.connected_gpus)
        assert list(mapping) == [cfg] and mapping[cfg].pid == str(p.pid)
        assert parse_config(mapping[cfg].cmd) == cfg
        statuses = get_all_run_status(
            config_files=[cfg],
            epochs=6,
            sleep_time=180,
            outdated_days=120,
            system_monitor=monitor,
            force_progress_recompute=False,
        )
        st = statuses[cfg]
        assert isinstance(st, RunStatus)
        assert (st.status, st.progress.completed_epochs, st.progress.total_epochs) == ("running", 2, 6)
        assert st.process_info == mapping[cfg]  # the caller's own record
        assert st.work_dir == "./logs/live/run"
    finally:
        p.kill()
        p.wait(timeout=10)


@pytest.mark.slow  # a real process, held then killed
def test_hung_process_reads_stuck_and_killed_reads_failed(tmp_path, monkeypatch):
    """A real toy run that hangs (its process alive, its log silent) is stuck; killed, it is failed."""
    from status_project import ToyProject

    from runwatch.pylon.run_status import get_all_run_status

    proj = ToyProject(tmp_path / "toy")
    monkeypatch.chdir(proj.root)
    proj.config("hang/run", epochs=4, hang_at=1, epoch_seconds=0.2)
    cfg = "./configs/hang/run.py"
    p = launch_as_pylon(proj.root, cfg, "hang")
    try:
        proj.wait_epochs("hang/run", 1)
        time.sleep(2.5)  # silent past sleep_time and the stall floor of the toy's settings
        monitor = StandInMonitor(gpu_pids={"me@localhost": [p.pid]})
        # The viewer backend's positional call: (config_files, epochs, sleep_time, outdated_days, system_monitor).
        st = get_all_run_status([cfg], 4, 1, 120, monitor)[cfg]
        assert (st.status, st.process_info.pid, st.progress.completed_epochs) == ("stuck", str(p.pid), 1)
    finally:
        p.kill()
        p.wait(timeout=10)
    st = get_all_run_status([cfg], 4, 1, 120, monitor)[cfg]  # the real ps no longer lists it
    assert st.status == "failed" and st.process_info is None


def test_a_disconnected_server_is_not_read_as_no_process(tree):
    """A run's process seen on a server: that server disconnected says "may be stuck"; answering without it, "exited"."""
    from runwatch.pylon import get_all_run_status

    t, monitor = tree
    cfgs = configs_of(t)
    stuck = [f"./configs/{r.rel}.py" for r in t.runs if r.status == "stuck"]
    assert stuck
    seen = get_all_run_status(cfgs, 100, 86400, 30, monitor)
    assert {seen[c].status for c in stuck} == {"stuck"}
    servers = list(monitor.records)
    away = get_all_run_status(cfgs, 100, 86400, 30, StandInMonitor(disconnected=servers))
    for c in stuck:
        assert "may be stuck" in (away[c].reason_detail or "")
        assert any("could not be asked (disconnected)" in w for w in away[c].progress.warnings or [])
    gone = get_all_run_status(cfgs, 100, 86400, 30, StandInMonitor(records={s: [] for s in servers}))
    assert {(gone[c].status, gone[c].reason) for c in stuck} == {("failed", "exited")}


def test_a_debug_launch_is_not_the_runs_process(tree):
    """``--debug`` writes to logs/debug/<rel>: its process says nothing about the run's own work dir."""
    from runwatch.pylon import _build_config_to_process_mapping, get_all_run_status

    t, monitor = tree
    stuck = [r for r in t.runs if r.status == "stuck"]
    debug = {server: [dataclasses.replace(rec, cmd=rec.cmd + " --debug") for rec in recs] for server, recs in monitor.records.items()}
    mon = StandInMonitor(records=debug)
    assert len(_build_config_to_process_mapping(mon.connected_gpus)) == len(stuck)  # Pylon's own rule counts them
    statuses = get_all_run_status([f"./configs/{r.rel}.py" for r in stuck], 100, 86400, 30, mon)
    assert {s.status for s in statuses.values()} == {"failed"} and all(s.process_info is None for s in statuses.values())


def test_unknown_monitor_type_says_what_is_accepted():
    from runwatch.pylon import get_all_run_status

    with pytest.raises(TypeError, match="connected_gpus"):
        get_all_run_status([], 1, 180, 120, object())


def test_runwatch_process_sources_are_accepted_too(tree):
    from runwatch.pylon import get_all_run_status, get_run_status

    t, _ = tree
    want = {f"./configs/{r.rel}.py": r.status for r in t.runs}
    statuses = get_all_run_status(configs_of(t), 100, 86400, 30, t.snapshot())
    assert {c: s.status for c, s in statuses.items()} == want

    class Source:  # runwatch's ProcessMonitor shape
        def snapshot(self, project):
            return t.snapshot()

    statuses = get_all_run_status(configs_of(t), 100, 86400, 30, Source())
    assert {c: s.status for c, s in statuses.items()} == want
    stuck = next(p for p in t.processes if p.state == "running")
    cfg = f"./configs/{stuck.config_rel}.py"
    st = get_run_status(cfg, 100, {cfg: stuck}, 86400, 30)
    assert (st.status, st.process_info) == ("stuck", stuck)


# ---------------------------------------------------------------- bullet 2: positional calls, both signatures


def test_viewer_backend_positional_call_on_a_generated_tree(tree):
    """``get_all_run_status(config_files, epochs, sleep_time, outdated_days, system_monitor)``: the monitor lands in its place."""
    from runwatch.pylon import get_all_run_status

    t, monitor = tree
    cfgs = configs_of(t)
    statuses = get_all_run_status(cfgs, 100, 86400, 30, monitor)
    assert list(statuses) == cfgs
    got = {c: s.status for c, s in statuses.items()}
    want = {f"./configs/{r.rel}.py": r.status for r in t.runs}
    assert got == want
    assert any(s == "stuck" for s in want.values())  # found only through the monitor's processes
    for r in t.runs:
        s = statuses[f"./configs/{r.rel}.py"]
        assert (s.progress.completed_epochs, s.progress.progress_percentage) == (r.completed_epochs, pytest.approx(r.progress_percentage))
    # The backend's own arithmetic on the answer.
    avg = round(sum(s.progress.progress_percentage for s in statuses.values()) / len(statuses), 2)
    assert avg == round(sum(r.progress_percentage for r in t.runs) / len(t.runs), 2)


def test_callers_in_several_threads_get_the_same_answers(tree):
    """Pylon's viewer asks from its callbacks' threads; every thread gets the whole, right answer."""
    from concurrent.futures import ThreadPoolExecutor

    from runwatch.pylon import get_all_run_status, get_run_status

    t, monitor = tree
    cfgs = configs_of(t)
    want = {f"./configs/{r.rel}.py": r.status for r in t.runs}

    def ask(i: int) -> dict[str, str]:
        if i % 2:
            return {c: s.status for c, s in get_all_run_status(cfgs, 100, 86400, 30, monitor, i % 3 == 0).items()}
        mapping = {}
        for recs in monitor.records.values():
            for rec in recs:
                mapping[rec.cmd.split("--config-filepath ")[1]] = rec
        return {c: get_run_status(c, 100, mapping, 86400, 30).status for c in cfgs}

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(12)))
    assert all(a == want for a in answers)


def test_plan_signature_is_told_apart_by_the_list_of_expected_files(tree):
    from runwatch.pylon import get_all_run_status

    t, monitor = tree
    cfgs = configs_of(t)
    shipped = {c: s.status for c, s in get_all_run_status(cfgs, 100, 86400, 30, monitor).items()}
    plan = {c: s.status for c, s in get_all_run_status(cfgs, EXPECTED, 100, 86400, 30, monitor).items()}
    mixed = {c: s.status for c, s in get_all_run_status(cfgs, EXPECTED, 100, sleep_time=86400, system_monitor=monitor).items()}
    assert shipped == plan == mixed


def test_signatures_are_pylons():
    import inspect

    from runwatch.pylon import get_all_run_status, get_run_status

    a = inspect.signature(get_all_run_status).parameters
    assert list(a)[:6] == ["config_files", "epochs", "sleep_time", "outdated_days", "system_monitor", "force_progress_recompute"]
    assert (a["sleep_time"].default, a["outdated_days"].default, a["system_monitor"].default) == (86400, 30, None)
    r = inspect.signature(get_run_status).parameters
    assert list(r)[:6] == ["config", "epochs", "config_to_process_info", "sleep_time", "outdated_days", "force_progress_recompute"]
    assert (r["sleep_time"].default, r["outdated_days"].default) == (86400, 30)
    with pytest.raises(TypeError, match="get_all_run_status"):
        get_all_run_status(["./configs/x.py"], 100, 180, 120, None, False, "one too many")


# ---------------------------------------------------------------- bullet 3: config_to_process_info of Pylon's ProcessInfo


def test_get_run_status_with_pylon_process_info(tree):
    from runwatch.pylon import get_run_status

    t, monitor = tree
    stuck = next(r for r in t.runs if r.status == "stuck")
    cfg = f"./configs/{stuck.rel}.py"
    (rec,) = [x for recs in monitor.records.values() for x in recs if x.cmd.endswith(cfg)]
    mapping = {cfg: rec}
    # Pylon's get_all_run_status maps it with keywords (functools.partial); and positionally.
    by_kw = get_run_status(cfg, epochs=100, config_to_process_info=mapping, sleep_time=86400, outdated_days=30)
    by_pos = get_run_status(cfg, 100, mapping, 86400, 30)
    by_plan = get_run_status(cfg, EXPECTED, 100, mapping, 86400, 30)
    for st in (by_kw, by_pos, by_plan):
        assert (st.status, st.process_info) == ("stuck", rec)
    # Without its process the same run is a failure, as in Pylon.
    assert get_run_status(cfg, 100, {}, 86400, 30).status == "failed"
    # Any spelling of the config as the key.
    assert get_run_status(cfg, 100, {os.path.abspath(cfg): rec}).status == "stuck"


# ---------------------------------------------------------------- bullet 4: the names Pylon's callers import


def test_parse_config_and_mapping_as_pylons():
    from runwatch.pylon.run_status import _build_config_to_process_mapping, parse_config

    assert parse_config("python main.py --config-filepath configs/exp1.py") == "configs/exp1.py"
    assert parse_config("python3 main.py --debug --config-filepath configs/test.py --verbose") == "configs/test.py"
    with pytest.raises(AssertionError):
        parse_config("python main.py --other-flag configs/exp1.py")
    a = PylonProcessInfo("12345", "u", "python main.py --config-filepath configs/exp1.py", "Mon Jan  1 10:00:00 2024")
    b = PylonProcessInfo("12346", "u", "some_other_process --not-config", "Mon Jan  1 11:00:00 2024")
    # GPUs as dicts (the launcher's) or as objects with .processes (a later monitor's), records as objects or dicts.
    gpus = [{"server": "s", "processes": [a, b]}, type("GPU", (), {"processes": [{"pid": "7", "cmd": "python main.py --config-filepath configs/exp2.py"}]})()]
    m = _build_config_to_process_mapping(gpus)
    assert m == {"configs/exp1.py": a, "configs/exp2.py": {"pid": "7", "cmd": "python main.py --config-filepath configs/exp2.py"}}


def test_cfg_log_conversion_relative_to_the_current_folder(sim):
    from runwatch.pylon.cfg_log_conversion import get_config, get_work_dir

    assert get_work_dir("./configs/benchmarks/cd/BiFA_run_0.py") == "./logs/benchmarks/cd/BiFA_run_0"
    assert get_work_dir("configs/a/b.py") == "./logs/a/b"
    assert get_work_dir(str(sim / "configs" / "a" / "b.py")) == "./logs/a/b"
    assert get_config("./logs/benchmarks/cd/BiFA_run_0") == "./configs/benchmarks/cd/BiFA_run_0.py"
    assert get_config("logs/a/b") == "./configs/a/b.py"


def test_check_file_loadable_and_check_epoch_finished(sim):
    from runwatch.pylon.run_status import check_epoch_finished, check_file_loadable

    cfg = sim_trainer(sim, "f/run", 1)
    run_to_end(sim, cfg)
    ep = "./logs/f/run/epoch_0"
    assert all(check_file_loadable(os.path.join(ep, f)) for f in EXPECTED)
    assert check_epoch_finished(ep, EXPECTED)
    with open(os.path.join(ep, "validation_scores.json"), "w") as f:
        f.write('{"aggregated": {"acc"')  # cut mid-write
    assert not check_file_loadable(os.path.join(ep, "validation_scores.json"))
    assert not check_epoch_finished(ep, EXPECTED)  # Pylon's default: check_load=True
    assert check_epoch_finished(ep, EXPECTED, check_load=False)
    with pytest.raises(AssertionError):
        check_file_loadable(os.path.join(ep, "missing.json"))
    with pytest.raises(AssertionError):
        check_file_loadable("./logs/f/run/train_val_0.log")


def test_get_log_last_update_default_pattern(sim):
    from runwatch.pylon.run_status import get_epoch_last_update, get_log_last_update

    cfg = sim_trainer(sim, "f/run", 1)
    run_to_end(sim, cfg)
    wd = "./logs/f/run"
    assert get_log_last_update(wd) == os.path.getmtime(os.path.join(wd, "train_val_0.log"))
    assert get_log_last_update(wd, "eval_*.log") is None
    assert get_log_last_update("./logs/never") is None
    assert get_epoch_last_update(wd, EXPECTED) == max(os.path.getmtime(os.path.join(wd, "epoch_0", f)) for f in EXPECTED)


def test_module_paths_mirror_pylons():
    import runwatch.pylon as top
    from runwatch.pylon import cfg_log_conversion, progress_tracking, run_status

    for name in ("BaseProgressTracker", "TrainerProgressTracker", "EvaluatorProgressTracker", "ProgressInfo", "create_progress_tracker"):
        assert getattr(progress_tracking, name) is getattr(top, name)
    for name in ("detect_runner_type", "get_session_progress", "check_epoch_finished", "check_file_loadable"):
        assert getattr(progress_tracking, name) is getattr(top, name)
    for name in ("get_all_run_status", "get_run_status", "RunStatus", "parse_config", "_build_config_to_process_mapping", "get_log_last_update"):
        assert getattr(run_status, name) is getattr(top, name)
    for name in ("get_session_progress", "ProgressInfo", "check_epoch_finished", "check_file_loadable", "get_epoch_last_update"):
        assert getattr(run_status, name) is getattr(top, name)
    assert cfg_log_conversion.get_work_dir is top.get_work_dir and cfg_log_conversion.get_config is top.get_config


# ---------------------------------------------------------------- bullet 5: the trackers


def test_get_progress_takes_pylons_later_keyword(sim):
    from runwatch.pylon import TrainerProgressTracker

    cfg = sim_trainer(sim, "t/run", 3)
    run_to_end(sim, cfg)
    config = {"runner": None, "epochs": 3}
    tr = TrainerProgressTracker("./logs/t/run", config)
    assert tr.config is config  # the dict that was passed
    p = tr.get_progress(force_progress_recompute=True)
    assert (p.completed_epochs, p.total_epochs, p.progress_percentage) == (3, 3, 100.0)
    assert tr.get_progress(force_refresh=True).completed_epochs == 3
    assert tr.get_progress(True).completed_epochs == 3
    assert tr.is_complete() and tr.get_runner_type() == "trainer"
    assert tr.get_expected_files() == EXPECTED and tr.get_log_pattern() == "train_val*.log"


def test_evaluator_tracker(sim):
    from runwatch.pylon import EvaluatorProgressTracker, create_progress_tracker

    ev = write_config(sim, "e/run", "{'runner': BaseEvaluator, 'work_dir': './logs/e/run', 'sim': {'iterations': 4}}")
    run_to_end(sim, ev)
    tr = create_progress_tracker("./logs/e/run")
    assert isinstance(tr, EvaluatorProgressTracker) and tr.config is None
    p = tr.get_progress(force_progress_recompute=True)
    assert (p.runner_type, p.completed_epochs, p.total_epochs, p.progress_percentage) == ("evaluator", 1, 1, 100.0)
    assert tr.is_complete() and tr.get_expected_files() == ["evaluation_scores.json"] and tr.get_log_pattern() == "eval_*.log"
    assert not os.path.exists("./logs/e/run/progress.json")  # evaluators get none


def test_list_config_stages_in_one_work_dir(sim):
    """``main.py`` runs a list config's stages one after another; sharing a work dir they end at the largest ``epochs``."""
    from test_pylon_sim import trainer_dict

    from runwatch.pylon import create_progress_tracker, get_all_run_status

    cfg = write_config(sim, "ms/run", f"[{trainer_dict('ms/run', 2)}, {trainer_dict('ms/run', 3)}]")
    run_to_end(sim, cfg)
    tr = create_progress_tracker("./logs/ms/run")
    p = tr.get_progress()
    assert (p.completed_epochs, p.total_epochs, p.progress_percentage) == (3, 3, 100.0) and tr.is_complete()
    assert get_all_run_status([cfg], 3, 0, 30, StandInMonitor())[cfg].status == "finished"


def test_subclass_without_is_complete_can_be_built(sim):
    from runwatch.pylon import BaseProgressTracker, ProgressInfo

    class CountingTracker(BaseProgressTracker):
        def get_runner_type(self):
            return "evaluator"

        def get_expected_files(self):
            return ["evaluation_scores.json"]

        def get_log_pattern(self):
            return "eval_*.log"

        def calculate_progress(self):
            done = os.path.isfile(os.path.join(self.work_dir, "evaluation_scores.json"))
            return ProgressInfo(completed_epochs=int(done), progress_percentage=100.0 * done, runner_type="evaluator", total_epochs=1)

    os.makedirs("./logs/e/run")
    tr = CountingTracker("./logs/e/run", {"runner": None})
    assert tr.get_progress().completed_epochs == 0 and not tr.is_complete()
    with open("./logs/e/run/evaluation_scores.json", "w") as f:
        f.write('{"aggregated": {}}')
    assert tr.get_progress().completed_epochs == 1 and tr.is_complete()  # no answer kept past a change


def test_trainer_without_config_reads_the_config_file_of_its_work_dir(sim):
    from runwatch.pylon import TrainerProgressTracker, get_session_progress

    cfg = sim_trainer(sim, "half/run", 4, scores=[0.5, 0.6, 0.7, 0.8])
    run_to_end(sim, cfg, env={"SIM_CRASH_AT_EPOCH": "2"}, check=False)
    wd = "./logs/half/run"
    assert sorted(n for n in os.listdir(wd) if n.startswith("epoch_") and os.path.isfile(os.path.join(wd, n, "validation_scores.json"))) == [
        "epoch_0",
        "epoch_1",
    ]
    p = get_session_progress(wd, EXPECTED)
    assert (p.completed_epochs, p.progress_percentage) == (2, 50.0)
    tr = TrainerProgressTracker(wd)
    assert tr.config is None
    p = tr.get_progress()
    assert (p.completed_epochs, p.total_epochs, p.progress_percentage) == (2, 4, 50.0)
    assert not tr.is_complete()


def test_run_status_work_dir_is_relative_as_pylon_gives_it(sim):
    from runwatch.pylon import get_all_run_status, get_run_status

    cfg = sim_trainer(sim, "w/run", 1)
    run_to_end(sim, cfg)
    never = sim_trainer(sim, "w/never", 1)
    st = get_all_run_status([cfg, never, str(sim / "configs" / "w" / "run.py")], 1, 86400, 30, StandInMonitor())
    assert st[cfg].work_dir == "./logs/w/run" and st[cfg].status == "finished"
    assert st[never].work_dir == "./logs/w/never" and st[never].status == "failed"  # never launched: failed alone, no exception
    assert st[str(sim / "configs" / "w" / "run.py")].work_dir == "./logs/w/run"
    assert get_run_status(cfg, 1, {}).work_dir == "./logs/w/run"


def test_detect_runner_type_plan_form_and_error_wording(sim):
    from runwatch.pylon import create_progress_tracker, detect_runner_type

    class SupervisedSingleTaskTrainer:
        pass

    class BaseEvaluator:
        pass

    os.makedirs("./logs/d/run")
    assert detect_runner_type("./logs/d/run", {"runner": {"class": SupervisedSingleTaskTrainer}}) == "trainer"
    assert detect_runner_type("./logs/d/run", {"runner": {"class": BaseEvaluator}}) == "evaluator"
    assert detect_runner_type("./logs/d/run", {"runner": BaseEvaluator}) == "evaluator"
    assert detect_runner_type("./logs/d/run", {"epochs": 3}) == "trainer"
    assert type(create_progress_tracker("./logs/d/run", {"runner": {"class": BaseEvaluator}})).__name__ == "EvaluatorProgressTracker"
    with pytest.raises(ValueError) as e:
        detect_runner_type("./logs/d/run", {"model": None})
    assert "Unable to detect runner type" in str(e.value) and "Cannot detect runner type" in str(e.value)
    assert "./logs/d/run" in str(e.value)


# ---------------------------------------------------------------- the three callers, end to end


def test_logs_snapshot_call_and_serialization(sim):
    """``agents/logs_snapshot.py``: every argument by keyword, expected_files included; the answer serialized."""
    from runwatch.pylon.run_status import RunStatus, get_all_run_status

    tr = sim_trainer(sim, "s/train", 2)
    ev = write_config(sim, "s/eval", "{'runner': BaseEvaluator, 'work_dir': './logs/s/eval', 'sim': {'iterations': 4}}")
    run_to_end(sim, tr)
    run_to_end(sim, ev)
    run_statuses = get_all_run_status(
        config_files=[tr, ev],
        expected_files=EXPECTED,
        epochs=100,
        sleep_time=0,
        outdated_days=30,
        system_monitor=StandInMonitor(),
    )
    # Completion from each config's own epochs (2), and the evaluator from its scores file.
    assert {c: s.status for c, s in run_statuses.items()} == {tr: "finished", ev: "finished"}
    assert run_statuses[ev].progress.runner_type == "evaluator"
    snap = {"timestamp": "2026-01-01_000000", "run_statuses": {c: s.to_dict() for c, s in run_statuses.items()}}
    doc = json.loads(json.dumps(snap))
    rec = doc["run_statuses"][tr]
    assert set(rec) == {"config", "work_dir", "progress", "status", "process_info"}
    assert (rec["work_dir"], rec["status"], rec["progress"]["completed_epochs"], rec["process_info"]) == ("./logs/s/train", "finished", 2, None)
    assert isinstance(run_statuses[tr], RunStatus)
    # Pylon's serialize_object (dataclasses.asdict, recursively) then a plain json.dump, as its snapshot saves it.
    saved = json.loads(json.dumps({"run_statuses": {c: dataclasses.asdict(s) for c, s in run_statuses.items()}}))
    assert saved["run_statuses"][ev]["progress"]["runner_type"] == "evaluator"


def test_launcher_loop_on_a_generated_tree(tree):
    """One pass of the launcher's ``spawn``: stuck processes found on their GPU, outdated work dirs, failed runs to relaunch."""
    from runwatch.pylon.cfg_log_conversion import get_work_dir
    from runwatch.pylon.run_status import get_all_run_status, parse_config

    t, monitor = tree
    cfgs = configs_of(t)
    all_running = list(get_all_run_status(config_files=cfgs, epochs=100, sleep_time=86400, outdated_days=30, system_monitor=monitor).values())
    stuck_cfgs = [run.config for run in all_running if run.status == "stuck"]
    to_kill = {}
    for gpu in monitor.connected_gpus:
        for proc in gpu["processes"]:
            if "python main.py --config-filepath" in proc.cmd and parse_config(proc.cmd) in stuck_cfgs:
                to_kill[parse_config(proc.cmd)] = (gpu["server"], proc.pid)
    assert sorted(to_kill) == sorted(f"./configs/{r.rel}.py" for r in t.runs if r.status == "stuck")
    outdated = [run.work_dir for run in all_running if run.status == "outdated"]
    assert outdated and all(os.path.isdir(w) and w.startswith("./logs/") for w in outdated)
    json.dumps([dataclasses.asdict(run) for run in all_running])  # the snapshot's serialization, for every kind of run
    missing = [run.config for run in all_running if run.status == "failed"]
    assert sorted(missing) == sorted(f"./configs/{r.rel}.py" for r in t.runs if r.status == "failed")
    assert all(get_work_dir(c) == next(r.work_dir for r in all_running if r.config == c) for c in missing)


# ---------------------------------------------------------------- where runwatch differs on purpose


def test_the_trainers_own_progress_json_is_never_rewritten(sim):
    from runwatch.pylon import TrainerProgressTracker, create_progress_tracker, get_all_run_status, get_session_progress

    cfg = sim_trainer(sim, "es/run", 10, patience=2, scores=[0.8, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    run_to_end(sim, cfg)
    before = every_progress_json(sim)
    assert before  # the trainer's own record
    st = get_all_run_status([cfg], 10, 0, 30, StandInMonitor(), True)[cfg]
    assert (st.status, st.progress.early_stopped, st.progress.early_stopped_at_epoch, st.progress.progress_percentage) == ("finished", True, 4, 100.0)
    get_session_progress("./logs/es/run", EXPECTED, True)
    TrainerProgressTracker("./logs/es/run").get_progress(force_progress_recompute=True)
    create_progress_tracker("./logs/es/run", {"epochs": 10}).get_progress()
    assert every_progress_json(sim) == before  # byte-identical


def test_a_malformed_progress_json_is_a_warning(sim):
    from runwatch.pylon import TrainerProgressTracker, get_session_progress

    cfg = sim_trainer(sim, "bad/run", 2)
    run_to_end(sim, cfg)
    with open("./logs/bad/run/progress.json", "w") as f:
        f.write('{"completed_epochs": 2, "progress_')
    p = get_session_progress("./logs/bad/run", EXPECTED)  # Pylon raised RuntimeError here
    assert (p.completed_epochs, p.progress_percentage) == (2, 100.0)
    assert any("progress.json" in w for w in p.warnings or [])
    assert TrainerProgressTracker("./logs/bad/run").get_progress().completed_epochs == 2


def test_no_stale_answer_after_a_file_changes(sim):
    """Pylon kept a tracker's answer for 5 seconds whatever happened; runwatch's changes with the files."""
    from runwatch.pylon import create_progress_tracker

    cfg = sim_trainer(sim, "c/run", 2)
    run_to_end(sim, cfg)
    tr = create_progress_tracker("./logs/c/run", {"epochs": 2})
    assert tr.get_progress().completed_epochs == 2
    os.remove("./logs/c/run/epoch_1/validation_scores.json")
    assert tr.get_progress().completed_epochs == 1  # at once, without forcing
    assert not tr.is_complete()

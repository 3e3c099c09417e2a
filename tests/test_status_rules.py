"""The decision table of docs/status.md, row by row, with every threshold at its boundary; and ETA, exactly.

These pin the values the status decision reports (mutation testing found that nothing
did: days read as hours, or an ETA one epoch short, passed every test).
"""

from __future__ import annotations

import json
import os
import random

import pytest

from runwatch.run_status.evidence import rhythm
from runwatch.run_status.rules import (
    ALIVE_AFTER_END,
    DEFAULT_SLEEP_CAP,
    CLEAN_END,
    JOB_END_REASONS,
    Decision,
    Evidence,
    Job,
    decide,
    decide_status,
    silence_limit,
    silent_for,
)

NOW = 1_000_000.0
DAY = 86400.0


def ev(**kw) -> Evidence:
    kw.setdefault("now", NOW)
    kw.setdefault("last_activity", NOW - 10)
    return Evidence(**kw)


# ---------------------------------------------------------------- the silence limit


@pytest.mark.parametrize(
    "kw,limit",
    [
        (dict(rhythm=100.0, stall_floor=600.0), 600.0),  # 5 x 100 = 500 < floor 600
        (dict(rhythm=120.0, stall_floor=600.0), 600.0),  # exactly the floor
        (dict(rhythm=121.0, stall_floor=600.0), 605.0),
        (dict(rhythm=200.0, stall_floor=600.0), 1000.0),
        (dict(rhythm=200.0, stall_floor=600.0, stall_factor=3.0), 600.0),
        (dict(rhythm=200.0, stall_floor=600.0, stall_factor=4.0), 800.0),
        (dict(rhythm=200.0, stall_floor=900.0), 1000.0),
        (dict(rhythm=200.0, stall_floor=1100.0), 1100.0),
        (dict(rhythm=200.0, stall_floor=600.0, sleep_time=700.0), 700.0),  # sleep_time caps the rhythm
        (dict(rhythm=200.0, stall_floor=600.0, sleep_time=1000.0), 1000.0),
        (dict(rhythm=200.0, stall_floor=600.0, sleep_time=1001.0), 1000.0),
        (dict(rhythm=50_000.0, stall_floor=600.0), DEFAULT_SLEEP_CAP),  # the plan's 86400 s caps it by default
        (dict(rhythm=17_280.0, stall_floor=600.0), 86400.0),
        (dict(rhythm=17_279.0, stall_floor=600.0), 86395.0),
        (dict(rhythm=100.0), 500.0),  # the default floor is a minute
        (dict(rhythm=12.0), 60.0),
        (dict(rhythm=12.2), 61.0),
        (dict(pulse_interval=0.25), 60.0),  # a line every 0.25 s: the floor decides
        (dict(pulse_interval=12.0), 60.0),
        (dict(pulse_interval=13.0), 65.0),
        (dict(pulse_interval=13.0, stall_factor=4.0), 60.0),
        (dict(pulse_interval=13.0, stall_floor=70.0), 70.0),
        (dict(pulse_interval=0.25, rhythm=1000.0), 60.0),  # the pulse wins over the epochs
        (dict(pulse_interval=0.25, pulse_gap=40.0), 60.0),  # 1.5 x 40 = floor
        (dict(pulse_interval=0.25, pulse_gap=41.0), 61.5),
        (dict(pulse_interval=0.25, pulse_gap=100.0, gap_margin=2.0), 200.0),
        (dict(pulse_interval=20.0, pulse_gap=60.0), 100.0),  # 5 x 20 > 1.5 x 60
        (dict(pulse_gap=100.0), 150.0),  # a learned pause alone (a new session's start)
        (dict(pulse_gap=0.2, stall_floor=0.5), 0.5),  # no pace: nothing from it, not a second
        (dict(pulse_gap=0.2, stall_floor=0.1), 0.30000000000000004),
        (dict(pulse_interval=0.25, pulse_gap=100.0, sleep_time=120.0), 120.0),
        (dict(pulse_interval=100_000.0), DEFAULT_SLEEP_CAP),
        (dict(), 3600.0),  # no rhythm, no sleep_time: stall_default
        (dict(stall_default=100.0), 100.0),
        (dict(stall_default=90_000.0), 86400.0),
        (dict(sleep_time=50.0), 50.0),  # no rhythm: an explicit sleep_time decides
        (dict(sleep_time=90_000.0), 90_000.0),
    ],
)
def test_silence_limit(kw, limit):
    assert silence_limit(ev(**kw)) == limit


def test_silent_for():
    assert silent_for(ev(last_activity=NOW - 7)) == 7.0
    assert silent_for(ev(last_activity=NOW + 5)) == 0.0  # a clock ahead is not negative silence
    assert silent_for(ev(last_activity=None)) is None


@pytest.mark.parametrize("process,silent_status", [("alive", ("stuck", "stalled")), ("none", ("failed", "stalled")), ("unknown", ("failed", "stalled"))])
def test_silence_boundary(process, silent_status):
    limit = 600.0
    at_limit = decide(ev(process=process, rhythm=100.0, stall_floor=600.0, last_activity=NOW - limit))
    past = decide(ev(process=process, rhythm=100.0, stall_floor=600.0, last_activity=NOW - limit - 0.001))
    assert (at_limit.status, at_limit.reason) == ("running", None)
    assert (past.status, past.reason) == silent_status


# ---------------------------------------------------------------- rows


def test_row_1a_alive_with_traceback_is_stuck_crashed():
    d = decide(ev(process="alive", log_end="traceback", error_line="ValueError: x"))
    assert d == Decision("stuck", "crashed", "ValueError: x ends the log, but the process is still alive")
    assert decide(ev(process="alive", log_end="traceback", error_line="MemoryError")).reason == "oom"
    assert decide(ev(process="alive", log_end="traceback", error_line=None)).detail == "a traceback ends the log, but the process is still alive"
    # complete runs are not stuck on a traceback
    assert decide(ev(process="alive", log_end="traceback", complete=True)).status == "running"


def test_row_1b_alive_silent_complete_is_finished_or_outdated():
    assert decide(ev(process="alive", complete=True, last_activity=NOW - 4000)) == Decision("finished")
    assert decide(ev(process="alive", complete=True, last_activity=NOW - 4000, artifact_last_update=NOW - 31 * DAY)) == Decision("outdated")


def test_row_1c_alive_silent_is_stuck_stalled_with_detail():
    d = decide(ev(process="alive", rhythm=200.0, last_activity=0.0))
    assert (d.status, d.reason) == ("stuck", "stalled")
    assert d.detail == "process alive but silent since 1970-01-01 00:00:00 UTC, longer than the limit of 1000 s (5x its median epoch interval of 200 s)"
    d = decide(ev(process="alive", sleep_time=30.0, last_activity=0.0))
    assert d.detail.endswith("longer than the limit of 30 s (sleep_time 30 s)")
    d = decide(ev(process="alive", last_activity=0.0))
    assert d.detail.endswith("longer than the limit of 3600 s (the default limit)")
    d = decide(ev(process="alive", rhythm=200.0, sleep_time=30.0, last_activity=0.0))
    assert d.detail.endswith("(sleep_time 30 s)")


def test_row_1d_alive_is_running():
    assert decide(ev(process="alive")) == Decision("running")
    assert decide(ev(process="alive", complete=True)) == Decision("running")  # still writing test results


def test_row_1e_stopped():
    assert decide(ev(process="stopped")) == Decision("stuck", "stopped", "the process is stopped (state T)")
    assert decide(ev(process="stopped", process_detail="p")) == Decision("stuck", "stopped", "p")
    assert decide(ev(process="stopped", complete=True)).status == "stuck"


@pytest.mark.parametrize("state,reason", [("PENDING", "pending"), ("REQUEUED", "requeued"), ("REQUEUE_HOLD", "requeued"), ("RESV_DEL_HOLD", "pending")])
def test_row_2_queued(state, reason):
    assert decide(ev(job=Job("7", state))) == Decision("queued", reason, f"Slurm job 7 {state}")
    # an alive process wins over a queued job
    assert decide(ev(process="alive", job=Job("7", state))).status == "running"


def test_row_3_outdated_boundary_is_days_not_hours():
    exactly = ev(complete=True, artifact_last_update=NOW - 30 * DAY)
    assert decide(exactly) == Decision("finished")
    assert decide(ev(complete=True, artifact_last_update=NOW - 30 * DAY - 0.001)) == Decision("outdated")
    assert decide(ev(complete=True, artifact_last_update=NOW - 2 * 3600, outdated_days=1)) == Decision("finished")
    assert decide(ev(complete=True, artifact_last_update=NOW - DAY - 1, outdated_days=1)) == Decision("outdated")
    assert decide(ev(complete=True, artifact_last_update=None)) == Decision("finished")
    assert decide(ev(complete=True, last_activity=0.0)) == Decision("finished")  # old but complete: never stalled


def test_row_3_clean_end_line_is_finished():
    assert decide(ev(log_end="end", last_activity=0.0)) == Decision("finished")
    assert decide(ev(log_end="end", artifact_last_update=NOW - 40 * DAY)) == Decision("outdated")


@pytest.mark.parametrize("state", sorted(JOB_END_REASONS))
def test_row_4_job_end_states(state):
    d = decide(ev(job=Job("12", state, exit_code=0 if state != "FAILED" else 2)))
    assert d.status == "failed" and d.reason == JOB_END_REASONS[state]
    assert d.detail == f"Slurm job 12 {state}, exit code {0 if state != 'FAILED' else 2}"


def test_row_4_details():
    assert decide(ev(job=Job("3", "FAILED", 1, 9), error_line="KeyError: 'x'")) == Decision(
        "failed", "crashed", "Slurm job 3 FAILED, exit code 1, signal 9: KeyError: 'x'"
    )
    assert decide(ev(job=Job("3", "FAILED", 1), error_line="torch.OutOfMemoryError: CUDA out of memory")).reason == "oom"
    assert decide(ev(job=Job("3", "TIMEOUT"))).detail == "Slurm job 3 TIMEOUT"
    assert decide(ev(job=Job("3", "TIMEOUT"), complete=True)) == Decision("finished")  # complete wins


def test_row_5_config_error_then_never_started():
    assert decide(ev(config_error="bad", work_dir_exists=False)) == Decision("failed", "config_error", "bad")
    assert decide(ev(work_dir_exists=False, last_activity=None)) == Decision("failed", "never_started", "no work dir: the run was never launched")
    assert decide(ev(work_dir_exists=False, process="alive")).status == "running"  # just launched


def test_row_6_crash():
    assert decide(ev(log_end="traceback", error_line="ValueError: v", error_source="log")) == Decision("failed", "crashed", "ValueError: v")
    assert decide(ev(error_line="ValueError: v", error_source="collector", last_activity=NOW)) == Decision("failed", "crashed", "ValueError: v")
    # an exception line from the log that does not end it is no crash
    assert decide(ev(error_line="ValueError: v", error_source="log")) == Decision("running")
    for line in ("MemoryError", "torch.OutOfMemoryError: x", "RuntimeError: CUDA out of memory. Tried", "RuntimeError: Out Of Memory"):
        assert decide(ev(log_end="traceback", error_line=line)).reason == "oom"
    assert decide(ev(log_end="traceback", error_line="MemoryErrorish: no")).reason == "crashed"


def test_row_7_exited():
    assert decide(ev(process="gone")) == Decision("failed", "exited", "the process exited before the last epoch")
    assert decide(ev(process="gone", process_detail="pid 5 exited")) == Decision("failed", "exited", "pid 5 exited")
    assert decide(ev(job=Job("4", "COMPLETED", 0))) == Decision("failed", "exited", "Slurm job 4 COMPLETED (exit code 0) before the last epoch")
    assert decide(ev(job=Job("4", "COMPLETED", None))).detail == "Slurm job 4 COMPLETED (exit code 0) before the last epoch"
    assert decide(ev(process="gone", complete=True)) == Decision("finished")


def test_row_8_silence_and_no_activity():
    assert decide(ev(last_activity=None)) == Decision("failed", "stalled", "no log or artifact written yet")
    assert decide(ev(last_activity=NOW - 3601)).reason == "stalled"
    assert decide(ev(last_activity=NOW - 3600)) == Decision("running")


def test_old_decide_status_signature():
    kw = dict(now=100.0, sleep_time=10, outdated_days=5)
    assert decide_status(log_last_update=95.0, complete=False, artifact_last_update=None, has_live_process=False, **kw) == "running"
    assert decide_status(log_last_update=89.0, complete=False, artifact_last_update=None, has_live_process=False, **kw) == "failed"
    assert decide_status(log_last_update=90.0, complete=False, artifact_last_update=None, has_live_process=False, **kw) == "running"
    assert decide_status(log_last_update=0.0, complete=False, artifact_last_update=None, has_live_process=True, has_queued_job=True, **kw) == "stuck"


# ---------------------------------------------------------------- rhythm


class _E:
    def __init__(self, d, finished=True):
        self.duration, self.finished = d, finished


class _D:
    def __init__(self, durations):
        self.epochs = [_E(d) for d in durations]


def test_rhythm_is_the_median_of_the_last_five():
    assert rhythm(None) is None
    assert rhythm(_D([100.0])) is None  # one interval (with start-up in it) is no rhythm
    assert rhythm(_D([100.0, 300.0])) == 200.0
    assert rhythm(_D([1.0, 2.0, 3.0])) == 2.0
    assert rhythm(_D([1000.0, 1.0, 2.0, 3.0, 4.0, 5.0])) == 3.0  # the oldest falls out of the window
    assert rhythm(_D([9.0, 9.0, 1.0, 2.0, 3.0, 4.0])) == 3.0
    d = _D([5.0, 7.0])
    d.epochs.append(_E(None))
    d.epochs.append(_E(1000.0, finished=False))
    assert rhythm(d) == 6.0


# ---------------------------------------------------------------- ETA, exactly


def _trainer_dir(tmp_path, durations, total):
    from runwatch.testing.generator import write_epoch, write_project_sources

    root = tmp_path / "p"
    write_project_sources(str(root))
    (root / "configs" / "x").mkdir(parents=True)
    (root / "configs" / "x" / "r.py").write_text(
        "from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer\n"
        f"config = {{'runner': SupervisedSingleTaskTrainer, 'epochs': {total}, 'work_dir': './logs/x/r'}}\n"
    )
    wd = root / "logs" / "x" / "r"
    wd.mkdir(parents=True)
    import time

    t0 = time.time() - sum(durations) - 10
    for name in ("config.json", "git_0.log"):
        (wd / name).write_text("x")
        os.utime(wd / name, (t0, t0))
    t = t0
    for n, d in enumerate(durations):
        t += d
        write_epoch(str(wd), n, {"loss": 0.1}, t, 2, random.Random(n))
    (wd / "train_val_0.log").write_text("Training [Epoch 0/1]\n")
    os.utime(wd / "train_val_0.log", (t, t))
    return root


@pytest.mark.parametrize(
    "durations,total,eta",
    [
        ([100.0, 200.0, 300.0], 10, 200.0 * 7),
        ([100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 400.0], 10, (100.0 * 4 + 400.0) / 5 * 3),  # the last 5 only
        ([50.0], 2, 50.0),
        ([0.25, 0.25, 0.25], 5, 0.5),  # sub-second epochs (a duration is never rounded up)
        ([60.0, 60.0], 2, None),  # complete: no ETA
    ],
)
def test_eta_is_mean_recent_epoch_times_remaining_epochs(tmp_path, durations, total, eta):
    from runwatch import get_all_run_status

    root = _trainer_dir(tmp_path, durations, total)
    cfg = str(root / "configs" / "x" / "r.py")
    rs = get_all_run_status([cfg], root=str(root), find_processes=False, use_store=False, sleep_time=10**9)[cfg]
    assert rs.progress.completed_epochs == len(durations)
    if eta is None:
        assert rs.eta_seconds is None and rs.status == "finished"
    else:
        assert rs.status == "running" and rs.eta_seconds == pytest.approx(eta, abs=1e-6)
    assert json.loads(json.dumps(rs.to_json_record()))["eta_seconds"] == rs.eta_seconds


def test_no_eta_for_a_complete_run_whose_process_still_runs(tmp_path):
    """Running (the process writes its test results), but nothing is left to estimate."""
    import time

    from runwatch import ProcessInfo, ProcessSnapshot, get_all_run_status

    root = _trainer_dir(tmp_path, [60.0, 60.0], 2)
    cfg = str(root / "configs" / "x" / "r.py")
    proc = ProcessInfo(pid=1, user="u", cmd="python main.py --config-filepath ./configs/x/r.py", start_time=time.time() - 200, server="gpu-1", config_rel="x/r")
    rs = get_all_run_status([cfg], root=str(root), system_monitor=ProcessSnapshot(processes=[proc]), use_store=False)[cfg]
    assert (rs.status, rs.eta_seconds) == ("running", None)


# ---------------------------------------------------------------- generated trees carry the evidence


def test_generated_trees_reasons_follow_the_table(tmp_path):
    from test_run_status import check_answers

    from runwatch import get_all_run_status
    from runwatch.testing.generator import EVAL_SCENARIOS, EVIDENCE_SCENARIOS, TRAINER_SCENARIOS, generate_tree

    tree = generate_tree(
        str(tmp_path / "proj"),
        n_runs=len(TRAINER_SCENARIOS + EVAL_SCENARIOS + EVIDENCE_SCENARIOS) * 2,
        seed=3,
        scenarios=TRAINER_SCENARIOS + EVAL_SCENARIOS + EVIDENCE_SCENARIOS,
        multi_stage=0,
    )
    paths = {r.rel: r.config_path for r in tree.runs}
    result = get_all_run_status(list(paths.values()), root=tree.root, system_monitor=tree.snapshot())
    check_answers(tree, result, paths)
    got = {r.rel: (result[paths[r.rel]].reason, result[paths[r.rel]].error_source) for r in tree.runs}
    want = {r.rel: (r.reason, r.error_source) for r in tree.runs}
    assert got == want
    crashed = [result[paths[r.rel]] for r in tree.runs if r.scenario == "crashed_output"]
    assert crashed and all(rs.error_line == "KeyError: 'labels'" and rs.output_tail[-1] == "KeyError: 'labels'" for rs in crashed)


# ---------------------------------------------------------------- process evidence


def test_job_from_a_process_record():
    from runwatch.process_info import ProcessInfo
    from runwatch.run_status.evidence import _job

    def info(**kw):
        return ProcessInfo(pid=1, user="u", cmd="c", **kw)

    assert _job(None) is None and _job(info()) is None
    assert _job(info(job_id="9", state="running")) == Job("9", "RUNNING", None, None)
    assert _job(info(job_id="9", state="queued")) == Job("9", "PENDING", None, None)
    assert _job(info(job_id="9", state="stopped")) == Job("9", "SUSPENDED", None, None)
    assert _job(info(job_id="9", state="ended")) == Job("9", "RUNNING", None, None)
    assert _job(info(job_id="9", state="ended", job_state="TIMEOUT", exit_code=0, signal=15)) == Job("9", "TIMEOUT", 0, 15)


def test_remembered_process_evidence(tmp_path):
    import time

    import psutil

    from runwatch.process_info import ProcessSnapshot
    from runwatch.run_status.process_memory import local_state, local_states_changed, remembered_evidence
    from runwatch.process_info import ProcessInfo

    me = psutil.Process()
    mine = {"server": None, "pid": me.pid, "start_time": me.create_time(), "source": "local", "job_id": None, "seen_at": time.time()}
    local = ProcessSnapshot(sources=["local"])
    assert local_state(me.pid, me.create_time()) == "alive"
    assert local_state(me.pid, me.create_time() - 0.05) == "gone"  # the same pid, another start: PID reuse
    assert local_state(me.pid, me.create_time() - 0.019) == "alive"
    assert local_state(2**22 + 12345, None) == "gone"
    assert remembered_evidence(mine, local, True) == ("alive", f"process {me.pid} on this machine is alive")
    assert remembered_evidence(mine, local, False)[0] == "unknown"
    dead = dict(mine, pid=2**22 + 12345)
    assert remembered_evidence(dead, local, True) == ("gone", f"process {2**22 + 12345} on this machine has exited")
    remote = dict(mine, server="gpu-1", source="ssh")
    assert remembered_evidence(remote, ProcessSnapshot(sources=["ssh"], hosts=["gpu-1"]), True) == (
        "gone",
        f"process {me.pid} on gpu-1 has exited (ssh no longer lists it)",
    )
    assert remembered_evidence(remote, ProcessSnapshot(sources=["ssh"], hosts=["gpu-2"]), True)[0] == "unknown"  # gpu-1 not seen
    assert remembered_evidence(remote, ProcessSnapshot(sources=["ssh"], hosts=["gpu-1"], errors={"gpu-1": "x"}), True)[0] == "unknown"
    job = dict(mine, server="slurm", source="slurm", job_id="42")
    assert remembered_evidence(job, ProcessSnapshot(hosts=["slurm"]), True) == ("gone", "job 42 on slurm has exited (slurm no longer lists it)")
    alive = ProcessInfo(pid=me.pid, user="u", cmd="c", start_time=me.create_time())
    assert not local_states_changed([alive])
    assert local_states_changed([ProcessInfo(pid=me.pid, user="u", cmd="c", start_time=me.create_time(), state="stopped")])
    assert local_states_changed([ProcessInfo(pid=2**22 + 12345, user="u", cmd="c", start_time=1.0)])
    assert not local_states_changed([ProcessInfo(pid=2**22 + 12345, user="u", cmd="c", server="gpu-1")])  # not local: not asked
    assert not local_states_changed([ProcessInfo(pid=2**22 + 12345, user="u", cmd="c", state="queued")])


def test_a_clock_that_moved_does_not_make_a_live_process_read_exited(tmp_path):
    """psutil's create time is the boot time plus the start from boot, and on Linux the boot time is the wall
    clock minus the time since boot, read anew each call: setting or slewing the clock moves it by whole
    seconds. A process remembered with its start from boot is checked by that, which never moves."""
    import time

    import psutil

    from runwatch.process_info import ProcessInfo, ProcessSnapshot
    from runwatch.readers.proc_start import boot_start
    from runwatch.run_status.process_memory import ProcessMemory, remembered_evidence

    me = psutil.Process()
    if boot_start(me.pid) is None:
        pytest.skip("no /proc here")
    mem = ProcessMemory(str(tmp_path / "c" / "processes.json"))
    mem.observe(
        ProcessSnapshot(
            processes=[ProcessInfo(pid=me.pid, user="u", cmd="python main.py", start_time=me.create_time(), config_rel="a/b", source="local")],
            sources=["local"],
        )
    )
    entry = mem.last("a/b")
    assert entry is not None and abs(entry["boot_start"] - boot_start(me.pid)) < 1e-9
    local = ProcessSnapshot(sources=["local"])
    # The wall clock was set back a second since the snapshot: the remembered create time is one second off.
    moved = dict(entry, start_time=entry["start_time"] + 1.0)
    assert remembered_evidence(moved, local, True) == ("alive", f"process {me.pid} on this machine is alive")
    # The same PID, started at another tick since boot: another process, whatever the wall clock says.
    reused = dict(entry, boot_start=entry["boot_start"] - 0.5)
    assert remembered_evidence(reused, local, True) == ("gone", f"process {me.pid} on this machine has exited")
    # Older memories (no start from boot) and damaged ones compare the create time, as before.
    for old in (dict(entry, boot_start=None), dict(entry, boot_start="soon"), {k: v for k, v in entry.items() if k != "boot_start"}):
        assert remembered_evidence(old, local, True)[0] == "alive"
        assert remembered_evidence(dict(old, start_time=entry["start_time"] + 1.0), local, True)[0] == "gone"
    # Another machine's process has no start from boot here.
    remote = ProcessInfo(pid=me.pid, user="u", cmd="python main.py", start_time=time.time(), server="gpu-1", config_rel="c/d", source="ssh")
    mem.observe(ProcessSnapshot(processes=[remote], sources=["ssh"], hosts=["gpu-1"]))
    assert mem.last("c/d")["boot_start"] is None


def test_process_memory_round_trip(tmp_path):
    from runwatch.process_info import ProcessInfo, ProcessSnapshot
    from runwatch.run_status.process_memory import ProcessMemory

    path = str(tmp_path / "c" / "processes.json")
    mem = ProcessMemory(path)
    p = ProcessInfo(pid=5, user="u", cmd="python main.py", start_time=10.0, server="gpu-1", config_rel="a/b", source="ssh")
    mem.observe(
        ProcessSnapshot(
            processes=[
                p,
                ProcessInfo(pid=6, user="u", cmd="x", config_rel="a/c", debug=True),
                ProcessInfo(pid=7, user="u", cmd="x", config_rel="a/d", state="queued", job_id="3"),
            ]
        )
    )
    again = ProcessMemory(path)  # a new process reads what the first remembered
    entry = again.last("a/b")
    assert (entry["server"], entry["pid"], entry["start_time"], entry["source"]) == ("gpu-1", 5, 10.0, "ssh")
    assert again.last("a/c") is None and again.last("a/d") is None  # debug runs and queued jobs are not remembered
    (tmp_path / "c" / "processes.json").write_text("{not json")
    assert ProcessMemory(path).last("a/b") is None  # a damaged memory only forgets


def test_old_decide_status_defaults_are_the_plans():
    now = 100 * DAY
    base = dict(now=now, complete=False, artifact_last_update=None, has_live_process=False)
    assert decide_status(log_last_update=now - 86400, **base) == "running"
    assert decide_status(log_last_update=now - 86400.5, **base) == "failed"
    done = dict(now=now, log_last_update=None, complete=True, has_live_process=False)
    assert decide_status(artifact_last_update=now - 30 * DAY, **done) == "finished"
    assert decide_status(artifact_last_update=now - 30 * DAY - 1, **done) == "outdated"


def test_config_path_in_a_command_is_matched_as_a_whole_path():
    from runwatch.readers.run_output import _config_pattern

    pat = _config_pattern("configs", "a/run_1")
    for cmd in (
        "python main.py --config-filepath ./configs/a/run_1.py",
        "python main.py --config-filepath=configs/a/run_1.py --debug",
        "/opt/py main.py --config-filepath /home/u/p/configs/a/run_1.py",
        "python main.py --config-filepath 'configs/a/run_1.py'",
    ):
        assert pat.search(cmd), cmd
    for cmd in (
        "python main.py --config-filepath ./configs/a/run_10.py",
        "python main.py --config-filepath ./myconfigs/a/run_1.py",
        "python main.py --config-filepath ./configs/b/a/run_1.py",
        "python main.py --config-filepath ./configs/a/run_1.pyc",
    ):
        assert not pat.search(cmd), cmd


# ---------------------------------------------------------------- gather: evidence from files


def _project(tmp_path, toml=""):
    from runwatch.project import Project

    root = tmp_path / "proj"
    (root / "configs" / "a").mkdir(parents=True)
    (root / "configs" / "a" / "r.py").write_text("config = {}\n")
    (root / "runwatch.toml").write_text("tmux_output = false\n" + toml)
    wd = root / "logs" / "a" / "r"
    wd.mkdir(parents=True)
    return Project.at(root), wd


def _gather(project, wd, **kw):
    from evidence_helpers import gather_quiet

    return gather_quiet(project, kw.pop("work_dir", wd), **{"rel": "a/r", **kw})


TB = 'Traceback (most recent call last):\n  File "main.py", line 3, in <module>\n    f()\nValueError: bad\n'


def test_gather_reads_the_log_end_only_for_incomplete_runs(tmp_path):
    project, wd = _project(tmp_path)
    (wd / "train_val_0.log").write_text("epoch 1\n" + TB)
    v = _gather(project, wd, newest_log="train_val_0.log")
    assert (v.decision.status, v.decision.reason, v.error_line, v.error_source) == ("failed", "crashed", "ValueError: bad", "log")
    assert v.output_tail[-1] == "ValueError: bad" and v.output_tail[0] == "epoch 1"
    v = _gather(project, wd, newest_log="train_val_0.log", complete=True)
    assert (v.decision.status, v.error_line, v.output_tail, v.error_source) == ("finished", None, None, None)
    (wd / "train_val_0.log").write_text(TB + "epoch 2\nepoch 3\nepoch 4\nepoch 5\n")  # the run went on after it
    v = _gather(project, wd, newest_log="train_val_0.log")
    assert (v.decision.status, v.error_line) == ("running", None)
    (wd / "train_val_0.log").write_text("epoch 1\nTraining stopped early at epoch 4\n")
    assert _gather(project, wd, newest_log="train_val_0.log").decision.status == "finished"


def test_gather_finds_output_by_glob_and_slurm_files(tmp_path):
    from runwatch.process_info import ProcessInfo

    project, wd = _project(tmp_path, 'output_globs = ["out/{name}.txt"]\n')
    (tmp_path / "proj" / "out").mkdir()
    (tmp_path / "proj" / "out" / "r.txt").write_text(TB.replace("ValueError: bad", "MemoryError"))
    v = _gather(project, wd)
    assert (v.decision.reason, v.error_line, v.error_source) == ("oom", "MemoryError", "output_glob")
    job_out = tmp_path / "slurm-77.out"
    job_out.write_text(TB)
    proc = ProcessInfo(
        pid=77,
        user="u",
        cmd="",
        server="slurm",
        config_rel="a/r",
        state="ended",
        source="slurm",
        job_id="77",
        job_state="FAILED",
        exit_code=1,
        stdout=str(tmp_path / "slurm-%j.out"),
        stderr=str(tmp_path / "slurm-%j.out"),
    )
    v = _gather(project, wd, proc=proc)
    assert (v.decision.status, v.decision.reason, v.error_source) == ("failed", "crashed", "slurm_output")
    assert v.decision.detail == "Slurm job 77 FAILED, exit code 1: ValueError: bad"
    queued = ProcessInfo(pid=78, user="u", cmd="", server="slurm", config_rel="a/r", state="queued", source="slurm", job_id="78")
    v = _gather(project, wd, proc=queued)
    assert (v.decision.status, v.decision.reason, v.error_source) == ("queued", "pending", None)  # a waiting job's old output is not read


def test_gather_uses_the_settings_limits_and_arguments(tmp_path):
    import time

    from runwatch.progress_tracking.base_progress_tracker import EpochRecord, RunDetails

    project, wd = _project(tmp_path, "stall_factor = 2.0\nstall_floor = 10\nstall_default = 20\n")
    details = RunDetails(epochs=[EpochRecord(i, True, duration=d) for i, d in enumerate([9.0, 8.0, 8.0])])
    now = time.time()
    assert _gather(project, wd, now=now, last_activity=now - 16, details=details).decision.status == "running"  # 2 x 8 = 16
    assert _gather(project, wd, now=now, last_activity=now - 16.5, details=details).decision.reason == "stalled"
    assert _gather(project, wd, now=now, last_activity=now - 20).decision.status == "running"  # no rhythm: stall_default
    assert _gather(project, wd, now=now, last_activity=now - 20.5).decision.status == "failed"
    assert _gather(project, wd, now=now, last_activity=now - 20.5, sleep_time=100).decision.status == "running"
    assert _gather(project, wd, now=now, last_activity=now - 14, details=details, sleep_time=12).decision.status == "failed"
    old = _gather(project, wd, now=now, complete=True, artifact_last=now - 3 * DAY, outdated_days=2)
    assert old.decision.status == "outdated"
    assert _gather(project, wd, now=now, complete=True, artifact_last=now - 3 * DAY, outdated_days=4).decision.status == "finished"
    v = _gather(project, wd, config_error="configs/a/r.py: no runner", last_activity=None, work_dir=str(wd.parent / "nope"))
    assert (v.decision.reason, v.decision.detail) == ("config_error", "configs/a/r.py: no runner")
    v = _gather(project, wd, last_activity=None, work_dir=str(wd.parent / "nope"))
    assert v.decision.reason == "never_started"
    v = _gather(project, wd, last_activity=None)  # the work dir exists, nothing written yet
    assert v.decision == Decision("failed", "stalled", "no log or artifact written yet")
    v = _gather(project, wd, last_activity=now - 100, process_errors={"gpu-1": "refused", "gpu-2:gpu": "no smi"})
    assert v.decision.status == "failed" and v.decision.detail.endswith("it may be stuck")


def test_row_8_unknown_process_says_so():
    d = decide(ev(process="unknown", last_activity=None))
    assert d == Decision(
        "failed", "stalled", "no log or artifact written yet; its process could not be checked (a process source could not be asked): it may be stuck"
    )
    assert decide(ev(process="none", last_activity=None)).detail == "no log or artifact written yet"


def test_process_evidence_paths(tmp_path):
    import psutil

    from runwatch.process_info import ProcessInfo, ProcessSnapshot
    from runwatch.run_status.evidence import _process_evidence, remember

    project, wd = _project(tmp_path)
    assert _process_evidence(project, "a/r", None, None) == ("none", None)
    assert _process_evidence(project, "a/r", None, {"gpu-1:gpu": "no smi"}) == ("none", None)
    assert _process_evidence(project, "a/r", None, {"gpu-1": "refused"}) == ("unknown", None)
    stopped = ProcessInfo(pid=12, user="u", cmd="c", state="stopped")
    assert _process_evidence(project, "a/r", stopped, None) == ("stopped", "process 12 on this machine is stopped (state T: SIGSTOP or a debugger)")
    job = ProcessInfo(pid=12, user="u", cmd="c", state="stopped", job_id="5", server="slurm")
    assert _process_evidence(project, "a/r", job, None) == ("stopped", "job 5 on slurm is stopped (state T: SIGSTOP or a debugger)")
    assert _process_evidence(project, "a/r", ProcessInfo(pid=1, user="u", cmd="c", state="ended", job_id="5"), None) == ("gone", None)
    # A remembered local process that has exited: gone when this machine was asked, unknown otherwise.
    dead = ProcessInfo(pid=2**22 + 7, user="u", cmd="python main.py", start_time=5.0, config_rel="a/r")
    remember(project, ProcessSnapshot(processes=[dead], sources=["local"]))
    remember(project, ProcessSnapshot(sources=["local"]))
    assert _process_evidence(project, "a/r", None, None) == ("gone", f"process {2**22 + 7} on this machine has exited")
    queued = ProcessInfo(pid=9, user="u", cmd="c", state="queued", job_id="9")
    assert _process_evidence(project, "a/r", queued, None) == ("none", None)  # a relaunch waiting: the old process is no news
    remember(project, ProcessSnapshot(sources=["local"], errors={"local": "boom"}))
    assert _process_evidence(project, "a/r", None, None)[0] == "unknown"
    remember(project, ProcessSnapshot(sources=["ssh"]))
    assert _process_evidence(project, "a/r", None, None)[0] == "unknown"
    v = _gather(project, wd, last_activity=None)
    assert v.decision.detail.startswith("no log or artifact written yet") and v.decision.reason == "stalled"
    remember(project, ProcessSnapshot(sources=["local"]))
    v = _gather(project, wd)
    assert v.decision == Decision("failed", "exited", f"process {2**22 + 7} on this machine has exited")
    me = psutil.Process()
    alive = ProcessInfo(pid=me.pid, user="u", cmd="python main.py", start_time=me.create_time(), config_rel="a/r")
    (tmp_path / "proj" / "out").mkdir()
    (tmp_path / "proj" / "out" / "r.txt").write_text(TB)
    project2, _ = _project(tmp_path / "two", 'output_globs = ["out/{name}.txt"]\n')
    (tmp_path / "two" / "proj" / "out").mkdir()
    (tmp_path / "two" / "proj" / "out" / "r.txt").write_text(TB)
    for proc in (alive, ProcessInfo(pid=me.pid, user="u", cmd="c", state="stopped", config_rel="a/r")):
        v = _gather(project2, wd, proc=proc)  # an alive or stopped process: its output is not read
        assert v.error_line is None and v.output_tail is None
    requeued = ProcessInfo(pid=9, user="u", cmd="", server="slurm", state="queued", job_id="9", job_state="REQUEUED")
    v = _gather(project2, wd, proc=requeued)
    assert (v.decision.reason, v.error_line) == ("requeued", None)


def test_gather_custom_end_line_and_collector_spellings(tmp_path):
    import json
    import time

    project, wd = _project(tmp_path, 'log_end_patterns = ["^ALL DONE$"]\n')
    (wd / "train_val_0.log").write_text("x\nALL DONE\n")
    assert _gather(project, wd, newest_log="train_val_0.log").decision.status == "finished"
    (wd / "train_val_0.log").write_text("x\nTraining stopped early at epoch 3\n")  # not this project's end line
    assert _gather(project, wd, newest_log="train_val_0.log", last_activity=None).decision.status == "failed"
    now = time.time()
    own = tmp_path / "proj" / ".runwatch-cache" / "collector-events.jsonl"
    own.parent.mkdir(parents=True, exist_ok=True)
    # The launcher named the run by its command only (work_dir: the project, not the run).
    own.write_text(
        json.dumps(
            {"host": "h", "timestamp": now, "command": "python main.py --config-filepath ./configs/a/r.py", "output_lines": TB.splitlines(), "work_dir": "."}
        )
        + "\n"
    )
    v = _gather(project, wd, now=now, last_activity=now - 5)
    assert (v.decision.reason, v.error_source, v.error_line) == ("crashed", "collector", "ValueError: bad")
    # The run showed life long after the report: a relaunch; the old crash is not this run's.
    v = _gather(project, wd, now=now + 1000, last_activity=now + 900)
    assert v.error_source is None and v.decision.status == "running"


# ---------------------------------------------------------------- the pulse (the run's finest rhythm)


@pytest.mark.parametrize("process,silent_status", [("alive", ("stuck", "stalled")), ("none", ("failed", "stalled"))])
def test_pulse_default_floor_boundary(process, silent_status):
    """A line every 0.25 s: silent a minute is the limit (the default floor), not 600 s nor 3,600 s."""
    at_limit = decide(ev(process=process, pulse_interval=0.25, pulse_position="training", last_activity=NOW - 60.0))
    past = decide(ev(process=process, pulse_interval=0.25, pulse_position="training", last_activity=NOW - 60.001))
    assert (at_limit.status, at_limit.reason) == ("running", None) and at_limit.detail is None
    assert (past.status, past.reason) == silent_status
    assert past.detail.endswith("longer than the limit of 60 s (the floor of 60 s, its log's pace being a line every 0.25 s)")


def test_pulse_detail_names_the_pace_and_the_learned_pause():
    d = decide(ev(pulse_interval=20.0, pulse_position="training", last_activity=0.0))
    assert d.detail.endswith("longer than the limit of 100 s (5x its log's pace of a line every 20 s)")
    d = decide(ev(pulse_interval=0.5, pulse_position="after_training", pulse_gap=45.0, pulse_gap_at="2026-01-01 00:00:07", last_activity=0.0))
    assert d.detail.endswith(
        "longer than the limit of 68 s (1.5x the longest pause it has had after the last training batch of an epoch: 45 s from 2026-01-01 00:00:07)"
    )
    d = decide(ev(pulse_interval=0.5, pulse_gap=45.0, sleep_time=30.0, last_activity=0.0))
    assert d.detail.endswith("(sleep_time 30 s)")
    d = decide(ev(pulse_gap=45.0, pulse_position="start", pulse_gap_at="t0", last_activity=0.0))
    assert d.detail.endswith("(1.5x the longest pause it has had before its first progress line: 45 s from t0)")
    d = decide(ev(pulse_gap=20.0, last_activity=0.0))
    assert d.detail.endswith("(the floor of 60 s)")


@pytest.mark.parametrize("process", ["alive", "none"])
def test_pulse_learned_pause_keeps_running_and_says_so(process):
    """Silent past the floor but within 1.5x a pause the run has had at the same place: running, named."""
    kw = dict(process=process, pulse_interval=0.25, pulse_position="after_training", pulse_gap=45.0, pulse_gap_at="2026-01-01 00:00:07")
    d = decide(ev(**kw, last_activity=NOW - 61.0))
    assert (d.status, d.reason) == ("running", None)
    assert d.detail == (
        "silent since 1970-01-12 13:45:39 UTC, within the pause of 45 s it has had after the last training batch of an epoch before (from 2026-01-01 00:00:07)"
    )
    assert decide(ev(**kw, last_activity=NOW - 60.0)).detail is None  # not past the plain limit: nothing to say
    assert decide(ev(**kw, last_activity=NOW - 67.5)).status == "running"
    assert decide(ev(**kw, last_activity=NOW - 67.501)).reason == "stalled"
    assert decide(ev(**kw, last_activity=None)).reason == "stalled"  # never a sign of life


# ---------------------------------------------------------------- a clean end (frameworks that write no total)


def test_clean_end_with_the_process_gone_is_finished():
    """A plain Lightning fit that reached its max_epochs ends right after its last epoch's checkpoint."""
    d = decide(ev(process="gone", clean_end=True))
    assert d == Decision("finished", None, f"its process has exited right after its last epoch closed; {CLEAN_END}")
    assert "written nowhere" in CLEAN_END and "max_epochs" in CLEAN_END
    assert decide(ev(process="gone", clean_end=True, artifact_last_update=NOW - 31 * DAY)).status == "outdated"
    # a Slurm job that COMPLETED ended its script normally (a killed one is no COMPLETED job)
    assert decide(ev(job=Job("7", "COMPLETED"), clean_end=True)) == Decision(
        "finished", None, "its Slurm job COMPLETED right after its last epoch closed (its total is written nowhere)"
    )
    assert decide(ev(job=Job("7", "COMPLETED"), clean_end=True, artifact_last_update=NOW - 31 * DAY)).status == "outdated"
    assert decide(ev(process="gone", clean_end=False)).reason == "exited"
    assert decide(ev(job=Job("7", "COMPLETED"), clean_end=False)).reason == "exited"
    # an exception found in its output wins over a clean-looking end
    assert decide(ev(process="gone", clean_end=True, error_line="ValueError: x", error_source="tmux")).reason == "crashed"
    # complete (its total known and reached) stays finished
    assert decide(ev(process="gone", clean_end=True, complete=True)) == Decision("finished")


def test_clean_end_silent_with_no_process_to_ask_is_finished():
    d = decide(ev(process="none", clean_end=True, pulse_interval=1.0, last_activity=0.0))
    assert (d.status, d.reason) == ("finished", None)
    assert d.detail.endswith(f", right after its last epoch closed; {CLEAN_END}") and d.detail.startswith("silent since")
    assert decide(ev(process="none", clean_end=True, pulse_interval=1.0, last_activity=NOW - 60.0)).status == "running"
    assert decide(ev(process="none", clean_end=True, pulse_interval=1.0, last_activity=NOW - 60.001)).status == "finished"
    assert decide(ev(process="unknown", clean_end=True, pulse_interval=1.0, last_activity=0.0)).reason == "stalled"  # may be alive elsewhere
    assert decide(ev(process="alive", clean_end=True, pulse_interval=1.0, last_activity=0.0)).reason == "stalled"
    assert decide(ev(process="none", clean_end=False, pulse_interval=1.0, last_activity=0.0)).reason == "stalled"


def test_clean_end_but_seen_alive_after_it_was_killed_between_epochs():
    """Row 7k: a finished fit exits within seconds of its last checkpoint; one seen alive 30 s later did not end there."""
    assert ALIVE_AFTER_END == 30.0
    after = "it was seen alive 45 s after its last epoch's checkpoint (a finished fit exits within seconds of it, 30 s at most): it was killed after that epoch, not finished"
    d = decide(ev(process="gone", process_detail="process 7 on this machine has exited", clean_end=True, alive_after_end=45.0))
    assert d == Decision("failed", "exited", f"process 7 on this machine has exited; {after}")
    assert decide(ev(process="gone", clean_end=True, alive_after_end=45.0)).detail == f"its process has exited; {after}"
    # the boundary: seen alive within the teardown of a finished fit proves nothing
    assert decide(ev(process="gone", clean_end=True, alive_after_end=30.0)).status == "finished"
    assert decide(ev(process="gone", clean_end=True, alive_after_end=30.001)).reason == "exited"
    assert decide(ev(process="gone", clean_end=True, alive_after_end=None)).status == "finished"
    # stronger evidence still wins: complete, a Slurm job COMPLETED, an exception in its output
    assert decide(ev(process="gone", clean_end=True, alive_after_end=45.0, complete=True)) == Decision("finished")
    assert decide(ev(job=Job("7", "COMPLETED"), clean_end=True, alive_after_end=45.0)).status == "finished"
    assert decide(ev(process="gone", clean_end=True, alive_after_end=45.0, error_line="ValueError: x", error_source="tmux")).reason == "crashed"
    # alive now: running (or stalled) as ever; without clean_end the sighting changes nothing
    assert decide(ev(process="alive", clean_end=True, alive_after_end=45.0)).status == "running"
    assert decide(ev(process="gone", clean_end=False, alive_after_end=45.0, process_detail="x")) == Decision("failed", "exited", "x")
    # row 8k': no process to ask now, silent past its limit: not finished but stalled, saying why
    d = decide(ev(process="none", clean_end=True, alive_after_end=45.0, pulse_interval=1.0, last_activity=0.0))
    assert (d.status, d.reason) == ("failed", "stalled") and d.detail.startswith("silent since") and d.detail.endswith(f"; {after}")
    assert decide(ev(process="none", clean_end=True, alive_after_end=30.0, pulse_interval=1.0, last_activity=0.0)).status == "finished"
    assert decide(ev(process="none", clean_end=True, alive_after_end=45.0, pulse_interval=1.0, last_activity=NOW - 60.0)).status == "running"
    assert decide(ev(process="unknown", clean_end=True, alive_after_end=45.0, pulse_interval=1.0, last_activity=0.0)).detail.startswith("silent since")


def test_unknown_process_detail_names_why_when_given():
    d = decide(ev(process="unknown", process_detail="it ran on gpu7, where no process source looks", pulse_interval=1.0, last_activity=0.0))
    assert d.reason == "stalled" and d.detail.endswith("; it ran on gpu7, where no process source looks: it may be stuck")
    d = decide(ev(process="unknown", pulse_interval=1.0, last_activity=0.0))
    assert d.detail.endswith("; its process could not be checked (a process source could not be asked): it may be stuck")


def test_pulse_detail_boundaries():
    # a pause learned at no known place is a new session's start-up
    d = decide(ev(pulse_gap=45.0, pulse_gap_at="t0", last_activity=0.0))
    assert d.detail.endswith("(1.5x the longest pause it has had before its first progress line: 45 s from t0)")
    # a sleep_time that does not set the limit is not named
    d = decide(ev(pulse_interval=0.25, sleep_time=1000.0, last_activity=0.0))
    assert d.detail.endswith("longer than the limit of 60 s (the floor of 60 s, its log's pace being a line every 0.25 s)")
    d = decide(ev(pulse_interval=0.25, sleep_time=60.0, last_activity=0.0))
    assert d.detail.endswith("longer than the limit of 60 s (sleep_time 60 s)")


# ---------------------------------------------------------------- an end its files cannot tell (Keras without BackupAndRestore)

UNTOLD = "its files cannot tell whether it finished or was killed: its total is written nowhere and nothing marks its end"


def test_end_unknown_with_the_process_gone_is_unknown_not_exited():
    d = decide(ev(process="gone", end_unknown=True, process_detail="process 7 on this machine has exited"))
    assert d == Decision("unknown", "end_unknown", f"process 7 on this machine has exited; {UNTOLD}")
    assert decide(ev(process="gone", end_unknown=True)).detail == f"its process has exited; {UNTOLD}"
    assert decide(ev(process="gone", end_unknown=False)).reason == "exited"
    # stronger evidence first: a live process, a traceback, a completed run, a clean end
    assert decide(ev(process="alive", end_unknown=True)).status == "running"
    assert decide(ev(process="alive", end_unknown=True, last_activity=0.0, rhythm=10.0)).reason == "stalled"
    assert decide(ev(process="gone", end_unknown=True, error_line="ValueError: x", error_source="tmux")).reason == "crashed"
    assert decide(ev(process="gone", end_unknown=True, complete=True)).status == "finished"
    assert decide(ev(process="gone", end_unknown=True, clean_end=True)).detail.startswith("its process has exited right after its last epoch closed")


def test_end_unknown_with_a_completed_slurm_job_is_finished():
    d = decide(ev(job=Job("7", "COMPLETED", 0), end_unknown=True))
    assert d == Decision("finished", None, "Slurm job 7 COMPLETED (exit code 0): its script ended normally (its total is written nowhere)")
    assert decide(ev(job=Job("7", "COMPLETED", 0), end_unknown=True, artifact_last_update=NOW - 31 * DAY)).status == "outdated"
    assert decide(ev(job=Job("7", "FAILED", 1), end_unknown=True)).reason == "crashed"
    assert decide(ev(job=Job("7", "COMPLETED", 0), end_unknown=False)).reason == "exited"


def test_end_unknown_silent_with_no_live_process_is_unknown():
    d = decide(ev(process="none", end_unknown=True, pulse_interval=1.0, last_activity=0.0))
    assert (d.status, d.reason) == ("unknown", "end_unknown")
    assert d.detail.startswith("silent since") and d.detail.endswith(f", and no live process of it was seen; {UNTOLD}")
    assert decide(ev(process="unknown", end_unknown=True, pulse_interval=1.0, last_activity=0.0)).status == "unknown"
    # within its limit it is running, at the boundary too
    assert decide(ev(process="none", end_unknown=True, pulse_interval=1.0, last_activity=NOW - 60.0)).status == "running"
    assert decide(ev(process="none", end_unknown=True, pulse_interval=1.0, last_activity=NOW - 60.001)).status == "unknown"
    assert decide(ev(process="none", end_unknown=False, pulse_interval=1.0, last_activity=0.0)).reason == "stalled"
    assert decide(ev(process="none", end_unknown=True, work_dir_exists=False, last_activity=None)).reason == "never_started"

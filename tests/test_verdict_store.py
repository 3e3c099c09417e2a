"""A new process reuses an unchanged run's kept verdict (run_status/verdict_store.py), and never a stale one.

Each "new process" here is what a new ``runwatch status`` process starts from: ``runwatch.reset()`` (no
engine, no store, no process memory in memory) and a one-shot scan (``remember=False``) that loads the
project's progress store from its file; where the answer must come from a real new process, it is one
(``python -m runwatch.cli status --json``). Runs are real processes of the Pylon imitation (tests/pylon_sim).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest

import runwatch
from runwatch.cli_scan import ProcessSources, Scanner, build_monitor
from runwatch.progress_tracking.change_detection import RACY_WINDOW_S
from runwatch.progress_tracking.progress_store import ProgressStore
from runwatch.project import Project
from runwatch.run_status import ScanEngine
from runwatch.run_status import verdict_store
from runwatch.run_status.engine import store_path
from runwatch.settings import load_settings

from scan_helpers import generated, reference_statuses, without_checked_at
from test_status_dead import ENV, Sim

pytestmark = pytest.mark.timeout(180)


def _reuses(monkeypatch) -> list[str]:
    """The runs whose kept verdict was reused from now on."""
    got: list[str] = []
    real = verdict_store.ScanVerdicts.reuse

    def counting(self, config, rel, *a):
        status = real(self, config, rel, *a)
        if status is not None:
            got.append(rel)
        return status

    monkeypatch.setattr(verdict_store.ScanVerdicts, "reuse", counting)
    return got


def _new_process_scan(root, paths=(), now=None, configs=None, **kw):
    """A one-shot scan as a new ``runwatch status`` process makes it: nothing in memory, the store from its file."""
    runwatch.reset()
    project = Project.at(str(root), load_settings(str(root)))
    if now is None:
        monitor = build_monitor(project, ProcessSources(local=True, no_ssh=True))
        rows = Scanner(project, list(paths), monitor, remember=False, **kw).scan().rows
        return {r.status.run: r.status for r in rows}
    engine = ScanEngine(project, ProgressStore(store_path(project)))
    configs = configs if configs is not None else Scanner(project, list(paths)).configs()
    got = engine.scan(configs, processes=kw.pop("processes", None), now=now, remember=False, **kw)
    engine.store.save()
    return {s.status.run: s.status for s in got.values()}


# ---------------------------------------------------------------- a generated tree: the same answers


def test_a_new_process_reuses_kept_verdicts_with_the_answers_of_a_full_evaluation(tmp_path, monkeypatch):
    tree, snap = generated(tmp_path, seed=11, max_epochs=6)
    now = time.time()
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now, processes=snap)  # cold: decided, verdicts kept
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 1, processes=snap)  # quick keys for runs that had just moved
    reused = _reuses(monkeypatch)
    got = _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 2, processes=snap)
    assert len(reused) > len(tree.runs) // 2, reused
    ref = reference_statuses(tree, snap, now + 2)
    for r in tree.runs:
        status = got[r.rel]
        assert without_checked_at(status.to_dict()) == without_checked_at(ref[r.config_path].to_dict()), r.rel
        assert status.checked_at == now + 2  # made now, never replayed


def test_the_clock_past_a_verdicts_due_time_brings_a_new_decision(tmp_path, monkeypatch):
    tree, snap = generated(tmp_path, seed=5, max_epochs=6)
    now = time.time()
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now, processes=snap)
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 1, processes=snap)
    store = ProgressStore(store_path(Project.at(tree.root)))
    dues = {e.verdict[3] for e in store.entries().values() if e.verdict is not None}
    due = min(d for d in dues if d != float("inf"))  # a running run's silence limit, an outdated boundary
    reused = _reuses(monkeypatch)
    later = due + 1
    got = _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=later, processes=snap)
    ref = reference_statuses(tree, snap, later)
    for r in tree.runs:
        assert without_checked_at(got[r.rel].to_dict()) == without_checked_at(ref[r.config_path].to_dict()), r.rel
    store = ProgressStore(store_path(Project.at(tree.root)))
    fell_due = [wd for wd, e in store.entries().items() if e.verdict is not None and e.verdict[3] <= later]
    assert not fell_due  # each was decided again, and keeps its new due time
    assert len(reused) < len(tree.runs)


def test_force_refresh_options_and_settings_each_bring_a_new_decision(tmp_path, monkeypatch):
    tree, snap = generated(tmp_path, seed=3, max_epochs=4, n_runs=12)
    now = time.time()
    for i in range(2):
        _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + i, processes=snap)
    reused = _reuses(monkeypatch)
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 2, processes=snap, force_refresh=True)
    assert reused == []
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 3, processes=snap, sleep_time=5)
    assert reused == []
    with open(os.path.join(tree.root, "runwatch.toml"), "a") as f:
        f.write("\nstall_floor = 7\n")
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 4, processes=snap)
    assert reused == []
    _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 5, processes=snap)
    assert reused  # kept again under the new settings


def test_a_malformed_kept_verdict_is_ignored_said_once_and_the_run_decided_again(tmp_path, monkeypatch, caplog):
    tree, snap = generated(tmp_path, seed=7, max_epochs=4, n_runs=12)
    now = time.time()
    for i in range(2):
        _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + i, processes=snap)
    path = store_path(Project.at(tree.root))
    data = open(path, "rb").read()
    magic = data[: data.index(b"\n") + 1]
    payload = pickle.loads(data[len(magic) :])
    spoiled = 0
    for entry in payload["entries"].values():
        if getattr(entry, "verdict", None) is not None:
            v = list(entry.verdict)
            v[7] = ("finished", None, None, None, None, None, None)  # a field short: not a verdict
            entry.verdict = tuple(v)
            spoiled += 1
    assert spoiled
    with open(path, "wb") as f:
        f.write(magic + pickle.dumps(payload))
    reused = _reuses(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="runwatch"):
        got = _new_process_scan(tree.root, configs=[r.config_path for r in tree.runs], now=now + 2, processes=snap)
    assert reused == []
    assert [r.message for r in caplog.records].count(next(r.message for r in caplog.records if "kept verdict" in r.message)) == 1
    assert "is unusable" in caplog.text and path in caplog.text
    ref = reference_statuses(tree, snap, now + 2)
    for r in tree.runs:
        assert without_checked_at(got[r.rel].to_dict()) == without_checked_at(ref[r.config_path].to_dict()), r.rel


# ---------------------------------------------------------------- real processes


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "proj", settings="stall_floor = 40\n")
    yield s
    s.close()


def _cli_status(sim: Sim, rel: str) -> dict:
    """A real new ``runwatch status --json`` process, without an agent."""
    r = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "status", "--json", "--no-ssh", "--root", str(sim.root), f"configs/{rel}.py"],
        capture_output=True,
        text=True,
        cwd=sim.root,
        env=dict(ENV, RUNWATCH_NO_AGENT="1"),
        timeout=60,
        check=False,
    )
    assert r.returncode in (0, 1), r.stderr
    (run,) = [x for x in json.loads(r.stdout)["runs"] if x["run"] == rel]
    return run


def _config(sim: Sim, rel: str) -> str:
    return str(sim.root / "configs" / f"{rel}.py")


def _paused_trainer(sim: Sim, rel: str):
    sim.trainer(rel, 50, iterations=8, step_s=0.02)
    pause = sim.root / "pause"
    pause.write_text("")
    p = sim.launch(rel, SIM_PAUSE_FILE=str(pause), SIM_PAUSE_AT="train:2:4")
    sim.wait_for(lambda: (sim.root / "pause.reached").exists(), what="the pause point")
    time.sleep(RACY_WINDOW_S + 0.5)  # its files settled: a key made now holds while they stay as they are
    return p, pause


def test_a_killed_runs_kept_running_verdict_reads_dead_in_the_next_new_process(sim, monkeypatch):
    """A live run's kept verdict holds its process; once the process is killed, the next new process decides again."""
    rel = "t/live"
    p, _pause = _paused_trainer(sim, rel)
    first = _new_process_scan(sim.root, [_config(sim, rel)])[rel]
    assert (first.status, first.process_info.pid) == ("running", p.pid)
    reused = _reuses(monkeypatch)
    again = _new_process_scan(sim.root, [_config(sim, rel)])[rel]
    assert reused == [rel]  # unchanged files, the same live process: kept
    assert (again.status, again.process_info.pid, again.process_info.start_time) == ("running", p.pid, first.process_info.start_time)
    assert again.checked_at > first.checked_at
    p.send_signal(signal.SIGKILL)
    p.wait()
    dead = _new_process_scan(sim.root, [_config(sim, rel)])[rel]
    assert reused == [rel]  # not reused: the process it was decided with is gone
    assert (dead.status, dead.reason) == ("failed", "exited"), (dead.reason, dead.reason_detail)
    run = _cli_status(sim, rel)  # and a real new process agrees
    assert (run["status"], run["reason"]) == ("failed", "exited")


def test_a_new_process_decides_again_when_a_file_changes(sim, monkeypatch):
    rel = "t/resumed"
    p, pause = _paused_trainer(sim, rel)
    _new_process_scan(sim.root, [_config(sim, rel)])
    reused = _reuses(monkeypatch)
    before = _new_process_scan(sim.root, [_config(sim, rel)])[rel]
    assert reused == [rel]
    pause.unlink()  # the trainer goes on: its log grows, epochs are written
    sim.wait_epochs(rel, 4)
    after = _new_process_scan(sim.root, [_config(sim, rel)])[rel]
    assert reused == [rel]  # decided again
    assert after.progress.completed_epochs >= 3 > before.progress.completed_epochs
    assert after.status == "running"
    p.kill()


def test_a_live_run_silent_past_its_limit_is_decided_again_stuck(tmp_path, monkeypatch):
    """A kept "running" verdict falls due when the silence limit passes: the next new process reads it stuck."""
    s = Sim(tmp_path / "proj", settings="stall_floor = 6\n")
    try:
        rel = "t/hung"
        p, _pause = _paused_trainer(s, rel)
        first = _new_process_scan(s.root, [_config(s, rel)])[rel]
        reused = _reuses(monkeypatch)
        if first.status == "running":
            store = ProgressStore(store_path(Project.at(str(s.root))))
            (entry,) = [e for e in store.entries().values() if e.verdict is not None]
            due = entry.verdict[3]
            assert due < time.time() + 6  # the silence limit, a few seconds on
            while time.time() < due + 0.5:
                time.sleep(0.2)
        stuck = _new_process_scan(s.root, [_config(s, rel)])[rel]
        assert reused == []
        assert (stuck.status, stuck.reason) == ("stuck", "stalled"), stuck.reason_detail
        assert stuck.process_info is not None and stuck.process_info.pid == p.pid
        run = _cli_status(s, rel)
        assert (run["status"], run["reason"]) == ("stuck", "stalled")
    finally:
        s.close()

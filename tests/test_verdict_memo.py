"""An unchanged run's status is reused (verdict_memo), and never once anything it came from changed."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import replace

import pytest

from runwatch.project import Project
from runwatch.run_status import ScanEngine
from runwatch.run_status import verdict_memo
from runwatch.run_status.rules import Evidence, decide

from scan_helpers import generated, reference_statuses, without_checked_at as _strip


@pytest.fixture
def gen(tmp_path):
    return generated(tmp_path, seed=7, max_epochs=6)


def _reference(tree, snap, now):
    return {c: status.to_dict() for c, status in reference_statuses(tree, snap, now).items()}


def _count_evaluations(monkeypatch):
    calls = []
    real = verdict_memo.keep

    def counting(status, **kw):
        calls.append(status.run)
        return real(status, **kw)

    monkeypatch.setattr("runwatch.run_status.engine.keep", counting)
    return calls


def test_unchanged_runs_are_reused_with_the_same_answers(gen, monkeypatch):
    tree, snap = gen
    configs = [r.config_path for r in tree.runs]
    engine = ScanEngine(Project.at(tree.root), store=None)
    now = time.time()
    engine.scan(configs, processes=snap, now=now)
    calls = _count_evaluations(monkeypatch)
    warm = engine.scan(configs, now=now + 1)
    assert len(engine._kept) > len(configs) // 2
    assert len(calls) == len(configs) - len(engine._kept)  # the kept ones were not evaluated again
    ref = _reference(tree, snap, now + 1)
    for c in configs:
        assert _strip(warm[c].status.to_dict()) == _strip(ref[c]), c
        assert warm[c].status.checked_at == now + 1


def test_a_changed_file_the_clock_and_the_collector_each_bring_a_new_evaluation(gen, monkeypatch):
    tree, snap = gen
    configs = [r.config_path for r in tree.runs]
    project = Project.at(tree.root)
    engine = ScanEngine(project, store=None)
    now = time.time()
    engine.scan(configs, processes=snap, now=now)
    engine.scan(configs, now=now)
    kept = dict(engine._kept)
    # 1. A new epoch's files in a kept trainer: re-evaluated, with the new answer.
    trainer = next(
        r for r in tree.runs if r.kind == "trainer" and r.config_path in kept and r.completed_epochs > 0 and not r.scenario.endswith("never_launched")
    )
    wd = os.path.join(tree.root, "logs", trainer.rel)
    scores = os.path.join(wd, "epoch_0", "validation_scores.json")
    data = open(scores, "rb").read()
    os.utime(scores, ns=(time.time_ns(), time.time_ns() + 10**9))
    calls = _count_evaluations(monkeypatch)
    engine.scan(configs, now=now + 1)
    assert trainer.rel in calls
    assert open(scores, "rb").read() == data
    # 2. The clock past a kept run's due time: re-evaluated.
    timed = next(k for k, v in engine._kept.items() if v.due != float("inf"))
    due = engine._kept[timed].due
    calls.clear()
    later = engine.scan(configs, now=due + 1)
    assert engine._kept.get(timed) is None or engine._kept[timed].due != due or timed in [r.config_path for r in tree.runs if r.rel in calls]
    ref = _reference(tree, snap, due + 1)
    for c in configs:
        assert _strip(later[c].status.to_dict()) == _strip(ref[c]), c
    # 3. A collector report for a failed run: every run that looked there is evaluated again.
    engine.scan(configs, now=due + 2)
    failed = next(s for s in engine.scan(configs, now=due + 2).values() if s.status.status == "failed" and s.status.reason == "stalled")
    events = os.path.join(tree.root, "agents", "launcher", "collector_events.json")
    os.makedirs(os.path.dirname(events), exist_ok=True)
    with open(events, "w") as f:
        json.dump([{"host": "gpu-1", "timestamp": due + 2, "work_dir": failed.status.work_dir, "output_lines": ["Traceback:", "ValueError: boom"]}], f)
    after = engine.scan(configs, now=due + 3)
    got = after[failed.status.config].status
    assert (got.status, got.reason, got.error_source) == ("failed", "crashed", "collector")


def test_decision_due_is_the_first_time_the_clock_alone_changes_the_decision():
    """For random evidence: the decision at every time before ``decision_due`` is the decision now."""
    rng = random.Random(3)
    now = 1_700_000_000.0
    for _ in range(3000):
        ev = Evidence(
            now=now,
            complete=rng.random() < 0.3,
            last_activity=None if rng.random() < 0.1 else now - rng.uniform(-100, 200_000),
            artifact_last_update=None if rng.random() < 0.2 else now - rng.uniform(0, 40 * 86400),
            work_dir_exists=rng.random() < 0.95,
            process=rng.choice(["alive", "stopped", "gone", "none", "unknown"]),
            log_end=rng.choice([None, None, "traceback", "end"]),
            error_line=rng.choice([None, "ValueError: x"]),
            rhythm=rng.choice([None, rng.uniform(1, 5000)]),
            sleep_time=rng.choice([None, 180.0, 3600.0]),
            outdated_days=rng.choice([1, 30]),
        )
        due = verdict_memo.decision_due(ev)
        first = decide(ev)
        ends = [due - 1e-3] if due != float("inf") else []
        for t in [now, now + 1, *ends, *(rng.uniform(now, min(due, now + 90 * 86400)) for _ in range(5))]:
            if t < due:
                assert decide(replace(ev, now=t)) == first, (ev, due, t)


def test_a_live_run_ending_on_an_epoch_boundary_is_evaluated_again_past_alive_after_end():
    """So that ``runwatch serve`` notes the sighting that tells a later kill from a finished fit."""
    from runwatch.run_status.rules import ALIVE_AFTER_END

    now = 1_700_000_000.0
    held = Evidence(now=now, last_activity=now - 10, process="alive", clean_end=True, pulse_interval=1.0)
    assert verdict_memo.decision_due(held) == pytest.approx(now - 10 + ALIVE_AFTER_END + 0.01)
    assert verdict_memo.decision_due(replace(held, clean_end=False)) == now - 10 + 60.0  # its silence limit only
    assert verdict_memo.decision_due(replace(held, process="gone")) == now - 10 + 60.0
    assert verdict_memo.decision_due(replace(held, last_activity=now - 40)) == now - 40 + 60.0  # past it already


def test_each_runs_due_time_is_kept_and_the_sweep_wakes_at_the_earliest():
    """runwatch serve re-evaluates a run when its silence limit falls due, not at its next sweep tick."""
    from runwatch.live.watcher import DUE_SLACK, MIN_SWEEP_GAP, Watcher
    from runwatch.run_status.engine import ScanEngine

    e = ScanEngine.__new__(ScanEngine)
    e._due, e._kept, e._trackers, e._facts = {"a": 10.0, "b": 20.0, "c": 5.0}, {}, {}, {}
    assert (e.next_due(6.0), e.next_due(10.0), e.next_due(4.0), e.next_due(20.0)) == (10.0, 20.0, 5.0, None)
    e.forget(["a"])
    assert e.next_due(6.0) == 20.0
    e.snapshot, e.process_map = None, None
    e.reset()
    assert e.next_due(0.0) is None

    class Index:
        due: float | None = None

        def next_due(self):
            if self.due == "boom":
                raise RuntimeError("boom")
            return self.due

    w = Watcher.__new__(Watcher)
    w.index, w.sweep_interval = Index(), 5.0
    assert w._sweep_timeout() == 5.0
    for due, want in ((2.0, 2.0 + DUE_SLACK), (0.0, MIN_SWEEP_GAP), (-3.0, MIN_SWEEP_GAP), (4.95, 5.0), (30.0, 5.0), ("boom", 5.0)):
        w.index.due = due
        assert w._sweep_timeout() == pytest.approx(want), due
    assert (DUE_SLACK, MIN_SWEEP_GAP) == (0.05, 0.25)


def test_a_scan_keeps_the_time_its_decision_falls_due(gen):
    """Every evaluated run whose decision the clock alone can change keeps that time (the earliest for the
    sweep); a reused run keeps its own; a run the clock cannot change has none."""
    tree, snap = gen
    configs = [r.config_path for r in tree.runs]
    engine = ScanEngine(Project.at(tree.root), store=None)
    now = time.time()
    first = engine.scan(configs, processes=snap, now=now)
    assert engine._due and all(d >= now for d in engine._due.values())
    assert any(first[k].status.status == "running" for k in engine._due)
    assert engine.next_due(now) == min(engine._due.values())
    due = dict(engine._due)
    engine.scan(configs, now=now + 1)  # reused or evaluated again: the same due times
    assert {k: v for k, v in engine._due.items() if v > now + 1} == {k: v for k, v in due.items() if v > now + 1}
    engine.forget(configs)
    assert engine.next_due(now) is None


def test_a_decision_falling_due_re_evaluates_those_runs_without_a_whole_sweep():
    """The sweep loop wakes when a run's decision falls due and asks the index for those runs alone (no new
    process snapshot: a sweep asks every source); its regular sweep keeps its own interval."""
    import asyncio

    from runwatch.live.watcher import Watcher

    calls: list[str] = []
    t0 = time.monotonic()

    class Index:
        root_missing = False

        def next_due(self):
            return 0.2 - (time.monotonic() - t0) if not calls else None

        def reevaluate_due(self):
            calls.append("due")

        def take_process_snapshot(self):
            calls.append("snapshot")

        def sweep(self, snapshot=None):
            calls.append("sweep")

    w = Watcher.__new__(Watcher)
    w.index, w.sweep_interval, w.executor, w.on_error = Index(), 1.0, None, None
    w._stop, w._wake, w._restart, w._watched = asyncio.Event(), asyncio.Event(), asyncio.Event(), ()
    w._existing_roots = lambda: ()

    async def go():
        task = asyncio.ensure_future(w._sweep_loop())
        await asyncio.sleep(0.6)
        at_due = list(calls)
        await asyncio.sleep(0.8)
        w.stop()
        await task
        return at_due

    at_due = asyncio.run(go())
    assert at_due == ["due"]  # 0.2 s in: the runs fallen due, nothing else
    assert calls == ["due", "snapshot", "sweep"]  # 1 s in: the regular sweep

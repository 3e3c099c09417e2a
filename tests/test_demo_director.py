"""The demo's director: every kind of live run keeps coming for as long as the demo runs."""

from __future__ import annotations

import os

from runwatch.demo.project import create_demo_project
from tests.test_demo import wait_for


def test_director_keeps_every_kind_of_live_run_coming(tmp_path, monkeypatch) -> None:
    """Runs end (finish, crash, early stop); the director starts the next in their slot; a stall hangs, then is killed."""
    from runwatch.demo import director as director_mod
    from runwatch.demo.director import Director
    from runwatch.demo.processes import WriterProcesses
    from runwatch.demo.project import write_plan

    monkeypatch.setattr(director_mod, "PAUSE_S", (0.2, 0.4))
    monkeypatch.setattr(director_mod, "STALL_HOLD_S", (2.0, 2.5))
    demo = create_demo_project(str(tmp_path), n_runs=13, n_live=6)
    for entry in demo.plan.values():  # fast runs: a few quick epochs each
        if entry.get("slot") is not None:
            entry.update(interval=0.05, epochs=min(entry.get("epochs", 3), 3), steps=2, crash_at=1 if entry.get("crash_at") else None, plateau_after=None)
    write_plan(str(tmp_path), demo.plan)
    writers = WriterProcesses(str(tmp_path))
    writers.start_all([rel for rel in demo.launch_order() if demo.plan[rel].get("slot") is not None])
    director = Director(demo, writers, tick_s=0.2).start()
    try:
        kinds_restarted = lambda: {demo.plan[r]["kind"] for r in director.started_runs}
        wait_for(lambda: {"train", "crash", "eval", "stall"} <= kinds_restarted(), 90, "every slot to start its next run")
        stall0 = next(r for r, e in demo.plan.items() if e.get("kind") == "stall" and e.get("gen") == 0)
        assert demo.plan[stall0]["mode"] == "stuck"  # it hung, then was killed before the slot moved on
        assert stall0 not in writers.alive()
        assert all(r in demo.plan and (tmp_path / "configs" / f"{r}.py").is_file() for r in director.started_runs)
        assert set(demo.launch_order()) >= {
            r for r in director.started_runs if demo.plan[r]["gen"] == max(e.get("gen", 0) for e in demo.plan.values() if e.get("slot") == demo.plan[r]["slot"])
        }
    finally:
        director.stop()
        writers.stop()
    assert writers.alive() == []


class _Clock:
    now = 0.0


class _SimulatedWriters:
    """The director's view of the run processes, on a simulated clock: each run lives as long as its plan says."""

    def __init__(self, demo, clock: _Clock) -> None:
        self.demo, self.clock = demo, clock
        self.ends: dict[str, float] = {}

    def duration(self, entry: dict) -> float:
        interval = float(entry.get("interval", 1.0))
        if entry.get("mode") == "stuck":
            return float("inf")  # held until the director kills it
        if entry.get("mode") == "eval":
            return entry.get("steps", 10) * interval
        if entry.get("crash_at") is not None:
            return entry["crash_at"] * interval
        if entry.get("plateau_after") is not None:
            return (entry["plateau_after"] + entry.get("patience", 0) + 2) * interval
        return entry["epochs"] * interval

    def start_run(self, rel: str):
        self.ends[rel] = self.clock.now + self.duration(self.demo.plan[rel])
        return None

    def alive(self) -> list[str]:
        return [r for r, t in self.ends.items() if t > self.clock.now]

    def kill(self, rel: str, timeout: float = 3.0) -> None:
        self.ends[rel] = self.clock.now


def test_an_hour_of_demo_keeps_a_steady_bounded_population(tmp_path) -> None:
    """An hour on a simulated clock: the live runs stay bounded (oldest retired with their files) and every kind keeps coming."""
    from runwatch.demo.director import KEEP_PER_SLOT, Director

    n_live = 6
    demo = create_demo_project(str(tmp_path), n_runs=13, n_live=n_live)
    clock = _Clock()
    writers = _SimulatedWriters(demo, clock)
    for rel in demo.launch_order():
        if demo.plan[rel].get("slot") is not None:
            writers.start_run(rel)
    director = Director(demo, writers)  # not started: ticked by hand on the simulated clock
    live_counts, kinds_late = [], set()
    while clock.now < 3600.0:
        clock.now += 1.0
        director.tick(clock.now)
        if int(clock.now) % 60 == 0:
            configs = [f for _, _, fs in os.walk(tmp_path / "configs" / "live") for f in fs]
            live_counts.append(len(configs))
            assert len(configs) <= n_live * KEEP_PER_SLOT, (clock.now, len(configs))
            assert sum(1 for e in demo.plan.values() if e.get("slot") is not None) <= n_live * KEEP_PER_SLOT
        if clock.now > 3000.0:
            kinds_late |= {demo.plan[r]["kind"] for r in director.started_runs[-12:] if r in demo.plan}
    # Steady: after the first minutes the population neither grows nor empties.
    assert max(live_counts[10:]) <= n_live * KEEP_PER_SLOT and min(live_counts[10:]) >= n_live
    assert len(director.started_runs) > 6 * n_live  # an hour of runs came and went
    assert {"train", "crash", "early_stop", "multi_stage", "eval", "stall"} <= kinds_late  # every kind still coming in the last minutes
    # What was retired left nothing behind: no work dir or output without its config.
    live_logs = tmp_path / "logs" / "live"
    kept = {r.split("/", 1)[1] for r in demo.plan if r.startswith("live/")}
    assert {p.name for p in live_logs.iterdir()} <= kept if live_logs.exists() else True


def test_a_temporary_demo_lives_in_a_roomy_ram_folder_unless_tmpdir_says_otherwise(tmp_path, monkeypatch) -> None:
    """Removing a demo's thousands of small files from a RAM-backed folder takes a moment (seconds on a busy
    disk): a temporary demo goes there when the system has a roomy one, and where TMPDIR says when it is set."""
    from runwatch.demo import session

    monkeypatch.setattr(session, "RAM_DIR", str(tmp_path))
    monkeypatch.delenv("TMPDIR", raising=False)
    assert session._scratch_dir() == str(tmp_path)
    monkeypatch.setattr(session, "RAM_DIR_FREE_MIN", 2**62)  # not roomy enough
    assert session._scratch_dir() is None
    monkeypatch.setattr(session, "RAM_DIR_FREE_MIN", 0)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "elsewhere"))
    assert session._scratch_dir() is None
    monkeypatch.delenv("TMPDIR")
    monkeypatch.setattr(session, "RAM_DIR", str(tmp_path / "missing"))
    assert session._scratch_dir() is None

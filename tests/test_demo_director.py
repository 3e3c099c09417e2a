"""The demo's director: every kind of live run keeps coming for as long as the demo runs."""

from __future__ import annotations

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

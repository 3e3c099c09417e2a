"""A new ``runwatch status`` process on runs of the simulated Pylon (tests/pylon_sim): the quick check
(runwatch/progress_tracking/quick_check.py) gives the same answers as a scan that reads everything
again (``--refresh``), after runs finished, crashed, gained epochs and died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from test_pylon_sim import _start_paused, launch, project, trainer_dict, write_config  # noqa: F401  (project: the fixture)

from runwatch.progress_tracking.progress_store import ProgressStore

ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1", RUNWATCH_NO_AGENT="1")
# Fields a second process may answer otherwise only because time passed between the two.
CLOCK_FIELDS = {"checked_at", "reason_detail", "eta_seconds"}


def status_json(root, *extra: str) -> dict[str, dict]:
    r = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "status", "--json", "--sleep-time", "60", *extra],
        capture_output=True,
        text=True,
        cwd=root,
        env=ENV,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return {rec["run"]: {k: v for k, v in rec.items() if k not in CLOCK_FIELDS} for rec in json.loads(r.stdout)["runs"]}


def backdate(root, seconds: float = 3600.0) -> None:
    """Every file and dir under logs/ as if written ``seconds`` ago (runs that settled long since)."""
    t = time.time() - seconds
    for dirpath, dirs, files in os.walk(os.path.join(root, "logs")):
        for name in files:
            os.utime(os.path.join(dirpath, name), (t, t), follow_symlinks=False)
    for dirpath, dirs, files in sorted(os.walk(os.path.join(root, "logs")), key=lambda w: -len(w[0])):
        os.utime(dirpath, (t, t))


def quick_keys(root) -> dict[str, object]:
    store = ProgressStore(os.path.join(root, ".runwatch-cache", "progress-store.pickle"))
    return {os.path.relpath(wd, os.path.join(root, "logs")): e.quick for wd, e in store.entries().items()}


def same_as_refresh(root) -> dict[str, dict]:
    quick = status_json(root)
    full = status_json(root, "--refresh")
    assert quick == full
    return quick


def test_two_new_processes_answer_as_a_full_scan(project, tmp_path):
    done = write_config(project, "t/done", trainer_dict("t/done", 3))
    crashed = write_config(project, "t/crashed", trainer_dict("t/crashed", 4))
    write_config(project, "t/live", trainer_dict("t/live", 4, iterations=4))
    launch(project, done)
    assert launch(project, crashed, env={"SIM_CRASH_AT_EPOCH": "2"}, check=False).returncode != 0
    backdate(project)

    first = status_json(project)  # cold: computes every run, keeps quick keys for the settled ones
    keys = quick_keys(project)
    assert keys["t/done"] is not None and keys["t/crashed"] is not None
    assert keys["t/done"][0] == ("",)  # a complete run: its work dir ...
    assert keys["t/done"][1] == ("train_val_0.log",)  # ... and its newest log
    assert "progress.json" in keys["t/crashed"][1]  # not complete: the trainer's record (and any unfinished epoch) too
    second = same_as_refresh(project)
    assert second == first
    assert (second["t/done"]["status"], second["t/done"]["completed_epochs"]) == ("finished", 3)
    assert (second["t/crashed"]["status"], second["t/crashed"]["completed_epochs"]) == ("failed", 2)

    # An old epoch's scores rewritten in place (its dir's mtime does not move): the documented policy.
    scores = project / "logs" / "t" / "done" / "epoch_0" / "validation_scores.json"
    data = json.loads(scores.read_text())
    data["aggregated"] = {k: 123.0 for k in data["aggregated"]}
    st = os.stat(scores)
    scores.write_text(json.dumps(data))
    os.utime(scores, (st.st_atime, st.st_mtime + 1))
    assert status_json(project)["t/done"] == second["t/done"]  # a new process trusts a finished epoch ...
    refreshed = status_json(project, "--refresh")["t/done"]  # ... until asked to read again
    assert refreshed != second["t/done"] and 123.0 in refreshed["best_score"].values()
    assert status_json(project)["t/done"] == refreshed  # and the store now holds what it read

    # A new epoch: the crashed run resumed and finished (a new log, new epoch dirs).
    launch(project, crashed)
    after = same_as_refresh(project)
    assert (after["t/crashed"]["status"], after["t/crashed"]["completed_epochs"], after["t/crashed"]["sessions"]) == ("finished", 4, 2)

    # A run that dies: alive (paused inside epoch 1), settled, then killed.
    live = "./configs/t/live.py"
    proc, pause = _start_paused(project, live, "train:1:2", tmp_path)
    try:
        backdate(project, 1800)
        alive = same_as_refresh(project)
        assert alive["t/live"]["status"] in ("running", "stuck")
        assert alive["t/live"]["completed_epochs"] == 1
        assert quick_keys(project)["t/live"] is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    dead = same_as_refresh(project)
    assert dead["t/live"]["status"] == "failed"
    assert dead["t/live"]["completed_epochs"] == 1
    assert {k: v for k, v in dead.items() if k != "t/live"} == {k: v for k, v in alive.items() if k != "t/live"}


def test_a_new_process_reads_no_unchanged_file_of_a_settled_run(project, monkeypatch):
    """In-process stand-in for a second process (``runwatch.reset()`` empties every memo): the crashed
    run's log end comes from the store, and no scores file or log is opened again."""
    import runwatch
    from runwatch import get_all_run_status
    from runwatch.readers import logs, scores

    crashed = write_config(project, "t/crashed", trainer_dict("t/crashed", 4))
    assert launch(project, crashed, env={"SIM_CRASH_AT_EPOCH": "2"}, check=False).returncode != 0
    backdate(project)
    configs = [str(project / "configs" / "t" / "crashed.py")]
    first = get_all_run_status(configs, root=str(project), find_processes=False)
    runwatch.reset()
    read: list[str] = []
    real_tail, real_scores = logs.read_tail_checked, scores.read_aggregated
    monkeypatch.setattr(logs, "read_tail_checked", lambda p, *a, **k: read.append(p) or real_tail(p, *a, **k))
    monkeypatch.setattr("runwatch.readers.log_end.read_tail_checked", lambda p, *a, **k: read.append(p) or real_tail(p, *a, **k))
    monkeypatch.setattr(scores, "read_aggregated", lambda p, *a, **k: read.append(p) or real_scores(p, *a, **k))
    second = get_all_run_status(configs, root=str(project), find_processes=False)
    assert read == []
    (a,), (b,) = first.values(), second.values()
    assert (a.status, a.reason, a.progress.to_dict(), a.error_line) == (b.status, b.reason, b.progress.to_dict(), b.error_line)

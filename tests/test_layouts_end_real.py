"""How real Lightning runs end, read by a new `runwatch status` process that never saw them (issue 24).

The most common Lightning run, a plain ``Trainer(max_epochs=N)`` with every default, writes its
total nowhere; once its process is gone, a run whose records close its last epoch finished N/N.
One process that writes version_0 then version_1 has ended version_0 when it opens version_1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from test_layouts_real import ENV, NEEDED, WRITERS, _wait, status_json

import importlib.util

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED), reason="needs the test extra: " + ", ".join(NEEDED)),
]


@pytest.fixture(scope="module")
def ended(tmp_path_factory):
    root = tmp_path_factory.mktemp("ends")
    pl = root / "pl"
    pl.mkdir()
    kw = dict(cwd=str(root), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = subprocess.Popen([sys.executable, os.path.join(WRITERS, "lightning_run.py"), str(pl), "plain", "steps"], **kw)
    twice = subprocess.Popen([sys.executable, os.path.join(WRITERS, "lightning_run.py"), str(pl), "twice"], **kw)
    try:
        _wait(lambda: done.poll() == 0 and (pl / "twice.held").exists(), 240, [done, twice])
        yield {"root": str(root), "pl": pl, "twice": twice}
    finally:
        for p in (done, twice):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_plain_trainer_max_epochs_that_ended_reads_finished_n_of_n(ended):
    got = status_json(ended["root"], local=True)
    run = got["pl/plain/lightning_logs/version_0"]
    assert (run["status"], run["reason"]) == ("finished", None), run["reason_detail"]
    assert (run["completed_epochs"], run["total_epochs"], run["progress_percentage"]) == (3, 3, 100.0)
    assert "its last epoch closed" in run["reason_detail"] and not run["warnings"]


def test_plain_trainer_max_steps_that_ended_reads_finished(ended):
    run = status_json(ended["root"], local=True)["pl/steps/lightning_logs/version_0"]
    assert (run["status"], run["completed_steps"], run["total_steps"], run["progress_percentage"]) == ("finished", 10, 10, 100.0)


def test_one_process_writing_version_0_then_version_1(ended):
    pl, twice = ended["pl"], ended["twice"]
    v0, v1 = "pl/twice/lightning_logs/version_0", "pl/twice/lightning_logs/version_1"
    got = status_json(ended["root"], local=True)
    assert got[v0]["status"] == "running"  # its process is alive and has not moved on: it may still write
    (pl / "twice.release").write_text("")
    _wait(lambda: (pl / "twice.second_done").exists(), 240, [twice])
    got = status_json(ended["root"], local=True)
    assert (got[v0]["status"], got[v0]["completed_epochs"], got[v0]["total_epochs"]) == ("finished", 3, 3), got[v0]["reason_detail"]
    assert got[v1]["status"] == "running"  # the process still holds it
    (pl / "twice.exit").write_text("")
    assert twice.wait(timeout=60) == 0
    time.sleep(0.2)
    got = status_json(ended["root"], local=True)
    assert (got[v0]["status"], got[v1]["status"]) == ("finished", "finished")
    assert (got[v1]["completed_epochs"], got[v1]["total_epochs"]) == (2, 2)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_ends")
    out = root / "outputs"
    out.mkdir()
    (root / "runwatch.toml").write_text("stall_floor = 2\n")  # the default is a minute
    kw = dict(cwd=str(root), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = subprocess.Popen([sys.executable, os.path.join(WRITERS, "hf_run.py"), str(out), "es_nosave", "noname", "reuse1", "reuse2"], **kw)
    held = subprocess.Popen([sys.executable, os.path.join(WRITERS, "hf_run.py"), str(out), "none_hold"], **kw)
    try:
        _wait(lambda: done.poll() == 0 and (out / "none_hold.held").exists(), 240, [done, held])
        yield {"root": str(root), "held": held}
    finally:
        for p in (done, held):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_hf_early_stop_on_an_evaluation_that_was_no_save(hf):
    """EarlyStoppingCallback stopped after the 3rd evaluation; the last checkpoint (step 8) holds a
    counter of 0 and the run saved no state at its end: the replay of every evaluation says early stop."""
    run = status_json(hf["root"], local=True)["outputs/es_nosave"]
    assert (run["status"], run["early_stopped"], run["completed_epochs"], run["progress_percentage"]) == ("finished", True, 3, 100.0)
    assert set(run["latest_score"]) == {"eval_loss", "eval_mae"}  # every evaluation from the event files, timings left out


def test_hf_without_metric_for_best_model_shows_the_best_eval_loss(hf):
    run = status_json(hf["root"], local=True)["outputs/noname"]
    assert run["status"] == "finished" and run["best_score"] is not None and "eval_loss" in run["best_score"]
    assert run["best_epoch"] == 3  # the loss falls every epoch: the lowest is the last


def test_hf_report_to_none_killed_reads_failed_within_the_floor(hf):
    """No event file, no --output_dir on its command line: its saves are its pulse."""
    p = hf["held"]
    p.kill()
    p.wait()
    t0 = time.monotonic()
    while True:
        run = status_json(hf["root"], local=True)["outputs/none_hold"]
        if run["status"] != "running":
            break
        assert time.monotonic() - t0 < 2 + 10, "still running"
        time.sleep(0.3)
    assert (run["status"], run["reason"]) == ("failed", "stalled")


def test_hf_reused_output_dir_reads_the_newest_run_only(hf):
    """A 4-epoch run with save_model() and save_state(), then a 2-epoch run with no metric named into the same
    output_dir: its checkpoints, its total, its settings; the first run's checkpoint-12/16 and files ignored."""
    run = status_json(hf["root"], local=True)["outputs/reuse"]
    assert (run["status"], run["completed_epochs"], run["total_epochs"], run["completed_steps"], run["total_steps"]) == ("finished", 2, 2, 8, 8)
    assert run["main_metric"] == "eval_loss" and run["main_direction"] in (-1, "min", "lower")

"""HF Trainer and Lightning runs written by the real libraries, read through runwatch's layouts.

One session-scoped fixture trains tiny models on the CPU in four subprocesses (a run that
completes, one stopped early, one held mid-run so the tests read it while it is alive,
then killed) for each library; everything else reads those folders.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cli_helpers import rw

HERE = os.path.dirname(os.path.abspath(__file__))
WRITERS = os.path.join(HERE, "layout_writers")
ROOT = os.path.dirname(HERE)
ENV = {
    **os.environ,
    "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
NEEDED = ("torch", "transformers", "accelerate", "lightning", "tensorboard", "jsonargparse")

pytestmark = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED), reason="needs the test extra: " + ", ".join(NEEDED))


def _wait(pred, timeout, procs):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        for p in procs:
            if p.poll() not in (None, 0):
                raise AssertionError(f"writer failed: {p.args}\n{p.stderr.read().decode(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise AssertionError("writers did not get there in time")


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    hf, pl = root / "outputs", root / "lightning_logs"
    hf.mkdir()
    pl.mkdir()
    kw = dict(cwd=str(root), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = [
        subprocess.Popen([sys.executable, os.path.join(WRITERS, "hf_run.py"), str(hf), "complete", "early"], **kw),
        subprocess.Popen([sys.executable, os.path.join(WRITERS, "lightning_run.py"), str(pl), "cli", "early", "tb"], **kw),
    ]
    held = {
        "hf": subprocess.Popen([sys.executable, os.path.join(WRITERS, "hf_run.py"), str(hf), "hold", "--output_dir", "outputs/hold"], **kw),
        "pl": subprocess.Popen([sys.executable, os.path.join(WRITERS, "lightning_run.py"), str(pl), "hold"], **kw),
    }
    procs = done + list(held.values())
    try:
        _wait(lambda: all(p.poll() == 0 for p in done) and (hf / "hold.held").exists() and (pl / "hold.held").exists(), 240, procs)
        yield {"root": str(root), "held": held}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def status_json(root, *args, sleep_time=None, local=False):
    cmd = [sys.executable, "-m", "runwatch.cli", "status", "--json", "--local" if local else "--no-local", "--root", root, *args]
    if sleep_time is not None:
        cmd += ["--sleep-time", str(sleep_time)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return {run["run"]: run for run in json.loads(r.stdout)["runs"]}


def test_cli_finds_every_run_outside_a_pylon_project(runs):
    got = status_json(runs["root"])
    assert set(got) == {
        "outputs/complete",
        "outputs/early",
        "outputs/hold",
        "lightning_logs/cli/version_0",
        "lightning_logs/early/version_0",
        "lightning_logs/tb/version_0",
        "lightning_logs/hold/version_0",
    }
    assert {r["runner_type"] for r in got.values()} == {"hf_trainer", "lightning"}


def test_cli_table_shows_them_like_any_run(runs):
    r = rw("status", "--no-local", "--sleep-time", "0", "--root", runs["root"], env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip() and "/" in line.split()[0]}
    assert "hf_trainer" in lines["outputs/complete"] and "4/4" in lines["outputs/complete"] and "eval_mae" in lines["outputs/complete"]
    assert "lightning" in lines["lightning_logs/tb/version_0"] and "3/?" in lines["lightning_logs/tb/version_0"]


def test_hf_complete_and_early_stopped(runs):
    time.sleep(1.1)
    got = status_json(runs["root"], os.path.join(runs["root"], "outputs"), sleep_time=0)
    c, e = got["outputs/complete"], got["outputs/early"]
    assert c["status"] == "finished" and (c["completed_epochs"], c["total_epochs"]) == (4, 4)
    assert (c["completed_steps"], c["total_steps"]) == (16, 16) and c["progress_percentage"] == 100.0
    state = json.load(open(os.path.join(runs["root"], "outputs", "complete", "trainer_state.json")))
    assert c["main_metric"] == "eval_mae" and c["main_direction"] in ("min", -1)
    assert c["main_best"] == pytest.approx(state["best_metric"])
    assert c["best_score"]["eval_mae"] == pytest.approx(state["best_metric"]) and c["eta_seconds"] is None
    assert e["status"] == "finished" and e["early_stopped"] and e["total_epochs"] == 20
    assert e["completed_epochs"] == e["early_stopped_at_epoch"] < 20


def test_lightning_complete_early_and_unknown_total(runs):
    time.sleep(1.1)
    got = status_json(runs["root"], os.path.join(runs["root"], "lightning_logs"), sleep_time=0)
    cli, early, tb = got["lightning_logs/cli/version_0"], got["lightning_logs/early/version_0"], got["lightning_logs/tb/version_0"]
    assert cli["status"] == "finished" and (cli["completed_epochs"], cli["total_epochs"]) == (4, 4)  # total from config.yaml
    assert early["status"] == "finished" and early["early_stopped"] and early["main_metric"] == "val_loss"
    assert early["completed_epochs"] == 3 and early["total_epochs"] is None
    # no config.yaml: epochs done without a total, never a made-up percentage of one
    assert tb["completed_epochs"] == 3 and tb["total_epochs"] is None and tb["progress_percentage"] == 0.0
    assert any("total epochs unknown" in w for w in tb["warnings"])


def test_running_runs_read_while_they_train(runs):
    got = status_json(runs["root"])
    h = got["outputs/hold"]
    assert h["status"] == "running" and (h["completed_epochs"], h["total_epochs"]) == (2, 4)
    assert (h["completed_steps"], h["total_steps"]) == (8, 16) and h["progress_percentage"] == 50.0
    assert h["eta_seconds"] is not None and h["eta_seconds"] > 0 and h["main_best"] is not None
    p = got["lightning_logs/hold/version_0"]
    assert p["status"] == "running" and p["completed_epochs"] == 2 and p["total_epochs"] is None


def test_a_live_hf_process_is_matched_by_its_output_dir(runs):
    got = status_json(runs["root"], local=True)
    h = got["outputs/hold"]
    assert h["process_info"] is not None and h["process_info"]["pid"] == runs["held"]["hf"].pid
    time.sleep(1.1)
    # alive but silent past sleep_time: stuck (a hung trainer), not failed
    assert status_json(runs["root"], sleep_time=0, local=True)["outputs/hold"]["status"] == "stuck"


def test_api_gives_the_same_answer_with_curves(runs):
    from runwatch import get_all_run_status
    from runwatch.project import Project
    from runwatch.layouts import discover_runs

    project = Project.at(runs["root"])
    keys = discover_runs(project)
    out = get_all_run_status(keys, root=runs["root"], use_store=False)
    by_run = {s.run: s for s in out.values()}
    h = by_run["outputs/hold"]
    assert h.status == "running" and h.progress.completed_steps == 8
    assert [e.scores["eval_mae"] is not None for e in h.details.epochs] == [True, True]  # one point per evaluation
    early = by_run["lightning_logs/early/version_0"]
    assert [e.index for e in early.details.epochs] == [0, 1, 2] and all("val_loss" in e.scores for e in early.details.epochs)


def test_server_shows_the_same_runs(runs):
    import urllib.request

    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    cli = status_json(runs["root"])
    with BackgroundServer(runs["root"], sweep_interval=3600, monitor=ProcessSnapshot()) as srv:
        with urllib.request.urlopen(srv.base + "api/runs", timeout=30) as r:
            body = json.loads(r.read())
        with urllib.request.urlopen(srv.base + "metrics", timeout=30) as r:
            metrics = r.read().decode()
    records = body["runs"] if isinstance(body, dict) else body
    api = {rec["run"]: rec for rec in records}
    assert set(api) == set(cli)
    for name in ("outputs/complete", "outputs/early", "lightning_logs/cli/version_0", "lightning_logs/early/version_0"):
        for k in ("completed_epochs", "total_epochs", "early_stopped", "main_best", "completed_steps"):
            assert api[name][k] == cli[name][k], (name, k)
    # /metrics counts the same runs per status (per-run series exist only for active runs).
    counted = {}
    for line in metrics.splitlines():
        if line.startswith("runwatch_runs{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counted[status] = int(float(line.rsplit(" ", 1)[1]))
    assert sum(counted.values()) == len(api)
    for status in {rec["status"] for rec in records}:
        assert counted[status] == sum(rec["status"] == status for rec in records), status


def test_killed_runs_are_failed_not_running(runs):
    for p in runs["held"].values():
        p.send_signal(signal.SIGKILL)
        p.wait()
    time.sleep(1.1)
    got = status_json(runs["root"], sleep_time=0)
    h, p = got["outputs/hold"], got["lightning_logs/hold/version_0"]
    assert h["status"] == "failed" and h["completed_epochs"] == 2 and not h["early_stopped"]
    assert p["status"] == "failed" and p["completed_epochs"] == 2


def test_forced_layout_and_mixed_project(runs, tmp_path):
    from runwatch.project import Project
    from runwatch.layouts import discover_runs
    from runwatch.settings import load_settings
    from runwatch.testing.generator import generate_tree

    assert all("/outputs/" in k for k in discover_runs(Project.at(runs["root"], load_settings(runs["root"], layout="huggingface"))))
    generate_tree(str(tmp_path), n_runs=3)
    os.symlink(os.path.join(runs["root"], "outputs"), tmp_path / "outputs")  # links are not followed: copy instead
    os.unlink(tmp_path / "outputs")
    import shutil

    shutil.copytree(os.path.join(runs["root"], "outputs", "complete"), tmp_path / "outputs" / "complete")
    keys = discover_runs(Project.at(str(tmp_path)))
    assert sum(k.endswith(".py") for k in keys) >= 3 and keys[-1] == str(tmp_path / "outputs" / "complete")

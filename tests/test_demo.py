"""``runwatch demo`` as a user runs it: live runs progress on disk, Ctrl-C leaves no process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil

from cli_helpers import rw
from runwatch.demo.project import create_demo_project

ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def finished_epochs(work_dir: str) -> int:
    n = 0
    while all(
        os.path.getsize(os.path.join(work_dir, f"epoch_{n}", f)) > 0 if os.path.exists(os.path.join(work_dir, f"epoch_{n}", f)) else False
        for f in ("training_losses.pt", "optimizer_buffer.json", "validation_scores.json")
    ):
        n += 1
    return n


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def start_demo(root: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runwatch.cli", "demo", root, "--no-browser", "--port", str(free_port()), "--runs", "13"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def gone(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_demo_trains_live_and_ctrl_c_leaves_nothing(tmp_path) -> None:
    root = str(tmp_path / "demo")
    demo = start_demo(root)
    try:
        wait_for(lambda: os.path.isfile(os.path.join(root, "demo_plan.json")), 60, "the demo project")
        with open(os.path.join(root, "demo_plan.json")) as f:
            plan = json.load(f)
        live = next(rel for rel, p in plan.items() if p["mode"] == "train" and not p.get("crash_at"))
        wd = os.path.join(root, "logs", *live.split("/"))
        wait_for(lambda: finished_epochs(wd) >= 1, 60, "a first live epoch")
        first = finished_epochs(wd)
        wait_for(lambda: finished_epochs(wd) >= first + 2, 30, "live epochs to keep coming")
        children = descendants(demo.pid)
        stuck = [rel for rel, p in plan.items() if p["mode"] == "stuck"]
        assert stuck and len(children) >= len(plan)
        # The local process source sees the demo's real processes: stuck runs are stuck, live ones carry a pid.
        r = rw("status", "--json", "--root", root)
        runs = {x["run"]: x for x in json.loads(r.stdout)["runs"]}
        pids = {c.pid for c in children}
        for rel in stuck:
            assert runs[rel]["status"] == "stuck" and runs[rel]["process_info"]["pid"] in pids
        assert runs[live]["status"] == "running" and runs[live]["process_info"]["pid"] in pids
        demo.send_signal(signal.SIGINT)
        demo.wait(30)
        assert gone(children) == [], "demo left processes behind"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
    out = demo.stdout.read() if demo.stdout else ""
    assert "runwatch demo stopped" in out
    assert "Traceback" not in (demo.stderr.read() if demo.stderr else "")


def test_killed_demo_still_leaves_no_process(tmp_path) -> None:
    root = str(tmp_path / "demo")
    demo = start_demo(root)
    try:
        wait_for(lambda: len(descendants(demo.pid)) >= 6, 60, "the run processes")
        time.sleep(1.0)
        children = descendants(demo.pid)
        demo.kill()  # SIGKILL: no cleanup code runs; the runs notice their parent is gone
        demo.wait(10)
        wait_for(lambda: not gone(children), 15, "orphaned run processes to exit")
    finally:
        for p in descendants(demo.pid) if demo.poll() is None else []:
            p.kill()


def test_demo_refuses_a_folder_with_other_files(tmp_path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    r = rw("demo", str(tmp_path), "--no-browser")
    assert r.returncode == 2 and "not empty" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "thesis.tex").read_text() == "precious" and sorted(os.listdir(tmp_path)) == ["thesis.tex"]


def test_demo_project_has_every_kind_and_a_plan(tmp_path) -> None:
    demo = create_demo_project(str(tmp_path), n_runs=13, n_live=6)
    modes = sorted(p["mode"] for p in demo.plan.values())
    assert {"train", "eval", "stuck"} <= set(modes)
    assert any(p.get("crash_at") for p in demo.plan.values()) and any(p.get("patience") for p in demo.plan.values())
    for f in ("main.py", "runwatch.toml", "demo_plan.json", ".runwatch-demo"):
        assert (tmp_path / f).is_file()
    for rel in demo.plan:
        assert (tmp_path / "configs" / f"{rel}.py").is_file()
    again = create_demo_project(str(tmp_path), n_runs=13, n_live=6)  # reusing an earlier demo is allowed
    assert again.plan == demo.plan


def test_demo_main_crash_writes_a_real_traceback(tmp_path) -> None:
    """The crashing run's traceback, formatted by Python itself, goes to stderr only, as Pylon's do (issue 19),
    never into its log; the status says failed."""
    demo = create_demo_project(str(tmp_path), n_runs=13, n_live=6)
    rel = next(r for r, p in demo.plan.items() if p.get("crash_at"))
    plan = json.loads((tmp_path / "demo_plan.json").read_text())
    plan[rel].update(interval=0.05, crash_at=1)
    (tmp_path / "demo_plan.json").write_text(json.dumps(plan))
    r = subprocess.run(
        [sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"], cwd=tmp_path, timeout=60, check=False, capture_output=True, text=True
    )
    assert r.returncode == 1
    r_crash_output = r.stdout + r.stderr
    assert "Traceback (most recent call last):" in r.stderr and "in backward" in r.stderr and r.stderr.rstrip().endswith("at step 6")
    log = (tmp_path / "logs" / rel / "train_val_0.log").read_text()
    assert "Traceback" not in log and "Training [Epoch 1/" in log
    r = rw("status", "--json", "--no-local", "--sleep-time", "0", "--root", str(tmp_path), rel)
    (rec,) = json.loads(r.stdout)["runs"]
    assert rec["status"] == "failed" and rec["completed_epochs"] == 1
    # Where the demo sends a run's output (demo/processes.py), its settings point runwatch: the exception is found.
    out = tmp_path / "demo_output" / f"{rel}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(r_crash_output)
    r = rw("status", "--json", "--no-local", "--root", str(tmp_path), rel)
    (rec,) = json.loads(r.stdout)["runs"]
    assert rec["status"] == "failed" and rec["reason"] == "oom", {
        k: rec.get(k) for k in ("reason", "reason_detail", "error_line", "error_source", "last_update_time")
    }
    assert rec["error_line"].startswith("RuntimeError: CUDA out of memory") and rec["error_source"] == "output_glob", rec


def test_demo_multi_stage_run_ends_at_its_largest_stage_without_a_config_warning(tmp_path) -> None:
    """The demo's list config runs as Pylon's main.py runs one: both stages in the one work dir they
    share, the second resuming from the first; the run ends at the largest stage's epochs, not the
    sum, and runwatch says finished N/N with no "config changed after launch" warning."""
    demo = create_demo_project(str(tmp_path), n_runs=13, n_live=6)
    rel = next(r for r, p in demo.plan.items() if p.get("kind") == "multi_stage")
    plan = json.loads((tmp_path / "demo_plan.json").read_text())
    plan[rel]["interval"] = 0.02
    if "stages" in plan[rel]:  # the plan says what main.py trains; its config, below, what runwatch expects
        plan[rel]["stages"] = [2, 3]
    (tmp_path / "demo_plan.json").write_text(json.dumps(plan))
    cfg = tmp_path / "configs" / f"{rel}.py"
    text = cfg.read_text()
    import re

    epochs = [int(x) for x in re.findall(r"'epochs': (\d+)", text)]
    assert len(epochs) == 2
    cfg.write_text(text.replace(f"'epochs': {epochs[0]}}}", "'epochs': 2}", 1).replace(f"'epochs': {epochs[1]}}}", "'epochs': 3}", 1))
    r = subprocess.run(
        [sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"], cwd=tmp_path, timeout=120, check=False, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert finished_epochs(str(tmp_path / "logs" / rel)) == 3
    r = rw("status", "--json", "--no-local", "--root", str(tmp_path), rel)
    (rec,) = json.loads(r.stdout)["runs"]
    assert (rec["status"], rec["completed_epochs"], rec["total_epochs"]) == ("finished", 3, 3), rec
    assert not any("config changed" in w for w in rec["warnings"] or []), rec["warnings"]


def test_ctrl_c_stops_a_served_demo_within_two_seconds_and_removes_its_folder(tmp_path) -> None:
    """A real ``runwatch demo`` (temporary folder, dashboard, a page's WebSocket connected, its runs training):
    SIGINT ends it within 2 s with no process left and its temporary folder gone."""
    import asyncio

    from websockets.asyncio.client import connect

    from runwatch.demo.session import STOP_WITHIN_S

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "runwatch.cli", "demo", "--no-browser", "--port", str(port), "--runs", "13"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(ENV, TMPDIR=str(tmp)),
    )
    try:
        first = demo.stdout.readline() if demo.stdout else ""
        assert "temporary, removed on exit" in first, first
        root = first.split(": ", 1)[1].split(" (", 1)[0]
        assert os.path.isdir(root) and root.startswith(str(tmp))
        line = ""
        while "dashboard:" not in line:
            line = demo.stdout.readline() if demo.stdout else ""
            assert line, demo.stderr.read() if demo.stderr else ""
        wait_for(lambda: len(descendants(demo.pid)) >= 6, 60, "the run processes")
        time.sleep(3.0)  # the runs train; the index has taken their first changes
        children = descendants(demo.pid)

        async def interrupt_while_connected() -> float:
            async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                json.loads(await ws.recv())  # the page's snapshot: a client is connected
                t0 = time.monotonic()
                demo.send_signal(signal.SIGINT)
                while demo.poll() is None and time.monotonic() - t0 < 30:
                    await asyncio.sleep(0.02)
                return time.monotonic() - t0

        took = asyncio.run(interrupt_while_connected())
        assert demo.poll() is not None, "the demo did not stop"
        assert took < STOP_WITHIN_S <= 2.0, f"Ctrl-C took {took:.2f} s"
        assert gone(children) == [], "demo left processes behind"
        assert not os.path.exists(root), "the temporary folder was left behind"
        assert os.listdir(tmp) == []
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
    out = demo.stdout.read() if demo.stdout else ""
    err = demo.stderr.read() if demo.stderr else ""
    assert "runwatch demo stopped" in out
    assert "Traceback" not in err and "still stopping" not in err, err


def test_a_blocked_server_still_leaves_no_temporary_folder(tmp_path, monkeypatch) -> None:
    """The server's shutdown blocked (runwatch.server force-exits it after FORCE_EXIT_AFTER_S, skipping the
    demo's ``finally``): the runs are stopped at the signal and the temporary folder removed meanwhile, well
    before a force exit would come."""
    from runwatch.demo import session
    from runwatch.server import FORCE_EXIT_AFTER_S

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(session.tempfile, "tempdir", None)  # read TMPDIR again
    seen: dict[str, object] = {}

    def blocked_server(root: str, **kw) -> None:
        seen["root"] = root
        wait_for(lambda: len(descendants(os.getpid())) >= 6, 60, "the run processes")
        children = descendants(os.getpid())
        t0 = time.monotonic()
        kw["on_signal"]()  # SIGINT reached the server, whose shutdown then blocks
        while os.path.exists(root) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        seen["removed_after"] = time.monotonic() - t0 if not os.path.exists(root) else None
        seen["left"] = gone(children)

    session.run_demo(None, open_browser=False, n_runs=13, load_server=lambda: blocked_server)
    assert seen["removed_after"] is not None and seen["removed_after"] < min(2.5, FORCE_EXIT_AFTER_S), seen
    assert seen["left"] == [], "run processes outlived the signal"
    assert os.listdir(tmp_path) == []

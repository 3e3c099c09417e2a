"""Status on a running ``runwatch serve`` (inotify): real toy runs, the REST API, and the collector endpoint.

The latency bounds here are generous (the figures measured on a quiet machine are in
docs/status.md); what they pin is that evidence reaches the page in about a second,
not after a sleep_time or a 5 s sweep.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from status_project import SETTINGS, ToyProject

from runwatch.project import Project
from runwatch.processes import monitor_from_settings
from runwatch.server import BackgroundServer

pytestmark = pytest.mark.timeout(120)
BOUND = 2.0  # the target; CI machines are slow, so a miss is reported with the figure


def runs(srv) -> dict[str, dict]:
    with urllib.request.urlopen(srv.base.rstrip("/") + "/api/runs", timeout=10) as r:
        return {x["run"]: x for x in json.load(r)["runs"]}


def wait_run(srv, rel, pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    rec = None
    while time.monotonic() < deadline:
        rec = runs(srv).get(rel)
        if rec is not None and pred(rec):
            return rec, time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{rel}: not reached within {timeout}s: {rec and (rec['status'], rec['reason'])}")


@pytest.fixture
def proj(tmp_path):
    p = ToyProject(tmp_path / "proj", settings=SETTINGS + 'collector_token = "s3cret-collector-token"\n')
    yield p
    p.close()


def serve(proj):
    (proj.root / "logs").mkdir(exist_ok=True)  # a project's logs/ exists before its dashboard starts
    project = Project.at(proj.root)
    return BackgroundServer(str(proj.root), monitor=monitor_from_settings(project, ssh=[]), polling=False)


def test_finished_within_2s_of_exit_and_crash_within_2s_of_the_traceback(proj):
    proj.config("a/done", epochs=8, epoch_seconds=0.5)
    proj.config("a/crash", epochs=50, epoch_seconds=0.5, crash_at=3, traceback_to_log=True)
    with serve(proj) as srv:
        done = proj.launch("a/done")
        crash = proj.launch("a/crash")
        wait_run(srv, "a/done", lambda r: r["status"] == "running")
        log = proj.work_dir("a/crash") / "train_val_0.log"
        exited_at = failed_at = finished_at = None
        deadline = time.monotonic() + 30
        while (failed_at is None or finished_at is None) and time.monotonic() < deadline:
            recs = runs(srv)
            now = time.time()
            if exited_at is None and done.poll() is not None:
                exited_at = now  # within one poll (~0.05 s) of the exit
            if finished_at is None and recs["a/done"]["status"] == "finished":
                finished_at = now
            if failed_at is None and recs["a/crash"]["status"] == "failed" and recs["a/crash"]["error_source"] == "log":
                failed_at = now
                crash_rec = recs["a/crash"]
            time.sleep(0.05)
        assert finished_at is not None and failed_at is not None
        assert exited_at is not None
        logged = log.stat().st_mtime  # the traceback was the log's last write
        assert crash_rec["reason"] == "oom" and crash_rec["error_source"] == "log" and crash_rec["error_line"].startswith("RuntimeError")
    finish_latency = max(finished_at - exited_at, 0.0)
    crash_latency = failed_at - logged
    print(f"finished latency {finish_latency:.2f}s, crash latency {crash_latency:.2f}s")
    assert finish_latency < BOUND * 2 and crash_latency < BOUND * 2


def test_collector_post_turns_the_run_failed_with_its_output(proj):
    proj.config("a/remote", epochs=50, epoch_seconds=0.3)
    with serve(proj) as srv:
        p = proj.launch("a/remote")
        proj.wait_epochs("a/remote", 1)
        p.kill()
        p.wait()
        event = {
            "host": "gpu-3",
            "timestamp": time.time(),
            "command": "python main.py --config-filepath ./configs/a/remote.py",
            "output_lines": ["Traceback (most recent call last):", '  File "main.py", line 1, in <module>', "ValueError: bad batch"],
            "work_dir": "./logs/a/remote",
        }
        url = srv.base.rstrip("/") + "/api/collector"

        def post(body: bytes, token: str | None) -> int:
            req = urllib.request.Request(
                url, data=body, method="POST", headers={"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        assert post(json.dumps(event).encode(), None) == 401
        assert post(json.dumps(event).encode(), "wrong") == 401
        assert post(b'{"output_lines": 3, "work_dir": "x"}', "s3cret-collector-token") == 400
        t0 = time.monotonic()
        assert post(json.dumps(event).encode(), "s3cret-collector-token") == 201
        rec, at = wait_run(srv, "a/remote", lambda r: r["error_source"] == "collector")
        assert at - t0 < 5
        assert (rec["status"], rec["reason"], rec["error_line"]) == ("failed", "crashed", "ValueError: bad batch")
        assert rec["output_tail"][-1] == "ValueError: bad batch"
        # The REST filter by reason.
        with urllib.request.urlopen(srv.base.rstrip("/") + "/api/runs?reason=crashed,never_started", timeout=10) as r:
            assert [x["run"] for x in json.load(r)["runs"]] == ["a/remote"]
        try:
            urllib.request.urlopen(srv.base.rstrip("/") + "/api/runs?reason=bogus", timeout=10)
            raise AssertionError("an unknown reason must be refused")
        except urllib.error.HTTPError as e:
            assert e.code == 400 and "bogus" in e.read().decode()
    # Stored in runwatch's own store, never in the project's collector file.
    assert (proj.root / ".runwatch-cache" / "collector-events.jsonl").exists()
    assert not (proj.root / "agents").exists()
    # A one-shot API call in a new process reads the same event.
    rs = proj.api("a/remote")
    assert (rs.status, rs.reason, rs.error_source) == ("failed", "crashed", "collector")


def test_the_launchers_post_on_a_real_crash(proj):
    """The launcher stand-in runs the job, and on its non-zero exit POSTs its output to runwatch serve."""
    import subprocess
    import sys
    from pathlib import Path

    (proj.root / "runwatch.toml").write_text('stall_floor = 1\ntmux_output = false\ncollector_token = "s3cret-collector-token"\n')  # no output glob
    proj.config("a/launched", epochs=5, epoch_seconds=0.2, crash_at=1)
    launcher = Path(__file__).parent / "pylon_toy" / "remote_command.py"
    with serve(proj) as srv:
        rc = subprocess.run(
            [
                sys.executable,
                str(launcher),
                "--collector",
                srv.base.rstrip("/") + "/api/collector",
                "--token",
                "s3cret-collector-token",
                "--work-dir",
                "./logs/a/launched",
                "--",
                sys.executable,
                "main.py",
                "--config-filepath",
                "./configs/a/launched.py",
            ],
            cwd=proj.root,
            capture_output=True,
            text=True,
            timeout=60,
        ).returncode
        assert rc == 1
        rec, _ = wait_run(srv, "a/launched", lambda r: r["error_source"] == "collector", timeout=5)
        assert (rec["status"], rec["reason"]) == ("failed", "oom") and rec["error_line"].startswith("RuntimeError: CUDA out of memory")

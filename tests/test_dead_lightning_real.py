"""Lightning runs that died, read with every default setting (issue 24, what the first pass left).

Real Lightning (``tests/layout_writers/lightning_run.py``, torch on the CPU) writes every run here. One
module fixture starts them all at once and follows them on one timeline: a new ``runwatch status``
process answers about the whole tree about once a second, and an in-process ``runwatch serve``
(``BackgroundServer``) over a second tree is asked ten times a second. The tests read that timeline:

- a run logging only with a CSVLogger, killed in the middle of an epoch, reads dead within the default
  60 s floor of its last row (its rows' pace is its pulse), not after the 3,600 s default;
- one with a slow first epoch (a 40 s first batch) and a 45 s validation without a row never reads dead;
- runs killed right after an epoch's checkpoint, as the next epoch starts (the default TensorBoard logger,
  and a CSVLogger), leave the files a normal end leaves. One whose process runwatch saw alive 30 s after
  its last write reads killed (a finished fit exits within seconds of it); one with no process to ask reads
  finished, with a reason that says so (the documented limit of a framework that writes its total nowhere:
  docs/status.md);
- on ``runwatch serve``, the killed CSV run flips to failed within 2 s of its silence limit (the server wakes
  when the limit falls due, not at its next 5 s sweep).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WRITERS = os.path.join(HERE, "layout_writers")
ROOT = os.path.dirname(HERE)
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
FLOOR = 60.0  # the default stall_floor: nothing is lowered here
ALIVE_AFTER_END = 30.0  # rules.ALIVE_AFTER_END: a finished fit exits within seconds of its last checkpoint
SERVE_BOUND = 2.0  # the target for runwatch serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("torch", "lightning", "tensorboard")), reason="needs the test extra"),
]

KILLED = ("csvkill", "between", "csvbetween")
RUN = {m: f"pl/{m}/version_0" if m != "between" else "pl/between/lightning_logs/version_0" for m in (*KILLED, "csvlive")}


def _status(root: str) -> dict[str, dict]:
    """A new ``runwatch status`` process, every default (this machine's processes looked up)."""
    r = subprocess.run([sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", root], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return {x["run"]: x for x in json.loads(r.stdout)["runs"]}


def _writer(root, *modes: str) -> subprocess.Popen:
    err = open(os.path.join(root, "writer-" + "-".join(modes) + ".err"), "wb")
    return subprocess.Popen(
        [sys.executable, os.path.join(WRITERS, "lightning_run.py"), os.path.join(root, "pl"), *modes], cwd=root, env=ENV, stdout=subprocess.DEVNULL, stderr=err
    )


def _wait(pred, timeout: float, procs: list[subprocess.Popen]) -> None:
    end = time.monotonic() + timeout
    while not pred():
        for p in procs:
            assert p.poll() in (None, 0), f"a writer failed: {p.args}"
        assert time.monotonic() < end, "the writers did not get there in time"
        time.sleep(0.1)


class ServeWatch(threading.Thread):
    """Asks a running server for one run ten times a second; notes when it first reads failed."""

    def __init__(self, srv, run: str) -> None:
        super().__init__(daemon=True)
        self.srv, self.run_name = srv, run
        self.failed_at: float | None = None
        self.record: dict | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.failed_at is None:
            try:
                with urllib.request.urlopen(self.srv.base.rstrip("/") + "/api/runs", timeout=10) as r:
                    recs = {x["run"]: x for x in json.load(r)["runs"]}
            except OSError:
                time.sleep(0.1)
                continue
            rec = recs.get(self.run_name)
            if rec is not None and rec["status"] != "running":
                self.failed_at, self.record = time.time(), rec
            time.sleep(0.1)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    from runwatch.project import Project
    from runwatch.processes import monitor_from_settings
    from runwatch.server import BackgroundServer

    root = str(tmp_path_factory.mktemp("dead_pl"))
    served = str(tmp_path_factory.mktemp("dead_pl_served"))
    os.makedirs(os.path.join(root, "pl"))
    os.makedirs(os.path.join(served, "pl"))
    procs = {m: _writer(root, m) for m in (*KILLED, "csvlive")}
    served_proc = _writer(served, "csvkill")
    held = lambda r, m: os.path.exists(os.path.join(r, "pl", f"{m}.held"))
    srv = None
    try:
        _wait(lambda: all(held(root, m) for m in KILLED) and held(served, "csvkill"), 240, [*procs.values(), served_proc])
        srv = BackgroundServer(served, monitor=monitor_from_settings(Project.at(served), ssh=[]), polling=False).__enter__()
        watch = ServeWatch(srv, "pl/csvkill/version_0")
        watch.start()
        time.sleep(1.0)  # the server has read the run alive (running)
        killed_at = {}

        def kill(m: str) -> None:
            procs[m].send_signal(signal.SIGKILL)
            procs[m].wait()
            killed_at[m] = time.time()

        kill("csvkill")
        served_proc.kill()
        served_proc.wait()
        served_killed = time.time()
        # the runs held between two epochs: one answer while they are still held, clearly after their last write
        between = ("between", "csvbetween")
        _wait(lambda: all(time.time() - _newest(root, RUN[m]) > ALIVE_AFTER_END + 3 for m in between), 120, [procs[m] for m in between])
        before_writes = {m: _newest(root, RUN[m]) for m in between}
        before = (time.time(), _status(root))
        for m in between:
            kill(m)
        polls: list[tuple[float, dict[str, dict]]] = []
        live_exit: float | None = None
        end = time.time() + 300
        while time.time() < end:
            t = time.time()
            polls.append((t, _status(root)))
            if live_exit is None and procs["csvlive"].poll() is not None:
                live_exit = time.time()
            settled = all(polls[-1][1][RUN[m]]["status"] != "running" for m in KILLED)
            if settled and live_exit is not None and watch.failed_at is not None and t - killed_at["csvkill"] > FLOOR + 5:
                break
            time.sleep(0.5)
        watch.stop.set()
        assert procs["csvlive"].wait(timeout=60) == 0, "the live run's writer failed"
        yield {
            "root": root,
            "polls": polls,
            "before": before,
            "before_writes": before_writes,
            "killed_at": killed_at,
            "live_exit": live_exit,
            "watch": watch,
            "served": served,
            "served_killed": served_killed,
        }
    finally:
        if srv is not None:
            srv.__exit__(None, None, None)
        for p in (*procs.values(), served_proc):
            if p.poll() is None:
                p.kill()
            p.wait()


def _newest(root: str, run: str) -> float:
    """The newest mtime of the run's files (what runwatch calls its last sign of life)."""
    return max(os.stat(os.path.join(d, n)).st_mtime for d, _, names in os.walk(os.path.join(root, "pl", run.split("/")[1])) for n in names)


def _mtime(root: str, run: str, name: str) -> float:
    return os.stat(os.path.join(root, run, name)).st_mtime


def test_csv_only_run_killed_mid_epoch_reads_dead_within_a_minute_of_its_last_row(timeline):
    run = RUN["csvkill"]
    last_row = _mtime(timeline["root"], run, "metrics.csv")
    dead = [(t, r[run]) for t, r in timeline["polls"] if r[run]["status"] != "running"]
    assert dead, "never read dead"
    _, rec = dead[0]
    first_dead_at = rec["checked_at"]
    assert (rec["status"], rec["reason"]) in (("failed", "stalled"), ("failed", "exited")), rec["reason_detail"]
    # its last row was written before the kill: dead within a minute of the kill, and not before its limit
    assert first_dead_at - last_row <= FLOOR + 5, f"read dead only {first_dead_at - last_row:.1f} s after its last row"
    assert first_dead_at - timeline["killed_at"]["csvkill"] <= FLOOR + 5
    if rec["reason"] == "stalled":
        assert "the floor of 60 s" in rec["reason_detail"] and "a line every" in rec["reason_detail"]
        assert all(r[run]["status"] == "running" for _, r in timeline["polls"] if r[run]["checked_at"] - last_row < FLOOR - 0.5)
    assert rec["completed_epochs"] == 2 and rec["total_epochs"] is None


def test_csv_only_live_run_with_a_slow_first_epoch_and_a_45s_silent_validation_never_reads_dead(timeline):
    run = RUN["csvlive"]
    live = [(t, r[run]) for t, r in timeline["polls"] if timeline["live_exit"] is None or t < timeline["live_exit"] - 1]
    assert len(live) >= 15  # a new process each time: about one a second on a quiet machine
    assert all(rec["status"] == "running" for _, rec in live), [(rec["status"], rec["reason_detail"]) for _, rec in live if rec["status"] != "running"]
    # the answers did look into its long silences: the 40 s first batch (no row yet) and the 45 s validation
    csv = os.path.join(timeline["root"], run, "metrics.csv")
    assert os.path.exists(csv)
    assert any(rec["completed_epochs"] == 1 for _, rec in live) and any(rec["completed_epochs"] == 0 for _, rec in live)


def test_runs_killed_right_after_an_epochs_checkpoint(timeline):
    """Killed in the instant between two epochs, a run leaves what a finished fit leaves. A finished fit exits
    within seconds of its last checkpoint: the TensorBoard run, whose process (named by its event file) a
    runwatch saw alive 30 s after its last write, reads killed once gone. The CSV one has no process to ask:
    nothing saw it alive, and it reads finished by the documented limit."""
    root = timeline["root"]
    seen_at, before = timeline["before"]
    for m in ("between", "csvbetween"):
        run = RUN[m]
        assert before[run]["status"] == "running", (m, before[run]["reason_detail"])
        assert seen_at - timeline["before_writes"][m] > ALIVE_AFTER_END
        assert _newest(root, run) == timeline["before_writes"][m], "it wrote nothing after that answer"
        assert os.path.exists(os.path.join(root, run, "checkpoints", "epoch=1-step=8.ckpt" if m == "between" else "epoch=1-step=200.ckpt"))
    # the TensorBoard run: its writer (host, pid) is named by its event file, seen alive, then gone at once
    tb = [r[RUN["between"]] for _, r in timeline["polls"]]
    assert all((rec["status"], rec["reason"]) == ("failed", "exited") for rec in tb), [(rec["status"], rec["reason_detail"]) for rec in tb]
    detail = tb[0]["reason_detail"]
    assert detail.startswith("process ") and "has exited; it was seen alive" in detail, detail
    assert "s after its last epoch's checkpoint (a finished fit exits within seconds of it" in detail, detail
    assert (tb[-1]["completed_epochs"], tb[-1]["total_epochs"]) == (2, None)
    # the CSV one: no process of it to ask (none by command line, open files or cwd), so nothing was seen
    # alive: its silence decides, after the floor, and it reads finished (the documented limit)
    csv = [(t, r[RUN["csvbetween"]]) for t, r in timeline["polls"]]
    assert all(rec["status"] in ("running", "finished") for _, rec in csv)
    last = csv[-1][1]
    assert (last["status"], last["reason"]) == ("finished", None), last["reason_detail"]
    assert "only a kill in the instant between two epochs would leave the same files" in last["reason_detail"]
    assert (last["completed_epochs"], last["total_epochs"]) == (2, 2)
    last_row = _mtime(root, RUN["csvbetween"], "metrics.csv")
    assert all(rec["status"] == "running" for _, rec in csv if rec["checked_at"] - last_row < FLOOR - 0.5)
    assert any(rec["status"] == "finished" for _, rec in csv if rec["checked_at"] - last_row <= FLOOR + 5)


def test_serve_flips_a_rhythm_death_within_2s_of_its_silence_limit(timeline):
    watch = timeline["watch"]
    assert watch.failed_at is not None, "the server never read it dead"
    rec = watch.record
    assert (rec["status"], rec["reason"]) == ("failed", "stalled"), rec["reason_detail"]
    last_row = _mtime(timeline["served"], "pl/csvkill/version_0", "metrics.csv")
    due = last_row + FLOOR  # the floor set its limit (its pace is a row every fraction of a second)
    late = watch.failed_at - due
    print(f"\nserve: failed {late:+.2f} s after its silence limit fell due")
    assert -0.01 <= late <= SERVE_BOUND, f"{late:.2f} s after its limit"

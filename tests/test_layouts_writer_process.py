"""A framework run's process found from its TensorBoard event file's name (issue 14): Lightning's version folder
is not on the command line, so the process is the one TensorBoard's writer names in the file it opened
(``events.out.tfevents.<time>.<host>.<pid>.<n>``). A real writer process, alive, then SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("tensorboard")

from runwatch import get_all_run_status
from runwatch.project import Project
from runwatch.layouts import discover_runs


def statuses(root, **kw):
    return {r.run: r for r in get_all_run_status(discover_runs(Project.at(str(root))), root=str(root), use_store=False, **kw).values()}


WRITER = r"""
import os, sys, time
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
w = EventFileWriter(sys.argv[1])
for step in range(3):
    v = summary_pb2.Summary.Value(tag="val_loss", simple_value=1.0 / (step + 1))
    w.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[v])))
w.flush()
open(sys.argv[2], "w").close()
time.sleep(120)
"""


def test_the_event_files_writer_is_the_runs_process(tmp_path):
    run = tmp_path / "lightning_logs" / "tbrun" / "version_0"
    run.mkdir(parents=True)
    (run / "hparams.yaml").write_text("lr: 0.1\n")
    ready = tmp_path / "ready"
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(run), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert p.poll() is None and time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.05)
        (event,) = [n for n in os.listdir(run) if n.startswith("events.out.tfevents.")]
        assert event.split(".")[-2] == str(p.pid)  # the real writer names its own pid

        name = "lightning_logs/tbrun/version_0"
        alive = statuses(tmp_path)[name]
        assert alive.status == "running", (alive.status, alive.reason, alive.reason_detail)
        # Silent for longer than any limit, but alive: stuck, never failed.
        old = time.time() - 30 * 86400
        for f in os.listdir(run):
            os.utime(run / f, (old, old))
        silent = statuses(tmp_path)[name]
        assert silent.status == "stuck" and silent.reason == "stalled", (silent.status, silent.reason, silent.reason_detail)

        p.send_signal(signal.SIGKILL)
        p.wait()
        gone = statuses(tmp_path)[name]
        assert gone.status == "failed" and gone.reason == "exited", (gone.status, gone.reason, gone.reason_detail)
        assert str(p.pid) in gone.reason_detail and "event file" in gone.reason_detail
        # The CLI says the same (one answer everywhere).
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        out = subprocess.run(
            [sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        (rec,) = [r for r in json.loads(out.stdout)["runs"] if r["run"] == name]
        assert (rec["status"], rec["reason"]) == ("failed", "exited")
        # Process lookup off: unknown, so no claim that it exited.
        off = statuses(tmp_path, find_processes=False)[name]
        assert off.reason != "exited"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

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
    assert "closed cleanly" in run["reason_detail"] and not run["warnings"]


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

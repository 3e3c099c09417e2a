"""A run's process found by where it works when no command line names it (``CommandMatcher.match_paths``):
a file it holds open in the run's folder (Keras's CSVLogger keeps its file open for all of ``fit()``), or its
cwd there. Real processes of this machine, asked through ``LocalSource``; the real frameworks' runs are in
tests/test_layouts_frameworks.py (held Keras and MMEngine runs found by their open files, then killed)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from runwatch.processes import local
from runwatch.processes.local import LocalSource
from runwatch.processes.matching import CommandMatcher, may_train
from runwatch.project import Project

# Opens the file in argv[1] after argv[2] seconds (as CSVLogger does when fit() begins), holds it open until
# the file in argv[3] exists, then closes it and waits (as a script does after fit() returned).
HOLDER = r"""
import os, sys, time
time.sleep(float(sys.argv[2]))
f = open(sys.argv[1], "a")
open(sys.argv[1] + ".opened", "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
f.close()
open(sys.argv[1] + ".closed", "w").close()
time.sleep(60)
"""


def keras_run(folder: Path) -> Path:
    """A folder Keras's marker files mark: a CSVLogger file beside a ModelCheckpoint file."""
    (folder / "ckpt").mkdir(parents=True)
    (folder / "log.csv").write_text("epoch,loss\n0,1.0\n")
    (folder / "ckpt" / "model-01.keras").write_bytes(b"PK")
    return folder


def _wait_for(path: Path, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def _matched(src: LocalSource, project: Project) -> dict[int, str | None]:
    return {p.pid: p.config_rel for p in src.collect(project).processes}


@pytest.fixture
def procs():
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def test_a_process_holding_a_runs_file_open_is_that_runs(tmp_path: Path, procs, monkeypatch) -> None:
    monkeypatch.setattr(local, "PATH_RECHECK_S", 0.3)
    run = keras_run(tmp_path / "experiments" / "k1")
    keras_run(tmp_path / "experiments" / "k2")
    project = Project.at(str(tmp_path))
    release = tmp_path / "release"
    # cwd outside the project: only the open file tells which run it is
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / "log.csv"), "1.0", str(release)], cwd="/")
    procs.append(holder)
    src = LocalSource(gpus=False)
    assert holder.pid not in _matched(src, project)  # not open yet
    _wait_for(run / "log.csv.opened")
    time.sleep(0.35)  # an unmatched process is looked at again after PATH_RECHECK_S
    assert _matched(src, project).get(holder.pid) == "experiments/k1"
    release.touch()
    _wait_for(run / "log.csv.closed")
    time.sleep(0.35)
    assert holder.pid not in _matched(src, project)  # fit() returned: it no longer works for the run


def test_cwd_in_a_run_folder_and_the_deepest_run_first(tmp_path: Path, procs) -> None:
    outer = keras_run(tmp_path / "outer")
    inner = keras_run(outer / "inner")
    project = Project.at(str(tmp_path))
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    cases = {"outer/inner": inner / "ckpt", "outer": outer / "ckpt", None: tmp_path}
    started = {rel: subprocess.Popen(sleep, cwd=cwd) for rel, cwd in cases.items()}
    procs.extend(started.values())
    not_python = subprocess.Popen(["sleep", "60"], cwd=inner)  # not a training process: never looked at
    procs.append(not_python)
    got = _matched(LocalSource(gpus=False), project)
    assert {rel: got.get(p.pid) for rel, p in started.items()} == {rel: rel for rel in cases}
    assert not_python.pid not in got


def test_a_project_root_behind_a_link_is_matched_by_its_own_names(tmp_path: Path, procs) -> None:
    real = tmp_path / "real"
    run = keras_run(real / "k1")
    link = tmp_path / "link"
    link.symlink_to(real)
    project = Project.at(str(link))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / "log.csv"), "0", str(tmp_path / "never")], cwd="/")
    procs.append(holder)
    _wait_for(run / "log.csv.opened")
    assert _matched(LocalSource(gpus=False), project).get(holder.pid) == "k1"


def test_paths_are_only_read_on_this_machine_and_for_training_processes(tmp_path: Path) -> None:
    project = Project.at(str(tmp_path))
    assert CommandMatcher(project).reads_paths and not CommandMatcher(project, remote=True).reads_paths
    assert may_train(["/opt/conda/bin/python3.11", "train.py"]) and may_train(["yolo", "train"]) and may_train(["torchrun", "x"])
    assert may_train(["/usr/bin/env", "train.py"]) and not may_train(["sleep", "60"]) and not may_train(["bash"]) and not may_train([])
    # a file open outside any run does not match; the cwd in one does; nothing outside the project matches
    keras_run(tmp_path / "k1")
    assert CommandMatcher(project).match_paths(str(tmp_path / "k1"), [str(tmp_path / "elsewhere" / "x.log")]).config_rel == "k1"  # type: ignore[union-attr]
    assert CommandMatcher(project).match_paths("/", ["/tmp/x.csv"]) is None


# Holds argv[1] open, then (once argv[3] exists) opens argv[2] too, keeping the first open: one process that
# trains two runs one after another (MMEngine keeps every Runner's log handler open until it exits).
TWO_RUNS = r"""
import os, sys, time
a = open(sys.argv[1], "a")
open(sys.argv[1] + ".opened", "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
b = open(sys.argv[2], "a")
open(sys.argv[2] + ".opened", "w").close()
time.sleep(60)
"""


def test_one_process_that_moved_on_to_a_newer_run_has_ended_the_earlier_one(tmp_path: Path, procs) -> None:
    from runwatch import get_all_run_status
    from runwatch.layouts import discover_runs

    k1, k2 = keras_run(tmp_path / "k1"), keras_run(tmp_path / "k2")
    project = Project.at(str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", TWO_RUNS, str(k1 / "log.csv"), str(k2 / "log.csv"), str(tmp_path / "next")], cwd="/")
    procs.append(p)

    def statuses():
        got = get_all_run_status(discover_runs(project), root=str(tmp_path), use_store=False)
        return {s.run: s for s in got.values()}

    _wait_for(k1 / "log.csv.opened")
    got = statuses()
    assert got["k1"].status == "running" and got["k1"].process_info.pid == p.pid  # type: ignore[union-attr]
    (tmp_path / "next").touch()
    _wait_for(k2 / "log.csv.opened")
    time.sleep(local.PATH_RECHECK_S + 0.1)  # a matched process is looked at again after PATH_RECHECK_S
    got = statuses()  # the newest file it holds open names the run it works for now
    assert got["k2"].status == "running" and got["k2"].process_info.pid == p.pid  # type: ignore[union-attr]
    k1s = got["k1"]
    assert (k1s.status, k1s.reason) == ("unknown", "end_unknown"), (k1s.status, k1s.reason, k1s.reason_detail)
    assert k1s.reason_detail.startswith(f"process {p.pid} on this machine works for k2 now: this run has ended;")


def test_moved_to_needs_that_very_process(tmp_path: Path) -> None:
    from runwatch.process_info import ProcessInfo, ProcessSnapshot
    from runwatch.run_status.process_memory import ProcessMemory

    mem = ProcessMemory(str(tmp_path / "processes.json"))
    mem.observe(ProcessSnapshot(processes=[ProcessInfo(pid=7, user="u", cmd="python t.py", start_time=100.0, config_rel="k2")]))
    entry = {"server": None, "pid": 7, "start_time": 100.0, "job_id": None}
    assert mem.moved_to(entry, "k1") == "k2"
    assert mem.moved_to(entry, "k2") is None  # still its run
    assert mem.moved_to({**entry, "start_time": 101.6}, "k1") is None  # the pid of another process now
    assert mem.moved_to({**entry, "start_time": 101.4}, "k1") == "k2"  # ps and psutil round start times differently
    assert mem.moved_to({**entry, "server": "gpu1"}, "k1") is None  # another machine's pid 7
    assert mem.moved_to({**entry, "job_id": "12"}, "k1") is None  # a job is asked of its scheduler
    mem.observe(ProcessSnapshot())
    assert mem.moved_to(entry, "k1") is None

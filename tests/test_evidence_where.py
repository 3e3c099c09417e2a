"""Where a run ran, as evidence.gather reads it (issue 24): runs_local, the launcher's tmux session, an
event file's writer that moved on; and the pulse's sources. Fast unit tests (in the mutation selection)."""

from __future__ import annotations

import os
import socket
import time

import pytest
from evidence_helpers import gather_quiet

import runwatch.run_status.evidence as evidence
from runwatch.layout import Project
from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.readers.log_pulse import Pulse
from runwatch.settings import Settings

NOW = time.time()


def project(tmp_path, **settings) -> Project:
    (tmp_path / "configs").mkdir(parents=True, exist_ok=True)
    p = Project.at(str(tmp_path), Settings(**settings))
    evidence.remember(p, ProcessSnapshot(sources=["local"]))  # this machine's lookup answered, nothing running
    return p


def decide(p: Project, tmp_path, *, matched_here=True, complete=False, proc=None, details=None, last=NOW - 5):
    v = gather_quiet(p, tmp_path, now=NOW, complete=complete, last_activity=last, details=details, proc=proc, matched_here=matched_here)
    return v.decision


def test_runs_local(tmp_path):
    p = project(tmp_path, runs_local=True, tmux_output=False)
    d = decide(p, tmp_path)
    assert (d.status, d.reason) == ("failed", "exited")
    assert d.detail == "no process of it on this machine, where the project's runs run (runs_local)"
    assert decide(p, tmp_path, matched_here=False).status == "running"  # not a run found by its command line
    queued = ProcessInfo(pid=1, user="u", cmd="x", config_rel="a/run", state="queued", job_id="5", job_state="PENDING")
    assert decide(p, tmp_path, proc=queued).status == "queued"
    q = project(tmp_path / "off", runs_local=False, tmux_output=False)
    assert decide(q, tmp_path).status == "running"


def test_runs_local_needs_this_machines_lookup(tmp_path):
    p = Project.at(str(tmp_path), Settings(runs_local=True, tmux_output=False))
    evidence.remember(p, ProcessSnapshot(sources=["ssh:gpu1"], hosts=["gpu1"]))
    assert decide(p, tmp_path).status == "running"
    evidence.remember(p, ProcessSnapshot(sources=["local"], errors={"local": "psutil failed"}))
    assert decide(p, tmp_path).status == "running"


def test_the_launchers_tmux_session_here(tmp_path, monkeypatch):
    p = project(tmp_path)
    monkeypatch.setattr(evidence, "tmux_session_of", lambda rel, configs_dir: "job-GPU-0" if (rel, configs_dir) == ("a/run", "configs") else None)
    d = decide(p, tmp_path)
    assert (d.status, d.reason, d.detail) == ("failed", "exited", "no process of it on this machine, where tmux session job-GPU-0 was started to run it")
    assert decide(p, tmp_path, complete=True).status == "finished"
    assert decide(p, tmp_path, matched_here=False).status == "running"
    monkeypatch.setattr(evidence, "tmux_session_of", lambda rel, configs_dir: None)
    assert decide(p, tmp_path).status == "running"
    off = project(tmp_path / "off", tmux_output=False)
    monkeypatch.setattr(evidence, "tmux_session_of", lambda rel, configs_dir: "job-GPU-0")
    assert decide(off, tmp_path).status == "running"


class Details:
    def __init__(self, writer=None, logs=(), beats=None, clean_end=False):
        self.writer, self.logs, self.beats, self.clean_end = writer, list(logs), beats, clean_end
        self.epochs = []


def test_an_event_files_writer(tmp_path, monkeypatch):
    p = project(tmp_path, tmux_output=False)
    gone = Details(writer=(socket.gethostname(), 2**22 + 12345, NOW - 100))  # no such pid
    d = decide(p, tmp_path, matched_here=False, details=gone)
    assert (d.status, d.reason) == ("failed", "exited") and "has exited" in d.detail
    assert decide(p, tmp_path, matched_here=False, details=Details(writer=("another-host", 1, NOW))).status == "running"
    monkeypatch.setattr(evidence, "writer_evidence", lambda writer, local: ("alive", "process 7 on this machine is alive"))
    monkeypatch.setattr(
        evidence,
        "moved_on",
        lambda wd, writer, writers_of: "version_1" if wd == str(tmp_path) and writer == ("h", 7, NOW) and writers_of is evidence._event_writers else None,
    )
    d = decide(p, tmp_path, matched_here=False, details=Details(writer=("h", 7, NOW), clean_end=True))
    assert (d.status, d.reason) == ("finished", None) and d.detail.startswith("its process has exited right after its last epoch closed")
    d = decide(p, tmp_path, matched_here=False, details=Details(writer=("h", 7, NOW)))
    assert (d.status, d.reason, d.detail) == ("failed", "exited", "process 7 on this machine is alive, but writing version_1 now: this run has ended")
    monkeypatch.setattr(evidence, "moved_on", lambda wd, writer, writers_of: None)
    assert decide(p, tmp_path, matched_here=False, details=Details(writer=("h", 7, NOW)), last=NOW - 10**6).status == "stuck"


def test_event_writers_of_a_folder(tmp_path):
    (tmp_path / "events.out.tfevents.1700000000.host.a.42.0").write_bytes(b"")
    (tmp_path / "metrics.csv").write_text("")
    assert evidence._event_writers(str(tmp_path)) == [("host.a", 42, 1700000000.0)]
    assert evidence._event_writers(str(tmp_path / "none")) == []


def test_pulse_sources(tmp_path, monkeypatch):
    timed = Pulse(1.0, "training", 3.0, "t", True)
    assert evidence.pulse(str(tmp_path), "train_val_0.log", None, known=timed) is timed
    # an event file is no text log: its records' times are the pulse
    d = Details(beats=[0.0, 2.0, 4.0])
    p = evidence.pulse(str(tmp_path), "events.out.tfevents.1.h.2.0", d, known=timed)
    assert (p.interval, p.gap, p.timed) == (2.0, 2.0, True)
    # a start position learns from the earlier sessions' logs, not from the event files; elsewhere it keeps its own
    monkeypatch.setattr(evidence, "start_pause_of_file", lambda path: (40.0, "t0") if path.endswith("train_val_0.log") else (99.0, "x"))
    d = Details(logs=[("train_val_1.log", 2.0), ("train_val_0.log", 1.0), ("events.out.tfevents.9", 0.5)])
    start = Pulse(None, "start", None, None, True)
    assert evidence.pulse(str(tmp_path), "train_val_1.log", d, known=start) == Pulse(None, "start", 40.0, "t0", True)
    assert evidence.pulse(str(tmp_path), "train_val_1.log", d, known=timed) is timed
    untimed_start = Pulse(None, "start", None, None, False)
    assert evidence.pulse(str(tmp_path), "train_val_1.log", Details(logs=d.logs), known=untimed_start) is None
    assert evidence.pulse(str(tmp_path), "train_val_1.log", Details(logs=[("train_val_1.log", 2.0)]), known=start) is start
    assert evidence.beats_pulse([0.0, 1.0, 3.0]).timed is True


@pytest.mark.parametrize("complete", [False, True])
def test_pulse_only_for_runs_not_complete(tmp_path, complete):
    p = project(tmp_path, tmux_output=False)
    d = decide(p, tmp_path, matched_here=False, complete=complete, details=Details(beats=[0.0, 1.0, 2.0]), last=NOW - 61)
    assert d.status == ("finished" if complete else "failed")


def test_pulse_from_beats_sets_the_limit(tmp_path):
    p = project(tmp_path, tmux_output=False)
    # a record every 20 s: 5x that is the limit (100 s), not the floor
    assert decide(p, tmp_path, matched_here=False, details=Details(beats=[0.0, 20.0, 40.0]), last=NOW - 80).status == "running"
    assert decide(p, tmp_path, matched_here=False, details=Details(beats=[0.0, 20.0, 40.0]), last=NOW - 101).status == "failed"
    # a long pause learned (100 s among 1 s beats): 1.5x it is the limit
    beats = [float(i) for i in range(11)] + [110.0]
    assert decide(p, tmp_path, matched_here=False, details=Details(beats=beats), last=NOW - 140).status == "running"
    assert decide(p, tmp_path, matched_here=False, details=Details(beats=beats), last=NOW - 151).status == "failed"


def test_a_complete_run_alive_is_judged_without_its_pulse(tmp_path):
    p = project(tmp_path, tmux_output=False)
    alive = ProcessInfo(pid=1, user="u", cmd="x", config_rel="a/run", state="running")
    d = decide(p, tmp_path, matched_here=False, complete=True, proc=alive, details=Details(beats=[0.0, 1.0, 2.0]), last=NOW - 61)
    assert d.status == "running"  # still writing its last files: the default limit, not its pulse's minute


def test_pulse_without_details(tmp_path):
    start = Pulse(None, "start", None, None, True)
    assert evidence.pulse(str(tmp_path), "train_val_0.log", None, known=start) is start


def _report(tmp_path, host, ts, lines=("step 3", "Killed")):
    import json

    folder = tmp_path / "agents" / "launcher"
    folder.mkdir(parents=True, exist_ok=True)
    ev = {
        "host": host,
        "timestamp": ts,
        "command": "python main.py --config-filepath ./configs/a/run.py",
        "output_lines": list(lines),
        "work_dir": str(tmp_path),
    }
    (folder / "collector_events.json").write_text(json.dumps([ev]))


def _verdict(p, tmp_path, last=NOW - 5):
    return gather_quiet(p, tmp_path, now=NOW, last_activity=last, matched_here=True)


def test_the_launchers_report_says_where_it_ran(tmp_path):
    """The launcher's collector report names the host: this machine, whose lookup answered without the run,
    means it has exited now; another machine leaves its process unknown (the report's exception decides)."""
    p = project(tmp_path, tmux_output=False)
    me = socket.gethostname()
    _report(tmp_path, me, NOW - 2)
    v = _verdict(p, tmp_path)
    assert (v.decision.status, v.decision.reason) == ("failed", "exited"), v.decision
    assert v.decision.detail == f"no process of it on this machine ({me}), where it ran: the launcher reported its exit with an error at " + time.strftime(
        "%Y-%m-%d %H:%M:%S UTC", time.gmtime(NOW - 2)
    )
    assert v.error_line is None and v.error_source == "collector" and v.output_tail == ["step 3", "Killed"]
    assert v.evidence.process == "gone"
    # a short name of this machine is this machine
    _report(tmp_path, me.split(".")[0] + ".lab.example", NOW - 1)
    assert _verdict(p, tmp_path).decision.reason == "exited"
    # an exception in its output: crashed, wherever it ran
    _report(tmp_path, me, NOW - 1, lines=("Traceback (most recent call last):", '  File "x.py"', "ValueError: bad"))
    v = _verdict(p, tmp_path)
    assert (v.decision.reason, v.decision.detail) == ("crashed", "ValueError: bad") and v.evidence.process == "gone"
    # another machine, not looked at from here: unknown; the report still says it exited with an error there
    _report(tmp_path, "gpu-node-7", NOW - 1)
    v = _verdict(p, tmp_path)
    assert (v.decision.reason, v.decision.detail) == ("crashed", "exited with an error on gpu-node-7")
    assert v.evidence.process == "unknown" and v.evidence.process_detail.startswith("it ran on gpu-node-7 (the launcher's report at ")
    # another machine a source looked at (SSH) without finding it: gone
    evidence.remember(p, ProcessSnapshot(sources=["local", "ssh"], hosts=["gpu-node-7"]))
    v = _verdict(p, tmp_path)
    assert v.evidence.process == "gone" and v.evidence.process_detail.startswith("no process of it on gpu-node-7, where it ran")
    evidence.remember(p, ProcessSnapshot(sources=["local", "ssh"], hosts=["gpu-node-7"], errors={"gpu-node-7": "timeout"}))
    assert _verdict(p, tmp_path).evidence.process == "unknown"


def test_the_report_of_this_machine_needs_its_lookup(tmp_path):
    p = Project.at(str(tmp_path), Settings(tmux_output=False))
    (tmp_path / "configs").mkdir(exist_ok=True)
    evidence.remember(p, ProcessSnapshot(sources=["local"], errors={"local": "psutil failed"}))
    _report(tmp_path, socket.gethostname(), NOW - 2)
    v = _verdict(p, tmp_path)
    assert v.evidence.process == "none" and v.decision.status == "running"  # the report alone, no lookup: silence decides
    evidence.remember(p, ProcessSnapshot(sources=["ssh"], hosts=["gpu1"]))
    assert _verdict(p, tmp_path).evidence.process == "none"
    # a report older than the run's last sign of life (minus the slack) belongs to an earlier launch
    evidence.remember(p, ProcessSnapshot(sources=["local"]))
    _report(tmp_path, socket.gethostname(), NOW - 500)
    assert _verdict(p, tmp_path, last=NOW - 5).evidence.process == "none"


def test_where_the_report_says_it_ran_in_words(tmp_path):
    p = project(tmp_path, tmux_output=False)
    at = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    me = socket.gethostname()
    assert evidence.ran_on(p, me, at) == (
        "gone",
        f"no process of it on this machine ({me}), where it ran: the launcher reported its exit with an error at 2023-11-14 22:13:20 UTC",
    )
    assert evidence.ran_on(p, "gpu-node-7", None) == (
        "unknown",
        "it ran on gpu-node-7 (the launcher's report at an unknown time), whose processes are not looked at from here",
    )
    evidence.remember(p, ProcessSnapshot(sources=["local", "ssh"], hosts=["gpu-node-7"]))
    assert evidence.ran_on(p, "gpu-node-7", at) == (
        "gone",
        "no process of it on gpu-node-7, where it ran: the launcher reported its exit with an error at 2023-11-14 22:13:20 UTC",
    )
    evidence.remember(p, ProcessSnapshot(sources=["ssh"], hosts=["gpu-node-7"]))
    assert evidence.ran_on(p, me, at) is None  # this machine's lookup did not answer: nothing to add
    fresh = Project.at(str(tmp_path / "fresh"), Settings())
    assert evidence.ran_on(fresh, me, at) is None  # no snapshot taken yet


def test_a_report_without_a_host_or_with_an_unknown_process_before(tmp_path):
    p = project(tmp_path, tmux_output=False)
    _report(tmp_path, None, NOW - 1)
    v = _verdict(p, tmp_path)
    assert v.evidence.process == "none" and v.error_line is None and v.decision.status == "running"
    # a process source that could not be asked (unknown), and a report from a machine SSH looked at: gone
    evidence.remember(p, ProcessSnapshot(sources=["local", "ssh"], hosts=["gpu-node-7"], errors={"slurm": "squeue failed"}))
    _report(tmp_path, "gpu-node-7", NOW - 1)
    v = gather_quiet(p, tmp_path, now=NOW, process_errors={"slurm": "squeue failed"}, matched_here=True)
    assert v.evidence.process == "gone" and v.evidence.process_detail.startswith("no process of it on gpu-node-7, where it ran")


def test_gather_passes_the_logs_pulse_into_the_evidence(tmp_path):
    """The pulse read with the log's end (its pace, place, learned pause and when) reaches the decision whole."""

    def line(t: int, what: str) -> str:
        return f"2026-01-01 00:{t // 60:02d}:{t % 60:02d},000 INFO {what}"

    lines = [line(i, f"Training [Epoch 0/9][Iteration {i}/3]. loss=0.5") for i in range(3)]
    lines += [line(47 + i, f"Validation [Epoch 0/9][Iteration {i}/3].") for i in range(3)]
    lines += [line(52 + i, f"Training [Epoch 1/9][Iteration {i}/3]. loss=0.5") for i in range(3)]
    (tmp_path / "train_val_0.log").write_text("\n".join(lines) + "\n")
    p = project(tmp_path, tmux_output=False)
    last = (tmp_path / "train_val_0.log").stat().st_mtime

    def verdict(now):
        return gather_quiet(p, tmp_path, now=now, last_activity=last, newest_log="train_val_0.log", matched_here=False)

    v = verdict(last + 61)
    ev = v.evidence
    assert (ev.pulse_interval, ev.pulse_position, ev.pulse_gap, ev.pulse_gap_at) == (1.0, "after_training", 45.0, "2026-01-01 00:00:02,000")
    assert ev.work_dir_exists and ev.clean_end is False and ev.log_end is None and v.warnings is None
    # past the floor but within 1.5x the pause it has had there: running, the pause named
    assert v.decision.status == "running" and "within the pause of 45 s it has had after the last training batch" in v.decision.detail
    assert verdict(last + 67.6).decision.reason == "stalled"
    complete = gather_quiet(p, tmp_path, now=last + 61, complete=True, last_activity=last, newest_log="train_val_0.log")
    assert complete.evidence.pulse_interval is None  # a complete run's pulse is not read


def test_gather_the_work_dir_the_unreadable_log_and_the_tmux_setting(tmp_path, monkeypatch):
    from runwatch.readers import run_output
    from runwatch.readers.run_output import Output

    p = project(tmp_path, tmux_output=False)

    def verdict(work_dir, newest_log=None, last=NOW - 5, project=p):
        return gather_quiet(project, work_dir, now=NOW, last_activity=last, newest_log=newest_log)

    # a sign of life in a work dir that is not there (now): it was launched
    assert verdict(tmp_path / "gone").evidence.work_dir_exists is True
    assert verdict(tmp_path / "gone", last=None).decision.reason == "never_started"
    # a log that cannot be read: a warning on the run, never an error
    (tmp_path / "train_val_0.log").mkdir()
    v = verdict(tmp_path, "train_val_0.log")
    assert v.warnings and "train_val_0.log" in v.warnings[0] and v.decision.status == "running"
    # the tmux setting decides whether the panes are looked at
    seen = []

    def panes(rel, configs_dir):
        seen.append(rel)
        return Output("ValueError: in the pane", ("ValueError: in the pane",), "tmux")

    monkeypatch.setattr(run_output, "from_tmux", panes)
    assert verdict(tmp_path / "gone").error_line is None and seen == []
    on = project(tmp_path / "on", tmux_output=True)
    assert verdict(tmp_path / "gone", project=on).error_line == "ValueError: in the pane" and seen == ["a/run"]


def test_a_clean_end_seen_alive_after_it_reads_killed_once_gone(tmp_path, monkeypatch):
    """A Lightning run held (or killed) between two epochs: its process seen alive 40 s after its newest write
    is noted; once gone, the files unchanged, it was killed after that epoch, not finished."""
    from runwatch.run_status.process_memory import SIGHTINGS_NAME, ProcessMemory

    p = project(tmp_path, tmux_output=False)
    held = Details(writer=("h", 7, NOW - 100), clean_end=True)
    monkeypatch.setattr(evidence, "moved_on", lambda wd, writer, writers_of: None)
    monkeypatch.setattr(evidence, "writer_evidence", lambda writer, local: ("alive", "process 7 on this machine is alive"))
    # alive within ALIVE_AFTER_END of its newest write: nothing noted (a finished fit may still be tearing down)
    assert decide(p, tmp_path, matched_here=False, details=held, last=NOW - 30).status == "running"
    mem = evidence.process_memory(p)
    assert mem.seen_alive_after("a/run", NOW - 30) is None
    assert decide(p, tmp_path, matched_here=False, details=held, last=NOW - 40).status == "running"
    assert mem.seen_alive_after("a/run", NOW - 40) == pytest.approx(40.0)
    # kept for a later runwatch process, in runwatch's own cache dir
    cache = p.settings.resolve_cache_dir(p.root)
    fresh = ProcessMemory(os.path.join(str(cache), "processes.json"))
    assert fresh.seen_alive_after("a/run", NOW - 40) == pytest.approx(40.0) and (tmp_path / ".runwatch-cache" / SIGHTINGS_NAME).exists()
    monkeypatch.setattr(evidence, "writer_evidence", lambda writer, local: ("gone", "process 7 on this machine has exited"))
    d = decide(p, tmp_path, matched_here=False, details=held, last=NOW - 40)
    assert (d.status, d.reason) == ("failed", "exited") and d.detail.startswith("process 7 on this machine has exited; it was seen alive 40 s after")
    # its files changed since the sighting (it wrote more, then ended): the sighting says nothing
    d = decide(p, tmp_path, matched_here=False, details=held, last=NOW - 20)
    assert (d.status, d.reason) == ("finished", None)
    # a run whose files do not end on an epoch boundary is never noted
    monkeypatch.setattr(evidence, "writer_evidence", lambda writer, local: ("alive", "alive"))
    decide(p, tmp_path, matched_here=False, details=Details(writer=("h", 7, NOW - 100)), last=NOW - 50)
    assert mem.seen_alive_after("a/run", NOW - 50) is None


def test_alive_after_end_without_a_last_write(tmp_path):
    p = project(tmp_path, tmux_output=False)
    assert evidence.alive_after_end(p, "a/run", "alive", NOW, None) is None
    assert evidence.alive_after_end(p, "a/run", "gone", NOW, None) is None


def test_sightings_file_damaged_or_odd_is_ignored(tmp_path):
    from runwatch.run_status.process_memory import SIGHTINGS_NAME, ProcessMemory

    (tmp_path / SIGHTINGS_NAME).write_text('{"a": {"last_write": 1.0, "seen_at": 50.0}, "b": {"last_write": "x", "seen_at": 9}, "c": 3}')
    mem = ProcessMemory(str(tmp_path / "processes.json"))
    assert mem.seen_alive_after("a", 1.0) == 49.0 and mem.seen_alive_after("a", 2.0) is None
    assert mem.seen_alive_after("b", 1.0) is None and mem.seen_alive_after("c", 1.0) is None
    (tmp_path / SIGHTINGS_NAME).write_text("{not json")
    os.utime(tmp_path / SIGHTINGS_NAME, (1, 1))
    assert mem.seen_alive_after("a", 1.0) is None
    mem.note_alive("a", 1.0, 90.0)  # written anew
    assert ProcessMemory(str(tmp_path / "processes.json")).seen_alive_after("a", 1.0) == 89.0

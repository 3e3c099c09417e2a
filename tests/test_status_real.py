"""Status of real runs: toy trainers launched as Pylon launches them, checked through the API and the CLI.

Each test follows rows of the decision table in docs/status.md; the row is named in
the test's docstring. The project's runwatch.toml sets a 1 s stall floor so that the
rhythm rows take seconds, and the CLI reads the same file as the API.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from status_project import ToyProject

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def proj(tmp_path):
    p = ToyProject(tmp_path / "proj")
    yield p
    p.close()


def both(proj: ToyProject, rel: str) -> tuple[object, dict]:
    """The API's answer and the CLI's (a new process) for one run; they must agree."""
    api = proj.api(rel)
    cli = proj.cli(rel)
    assert (api.status, api.reason) == (cli["status"], cli["reason"]), (api.reason_detail, cli["reason_detail"])
    return api, cli


def test_finished_run_reads_finished_once_its_process_exits(proj):
    """Rows 1 (alive: running) and 3 (complete: finished), not 'running' for sleep_time."""
    proj.config("a/done", epochs=3, epoch_seconds=0.3)
    p = proj.launch("a/done")
    proj.wait_epochs("a/done", 1)
    rs = proj.api("a/done")
    assert rs.status == "running" and rs.reason is None and rs.process_info is not None
    assert p.wait(timeout=30) == 0
    api, cli = both(proj, "a/done")
    assert api.status == "finished" and api.reason is None
    assert api.progress.completed_epochs == 3 and cli["completed_epochs"] == 3


def test_crash_with_exception_reads_failed_crashed_with_the_line(proj):
    """Row 6: the traceback went to the run's output only (out/<name>.log, via output_globs)."""
    proj.config("a/crash", epochs=5, epoch_seconds=0.2, crash_at=2)
    p = proj.launch("a/crash")
    assert p.wait(timeout=30) != 0
    api, cli = both(proj, "a/crash")
    assert api.status == "failed" and api.reason == "oom"  # "CUDA out of memory" is an out-of-memory crash
    assert api.error_line.startswith("RuntimeError: CUDA out of memory")
    assert api.error_source == "output_glob" and cli["error_source"] == "output_glob"
    assert api.output_tail and api.output_tail[-1].startswith("RuntimeError")
    assert cli["error_line"] == api.error_line and cli["output_tail"] == api.output_tail
    assert "Traceback" not in (proj.work_dir("a/crash") / "train_val_0.log").read_text()  # Pylon's logs never hold it


def test_traceback_in_the_log_reads_crashed_whatever_its_age(proj):
    """Row 6 from the log's end: a day-old crash is still a crash, never 'running' or 'stalled'."""
    proj.config("a/logged", epochs=5, epoch_seconds=0.2, crash_at=1, traceback_to_log=True)
    (proj.root / "runwatch.toml").write_text("stall_floor = 1\ntmux_output = false\n")  # no output glob
    p = proj.launch("a/logged")
    assert p.wait(timeout=30) != 0
    log = proj.work_dir("a/logged") / "train_val_0.log"
    old = time.time() - 86400
    os.utime(log, (old, old))
    api, _ = both(proj, "a/logged")
    assert (api.status, api.reason, api.error_source) == ("failed", "oom", "log")


def test_plain_exception_is_crashed(proj):
    proj.config("a/keyerror", epochs=3, epoch_seconds=0.2, crash_at=0)
    text = (
        (proj.root / "main.py")
        .read_text()
        .replace('raise RuntimeError(f"CUDA out of memory. Tried to allocate 2.00 GiB (toy crash in epoch {e})")', "raise KeyError('labels')")
    )
    (proj.root / "main.py").write_text(text)
    p = proj.launch("a/keyerror")
    assert p.wait(timeout=30) != 0
    api, _ = both(proj, "a/keyerror")
    assert (api.status, api.reason, api.error_line) == ("failed", "crashed", "KeyError: 'labels'")


def test_sigkill_mid_epoch_reads_exited_in_a_later_one_shot_cli(proj):
    """Row 7: an earlier `runwatch status` saw the process; a later one knows it exited."""
    proj.config("a/killed", epochs=50, epoch_seconds=0.5)
    p = proj.launch("a/killed")
    proj.wait_epochs("a/killed", 1)
    assert proj.cli("a/killed")["status"] == "running"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    api, cli = both(proj, "a/killed")
    assert (api.status, api.reason) == ("failed", "exited")
    assert str(p.pid) in cli["reason_detail"] and "exited" in cli["reason_detail"]


def test_sigstop_reads_stuck_stopped(proj):
    """Row 1b: alive but stopped (state T)."""
    proj.config("a/stopped", epochs=50, epoch_seconds=0.5)
    p = proj.launch("a/stopped")
    proj.wait_epochs("a/stopped", 1)
    os.kill(p.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while proj.api("a/stopped").reason != "stopped" and time.monotonic() < deadline:
            time.sleep(0.1)
        api, cli = both(proj, "a/stopped")
        assert (api.status, api.reason) == ("stuck", "stopped") and cli["process_info"]["state"] == "stopped"
    finally:
        os.kill(p.pid, signal.SIGCONT)


def test_memory_exhaustion_under_a_limit_reads_oom(proj):
    proj.config("a/oom", epochs=3, epoch_seconds=0.2, oom_at=1)
    p = proj.launch("a/oom")
    assert p.wait(timeout=30) != 0
    api, _ = both(proj, "a/oom")
    assert (api.status, api.reason) == ("failed", "oom") and api.error_line == "MemoryError"


def test_alive_and_silent_past_its_rhythm_is_stuck_but_a_slow_rhythm_is_not(proj):
    """Row 1a vs 1c: the same silence is 'stalled' for a fast run and normal for a slow one."""
    proj.config("a/fast_hang", epochs=50, epoch_seconds=0.2, hang_at=4)
    proj.config("a/slow", epochs=50, epoch_seconds=3.0, iterations=1)
    fast = proj.launch("a/fast_hang")
    slow = proj.launch("a/slow")
    proj.wait_epochs("a/fast_hang", 4)
    proj.wait_epochs("a/slow", 3, timeout=60)
    # The fast run's rhythm is ~0.2 s: silent past max(5 x 0.2, 1 s floor) is stalled.
    deadline = time.monotonic() + 10
    while proj.api("a/fast_hang").status != "stuck" and time.monotonic() < deadline:
        time.sleep(0.2)
    api, cli = both(proj, "a/fast_hang")
    assert (api.status, api.reason) == ("stuck", "stalled") and "median epoch interval" in cli["reason_detail"]
    # The slow run (3 s epochs, no log line inside an epoch) is silent for seconds between epochs: still running.
    assert proj.api("a/slow").status == "running"
    # Without process lookup the silent fast run has no process: failed, stalled.
    off = proj.api("a/fast_hang", find_processes=False)
    assert (off.status, off.reason) == ("failed", "stalled")
    fast.kill()
    slow.kill()


def test_explicit_sleep_time_keeps_its_meaning_where_nothing_else_applies(proj):
    """Row 8: no process lookup, no rhythm (one epoch): sleep_time decides."""
    proj.config("a/short", epochs=5, epoch_seconds=0.1, hang_at=1)
    p = proj.launch("a/short")
    proj.wait_epochs("a/short", 1)
    p.kill()
    p.wait()
    time.sleep(1.2)
    assert proj.api("a/short", find_processes=False, sleep_time=3600).status == "running"
    stalled = proj.api("a/short", find_processes=False, sleep_time=1)
    assert (stalled.status, stalled.reason) == ("failed", "stalled") and "sleep_time 1 s" in stalled.reason_detail


def test_never_launched_is_failed_never_started(proj):
    proj.config("a/never", epochs=3)
    api, cli = both(proj, "a/never")
    assert (api.status, api.reason) == ("failed", "never_started")


def test_collector_event_in_the_project_gives_the_error(proj):
    """Row 6 from Pylon's collector file: the launcher's failure report with output lines."""
    proj.config("a/remote", epochs=5, epoch_seconds=0.2, crash_at=1)
    (proj.root / "runwatch.toml").write_text("stall_floor = 1\ntmux_output = false\n")
    p = proj.launch("a/remote")
    assert p.wait(timeout=30) != 0
    out = (proj.root / "out" / "remote.log").read_text().splitlines()
    events = proj.root / "agents" / "launcher" / "collector_events.json"
    events.parent.mkdir(parents=True)
    events.write_text(
        json.dumps(
            [
                {
                    "host": "gpu-3",
                    "timestamp": time.time(),
                    "command": "python main.py --config-filepath ./configs/a/remote.py",
                    "output_lines": out,
                    "work_dir": "./logs/a/remote",
                }
            ]
        )
    )
    api, cli = both(proj, "a/remote")
    assert (api.status, api.reason, api.error_source) == ("failed", "oom", "collector")
    assert cli["error_line"].startswith("RuntimeError: CUDA out of memory")


def test_show_and_table_say_the_reason_and_the_exception(proj):
    import subprocess
    import sys

    from status_project import ENV

    proj.config("a/shown", epochs=5, epoch_seconds=0.2, crash_at=1)
    p = proj.launch("a/shown")
    assert p.wait(timeout=30) != 0
    # A hostile line in the output: an escape sequence must not reach the terminal.
    with open(proj.root / "out" / "shown.log", "a") as f:
        f.write('Traceback (most recent call last):\n  File "x", line 1\nValueError: \x1b[2Jcleared\n')

    def rw(*args):
        return subprocess.run(
            [sys.executable, "-m", "runwatch.cli", *args, "--root", str(proj.root)],
            capture_output=True,
            text=True,
            cwd=proj.root,
            env=dict(ENV, COLUMNS="200"),
            timeout=60,
            check=False,
        )

    show = rw("show", "a/shown")
    assert show.returncode == 0, show.stderr
    assert "reason: crashed" in show.stdout and "ValueError: \ufffd[2Jcleared" in show.stdout and "\x1b[2J" not in show.stdout
    table = rw("status")
    assert "failed (crashed)" in table.stdout


def test_crash_in_a_tmux_session_is_read_from_its_pane(proj, tmp_path):
    """Pylon's launcher runs each job in a detached tmux session; the traceback is only on the pane."""
    import shutil
    import subprocess

    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    (proj.root / "runwatch.toml").write_text("stall_floor = 1\n")  # tmux_output on (the default), no output glob
    proj.config("a/tmuxed", epochs=5, epoch_seconds=0.2, crash_at=1)
    sock = str(tmp_path / "tmux.sock")  # a private tmux server: the user's own sessions are never touched
    env = dict(os.environ, TMUX_TMPDIR=str(tmp_path))
    env.pop("TMUX", None)
    import sys

    cmd = f"{sys.executable} main.py --config-filepath ./configs/a/tmuxed.py; sleep 60"
    subprocess.run(
        ["tmux", "-S", sock, "new-session", "-d", "-s", "job-GPU-0", "-x", "200", "-y", "50", "-c", str(proj.root), cmd], env=env, check=True, timeout=10
    )
    try:
        from runwatch.readers import run_output

        run_output._TMUX = run_output.TmuxPanes(ttl=0.0, socket=sock)
        deadline = time.monotonic() + 20
        rs = proj.api("a/tmuxed")
        while rs.error_source != "tmux" and time.monotonic() < deadline:
            time.sleep(0.3)
            rs = proj.api("a/tmuxed")
        assert (rs.status, rs.reason, rs.error_source) == ("failed", "oom", "tmux")
        assert rs.error_line.startswith("RuntimeError: CUDA out of memory") and rs.output_tail[0] == "[tmux session job-GPU-0]"
    finally:
        subprocess.run(["tmux", "-S", sock, "kill-server"], env=env, timeout=10, check=False)
        from runwatch.readers import run_output

        run_output._TMUX = run_output.TmuxPanes()


def test_one_answer_from_settings_api_and_cli(proj):
    """get_run_status, get_all_run_status and the CLI read runwatch.toml the same way; arguments win."""
    from runwatch import get_run_status

    (proj.root / "runwatch.toml").write_text("sleep_time = 1\ntmux_output = false\n")
    proj.config("a/quiet", epochs=5, epoch_seconds=0.1, hang_at=1)
    p = proj.launch("a/quiet")
    proj.wait_epochs("a/quiet", 1)
    p.kill()
    p.wait()
    time.sleep(1.5)  # silent past the setting's 1 s, no rhythm yet (one epoch), process never seen
    cfg = "configs/a/quiet.py"
    one = get_run_status(cfg, root=str(proj.root))
    many = proj.api("a/quiet")
    cli = proj.cli("a/quiet")
    assert (one.status, one.reason) == (many.status, many.reason) == (cli["status"], cli["reason"]) == ("failed", "stalled")
    assert one.reason_detail == many.reason_detail == cli["reason_detail"]
    assert get_run_status(cfg, root=str(proj.root), sleep_time=3600).status == "running"
    assert proj.api("a/quiet", sleep_time=3600).status == "running"
    assert proj.cli("a/quiet", "--sleep-time", "3600")["status"] == "running"

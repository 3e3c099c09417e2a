"""A dead run reads dead within a minute, even when no runwatch watched it die (issue 24).

Runs are real processes of the Pylon imitation (tests/pylon_sim): its trainer and evaluator
write timed log lines, epoch files and tracebacks (to stderr only) as Pylon does. Every
answer comes from a NEW ``runwatch status`` process that never saw the run alive. The
project's ``stall_floor`` is lowered so that a minute becomes seconds (the default floor's
logic is pinned in tests/test_status_rules.py); everything else is the default.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

SIM = os.path.join(os.path.dirname(__file__), "pylon_sim")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
HEADER = """from runners.trainers import SupervisedSingleTaskTrainer
from runners.evaluators import BaseEvaluator
from metrics.sim_metric import SimMetric
from utils.early_stopping import EarlyStopping

"""
FLOOR = 2  # seconds: the default is 60

pytestmark = pytest.mark.timeout(180)


class Sim:
    def __init__(self, root, settings: str = f"stall_floor = {FLOOR}\n") -> None:
        self.root = root
        shutil.copytree(SIM, root, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
        (root / "configs").mkdir()
        (root / "logs").mkdir()
        (root / "runwatch.toml").write_text(settings)
        self.procs: list[subprocess.Popen] = []

    def trainer(self, rel: str, epochs: int, **sim) -> None:
        body = f"{{'runner': SupervisedSingleTaskTrainer, 'work_dir': './logs/{rel}', 'epochs': {epochs}, 'metric': {{'class': SimMetric, 'args': {{}}}}, 'sim': {sim!r}}}"
        self._write(rel, body)

    def evaluator(self, rel: str, **sim) -> None:
        self._write(rel, f"{{'runner': BaseEvaluator, 'work_dir': './logs/{rel}', 'sim': {sim!r}}}")

    def _write(self, rel: str, body: str) -> None:
        path = self.root / "configs" / f"{rel}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + f"config = {body}\n")

    def launch(self, rel: str, **env: str) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"],
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # the traceback goes here only, as Pylon's does
            env=dict(os.environ, **env),
        )
        self.procs.append(p)
        return p

    def wait_for(self, pred, timeout: float = 60.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_epochs(self, rel: str, n: int) -> None:
        f = self.root / "logs" / rel / f"epoch_{n - 1}" / "validation_scores.json"
        self.wait_for(lambda: f.exists() and f.stat().st_size > 0, what=f"{rel} epoch {n - 1}")

    def status(self, rel: str) -> dict:
        """A new `runwatch status` process, default options (this machine's processes looked up)."""
        r = subprocess.run(
            [sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", str(self.root), f"configs/{rel}.py"],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=ENV,
            timeout=60,
            check=False,
        )
        assert r.returncode in (0, 1), r.stderr
        (run,) = [x for x in json.loads(r.stdout)["runs"] if x["run"] == rel]
        return run

    def forget(self) -> None:
        """No runwatch saw anything: the cache (process memory, progress store) removed."""
        shutil.rmtree(self.root / ".runwatch-cache", ignore_errors=True)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
            p.wait(timeout=10)


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path / "proj")
    yield s
    s.close()


def _dead_within(sim: Sim, rel: str, since: float, bound: float) -> dict:
    """Poll with new processes until the run reads failed; the time it took must stay within ``bound``."""
    while True:
        run = sim.status(rel)
        if run["status"] == "failed":
            took = time.monotonic() - since
            assert took <= bound, f"{rel} read failed only {took:.1f} s after the event"
            return run
        assert run["status"] == "running", run
        assert time.monotonic() - since < bound, f"{rel} still {run['status']} {time.monotonic() - since:.1f} s after the event"
        time.sleep(0.3)


def test_trainer_sigkilled_after_4_epochs_reads_failed_within_the_floor(sim):
    """Bullet 1: SIGKILL after 4 epochs, nobody watched: failed (stalled) once silent past the floor, not 600 s."""
    sim.trainer("t/killed", 50, iterations=8, step_s=0.05)
    p = sim.launch("t/killed")
    sim.wait_epochs("t/killed", 4)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t0 = time.monotonic()
    sim.forget()
    run = _dead_within(sim, "t/killed", t0, FLOOR + 8)
    assert run["reason"] == "stalled" and run["completed_epochs"] >= 4
    assert "the floor of 2 s, its log's pace being a line every" in run["reason_detail"]


def test_trainer_raising_in_validation_reads_failed(sim):
    """Bullet 1: an exception in validation, traceback on stderr only (nowhere runwatch can read it)."""
    sim.trainer("t/raised", 50, iterations=6, step_s=0.05)
    p = sim.launch("t/raised", SIM_CRASH_IN_VALIDATION="3")
    assert p.wait(timeout=60) != 0
    t0 = time.monotonic()
    run = _dead_within(sim, "t/raised", t0, FLOOR + 8)
    assert run["reason"] == "stalled" and run["completed_epochs"] == 3


@pytest.mark.parametrize("how", ["raise", "sigkill"])
def test_evaluator_that_died_reads_failed_within_the_floor_not_an_hour(sim, how):
    """Bullet 1: evaluators are judged against their own pace too, not the 3,600 s default."""
    sim.evaluator("e/dead", iterations=400, step_s=0.02)
    pause = sim.root / "pause"
    pause.write_text("")
    p = sim.launch("e/dead", SIM_PAUSE_FILE=str(pause), SIM_PAUSE_AT="eval:30")
    sim.wait_for(lambda: (sim.root / "pause.reached").exists(), what="evaluation line 30")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    t0 = time.monotonic()
    run = _dead_within(sim, "e/dead", t0, FLOOR + 8)
    assert run["reason"] == "stalled" and run["runner_type"] == "evaluator"


def test_runs_local_reads_exited_at_once(tmp_path):
    """Bullet 2: the setting says runs run here; no process of it here: exited now, not after the floor."""
    sim = Sim(tmp_path / "proj", settings="runs_local = true\n")  # the default floor: a minute
    try:
        sim.trainer("t/local", 50, iterations=8, step_s=0.05)
        p = sim.launch("t/local")
        sim.wait_epochs("t/local", 2)
        p.send_signal(signal.SIGKILL)
        p.wait()
        run = sim.status("t/local")
        assert (run["status"], run["reason"]) == ("failed", "exited")
        assert "runs_local" in run["reason_detail"]
    finally:
        sim.close()


def test_runs_local_keeps_a_live_run_running(tmp_path):
    sim = Sim(tmp_path / "proj", settings="runs_local = true\n")
    try:
        sim.trainer("t/alive", 50, iterations=8, step_s=0.05)
        sim.launch("t/alive")
        sim.wait_epochs("t/alive", 1)
        run = sim.status("t/alive")
        assert (run["status"], run["reason"]) == ("running", None)
    finally:
        sim.close()


def test_alive_but_silent_for_300x_its_cadence_is_stuck(sim):
    """Bullet 1: a line every 0.02 s, then nothing (held at a pause point): stuck once past the floor."""
    sim.trainer("t/hung", 50, iterations=20, step_s=0.02)
    pause = sim.root / "pause"
    pause.write_text("")
    sim.launch("t/hung", SIM_PAUSE_FILE=str(pause), SIM_PAUSE_AT="train:2:10")
    sim.wait_for(lambda: (sim.root / "pause.reached").exists(), what="the pause point")
    t0 = time.monotonic()
    while True:
        run = sim.status("t/hung")
        if run["status"] != "running":
            break
        assert time.monotonic() - t0 < FLOOR + 8, "alive and silent, still running"
        time.sleep(0.3)
    assert (run["status"], run["reason"]) == ("stuck", "stalled")


@pytest.mark.slow
def test_live_run_with_irregular_cadence_and_silent_validation_never_reads_stuck_or_failed(sim):
    """Bullet 1: a validation that logs nothing for 0.75x the floor (45 s of a minute), batches of uneven
    length, checked by a new process again and again: always running, then finished."""
    sim.trainer("t/irregular", 6, iterations=6, step_s=0.05, jitter=[0.0, 0.6, 0.0, 1.2], silent_validation_s=FLOOR * 0.75)
    p = sim.launch("t/irregular")
    checks = 0
    while p.poll() is None:
        run = sim.status("t/irregular")
        assert run["status"] in ("running", "finished"), (run["reason_detail"], run)
        checks += 1
    assert p.returncode == 0 and checks >= 5
    run = sim.status("t/irregular")
    assert (run["status"], run["completed_epochs"]) == ("finished", 6)


def test_a_pause_the_run_has_had_before_keeps_it_running_and_is_named(sim):
    """Bullet 1: silent past the floor right after its last training batch, where it has always been
    silent that long (a validation without log lines): running, the pause named; past 1.5x that: stuck."""
    from runwatch.layout import Project
    from runwatch.process_info import ProcessInfo
    from runwatch.run_status.run_status import evaluate_run

    sim.trainer("t/pauses", 50, iterations=4, step_s=0.02, silent_validation_s=FLOOR * 0.9)
    pause = sim.root / "pause"
    pause.write_text("")
    p = sim.launch("t/pauses", SIM_PAUSE_FILE=str(pause), SIM_PAUSE_AT="train:3:3")  # after epoch 3's last training batch
    sim.wait_for(lambda: (sim.root / "pause.reached").exists(), what="the pause point")
    log = max((sim.root / "logs" / "t" / "pauses").glob("train_val_*.log"), key=os.path.getmtime)
    last = os.path.getmtime(log)
    project = Project.at(str(sim.root))
    config = str(sim.root / "configs" / "t" / "pauses.py")
    alive = {"t/pauses": ProcessInfo(server=None, pid=p.pid, user="u", start_time=None, cmd="python main.py", config_rel="t/pauses", state="running")}
    within, _ = evaluate_run(config, project, process_map=alive, now=last + FLOOR + 0.2)
    assert (within.status, within.reason) == ("running", None)
    assert "within the pause of" in within.reason_detail and "after the last training batch of an epoch" in within.reason_detail
    past, _ = evaluate_run(config, project, process_map=alive, now=last + FLOOR * 3)
    assert (past.status, past.reason) == ("stuck", "stalled")
    assert "1.5x the longest pause it has had after the last training batch of an epoch" in past.reason_detail


EARLY = [0.8, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]  # best at epoch 0: patience 2 fires after 3 epochs, one more runs


def _list_config(sim: Sim, rel: str, second_early: bool, **sim_kw) -> None:
    def stage(epochs: int, early: bool) -> str:
        es = ", 'early_stopping': {'class': EarlyStopping, 'args': {'enabled': True, 'epochs': 2}}" if early else ""
        return (
            f"{{'runner': SupervisedSingleTaskTrainer, 'work_dir': './logs/{rel}', 'epochs': {epochs}, "
            f"'metric': {{'class': SimMetric, 'args': {{}}}}{es}, 'sim': {dict(scores=EARLY, **sim_kw)!r}}}"
        )

    sim._write(rel, f"[{stage(6, True)}, {stage(10, second_early)}]")


def test_list_config_whose_stages_both_stop_early_reads_finished(sim):
    """Bullet 3: stage 1 stops early at 4 epochs; stage 2 resumes in the same work dir, its rule fires at once."""
    _list_config(sim, "m/both", second_early=True, iterations=2, step_s=0.01)
    assert sim.launch("m/both").wait(timeout=60) == 0
    run = sim.status("m/both")
    assert (run["status"], run["early_stopped"], run["completed_epochs"], run["progress_percentage"]) == ("finished", True, 4, 100.0)
    assert run["current_stage"] is None
    assert [(s["completed_epochs"], s["progress_percentage"]) for s in run["stages"]] == [(4, 100.0), (4, 100.0)]


def test_list_config_second_stage_resumes_after_the_first_stopped_early(sim):
    """Bullet 3: stage 1 stops early at 4 epochs; stage 2 (no early stopping) resumes and trains to 10."""
    _list_config(sim, "m/resume", second_early=False, iterations=2, step_s=0.01)
    pause = sim.root / "pause"
    pause.write_text("")
    p = sim.launch("m/resume", SIM_PAUSE_FILE=str(pause), SIM_PAUSE_AT="train:6:1")
    sim.wait_for(lambda: (sim.root / "pause.reached").exists(), what="stage 2's epoch 6")
    run = sim.status("m/resume")
    assert (run["status"], run["current_stage"], run["completed_epochs"], run["early_stopped"]) == ("running", 1, 6, False)
    assert run["stages"][0]["progress_percentage"] == 100.0  # the first stage ended where it stopped early
    pause.unlink()
    assert p.wait(timeout=60) == 0
    run = sim.status("m/resume")
    assert (run["status"], run["completed_epochs"], run["total_epochs"], run["current_stage"]) == ("finished", 10, 10, None)


def test_work_dir_copied_with_fresh_mtimes_is_not_running_where_runs_are_local(tmp_path):
    """Bullet 4: a killed run's work dir copied (``cp -r``: every mtime fresh) to a machine whose runs are local."""
    src = Sim(tmp_path / "src")
    try:
        src.trainer("t/copied", 50, iterations=8, step_s=0.02)
        p = src.launch("t/copied")
        src.wait_epochs("t/copied", 3)
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        src.close()
    dst = Sim(tmp_path / "dst", settings="runs_local = true\n")  # the default floor: a minute
    try:
        dst.trainer("t/copied", 50, iterations=8, step_s=0.02)
        shutil.copytree(src.root / "logs" / "t" / "copied", dst.root / "logs" / "t" / "copied", symlinks=True)  # copy2 keeps mtimes: touch them
        now = time.time()
        for d, _, files in os.walk(dst.root / "logs"):
            for n in files:
                os.utime(os.path.join(d, n), (now, now), follow_symlinks=False)
        run = dst.status("t/copied")
        assert (run["status"], run["reason"]) == ("failed", "exited") and run["completed_epochs"] >= 3
    finally:
        dst.close()


@pytest.mark.parametrize("kind", ["evaluator", "trainer"])
def test_config_edited_after_the_run_finished_warns_naming_the_key(sim, kind):
    """Bullet 4: the whole evaluated config against the config.json the run wrote, any key, evaluators too."""
    rel = f"c/{kind}"
    if kind == "evaluator":
        sim.evaluator(rel, iterations=3, step_s=0.01)
    else:
        sim.trainer(rel, 2, iterations=2, step_s=0.01)
    assert sim.launch(rel).wait(timeout=60) == 0
    run = sim.status(rel)
    assert run["status"] == "finished" and not [w for w in run["warnings"] or [] if "config changed" in w]
    path = sim.root / "configs" / f"{rel}.py"
    time.sleep(0.05)
    path.write_text(path.read_text().replace("'step_s': 0.01", "'step_s': 0.02, 'batch_size': 8"))
    future = time.time() + 2
    os.utime(path, (future, future))
    run = sim.status(rel)
    changed = [w for w in run["warnings"] or [] if "config changed since launch" in w]
    assert changed and "sim.step_s 0.01 at launch, 0.02 now" in changed[0] and "sim.batch_size added" in changed[0], run["warnings"]
    assert run["status"] == "finished"


def test_run_started_in_a_tmux_session_here_reads_exited_once_its_process_is_gone(sim, tmp_path, monkeypatch):
    """Bullet 2: the launcher's tmux session (its start command names the run) is on this machine, the
    run's process is not: it has exited, now, not after its silence limit (the default floor here)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    (sim.root / "runwatch.toml").write_text("")  # every default
    sim.trainer("t/tmuxed", 50, iterations=8, step_s=0.05)
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path))  # a private tmux server: the user's own sessions are never touched
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setitem(ENV, "TMUX_TMPDIR", str(tmp_path))  # for the `runwatch status` processes
    cmd = f"{sys.executable} main.py --config-filepath ./configs/t/tmuxed.py; sleep 120"
    subprocess.run(["tmux", "new-session", "-d", "-s", "job-GPU-0", "-x", "200", "-y", "50", "-c", str(sim.root), cmd], check=True, timeout=10)
    try:
        sim.wait_epochs("t/tmuxed", 2)
        import psutil

        # This test's run: its project is the process's working dir (another checkout's suite may run the same test).
        (job,) = [
            p
            for p in psutil.process_iter(["cmdline", "cwd"])
            if "./configs/t/tmuxed.py" in (p.info["cmdline"] or [])
            and "sleep" not in " ".join(p.info["cmdline"] or [])
            and os.path.realpath(p.info["cwd"] or "") == os.path.realpath(sim.root)
        ]
        job.kill()
        job.wait(10)
        run = sim.status("t/tmuxed")
        assert (run["status"], run["reason"]) == ("failed", "exited"), run["reason_detail"]
        assert "tmux session job-GPU-0" in run["reason_detail"]
    finally:
        subprocess.run(["tmux", "kill-server"], timeout=10, check=False)


def test_slow_first_batch_and_slow_first_epoch_read_running(sim):
    """Bullet 1: nothing logged for 2.5x the floor before the first batch (data loading), then a first
    epoch whose batches come 0.8x the floor apart, then fast ones: running throughout, then finished."""
    sim.trainer("t/slowstart", 3, iterations=4, step_s=0.05, first_batch_s=FLOOR * 2.5, first_epoch_step_s=FLOOR * 0.8)
    p = sim.launch("t/slowstart")
    checks = 0
    while p.poll() is None:
        run = sim.status("t/slowstart")
        assert run["status"] in ("running", "finished"), (run["reason_detail"], run)
        checks += 1
    assert p.returncode == 0 and checks >= 3
    assert sim.status("t/slowstart")["status"] == "finished"


def test_error_message_holds_the_exception_line_wherever_error_line_does(tmp_path):
    """Bullet 4: the traceback is in the run's output only (Pylon's logs never hold it); error_message carries it too."""
    sim = Sim(tmp_path / "proj", settings=f'stall_floor = {FLOOR}\noutput_globs = ["out/{{name}}.log"]\ntmux_output = false\n')
    try:
        sim.trainer("t/crashed", 50, iterations=4, step_s=0.01)
        (sim.root / "out").mkdir()
        with open(sim.root / "out" / "crashed.log", "wb") as out:
            p = subprocess.Popen(
                [sys.executable, "main.py", "--config-filepath", "./configs/t/crashed.py"],
                cwd=sim.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, SIM_CRASH_IN_VALIDATION="2"),
            )
            assert p.wait(timeout=60) != 0
        run = sim.status("t/crashed")
        assert (run["status"], run["reason"], run["error_source"]) == ("failed", "crashed", "output_glob")
        assert run["error_line"] == "ValueError: validation batch has no 'labels'" == run["error_message"]
    finally:
        sim.close()


def test_launchers_report_from_this_machine_says_exited_now(tmp_path):
    """Where it ran, from the launcher's collector report: a trainer started by the launcher (its stand-in,
    tests/pylon_toy/remote_command.py) is SIGKILLed; the launcher POSTs its exit with the host it ran on to
    runwatch serve's collector. A new `runwatch status` (default settings but the collector's token) reads it
    exited at once, on this machine, not "crashed" (no exception in its output) and not after a silence."""
    import socket

    from runwatch.server import BackgroundServer

    token = "s3cret-collector-token"
    sim = Sim(tmp_path / "proj", settings=f'collector_token = "{token}"\n')
    try:
        sim.trainer("t/launched", 50, iterations=8, step_s=0.05)
        launcher = os.path.join(os.path.dirname(__file__), "pylon_toy", "remote_command.py")
        with BackgroundServer(str(sim.root), monitor=None, polling=False) as srv:
            cmd = [sys.executable, launcher, "--collector", srv.base.rstrip("/") + "/api/collector", "--token", token, "--work-dir", "./logs/t/launched", "--"]
            cmd += [sys.executable, "main.py", "--config-filepath", "./configs/t/launched.py"]
            la = subprocess.Popen(cmd, cwd=sim.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
            sim.procs.append(la)
            sim.wait_epochs("t/launched", 2)
            import psutil

            (child,) = psutil.Process(la.pid).children()
            child.kill()
            killed = time.monotonic()
            assert la.wait(timeout=30) != 0
            store = sim.root / ".runwatch-cache" / "collector-events.jsonl"
            sim.wait_for(lambda: store.exists() and store.stat().st_size > 0, 10, "the launcher's report")
        run = sim.status("t/launched")
        took = time.monotonic() - killed
        assert (run["status"], run["reason"]) == ("failed", "exited"), run["reason_detail"]
        me = socket.gethostname()
        assert run["reason_detail"].startswith(f"no process of it on this machine ({me}), where it ran: the launcher reported its exit with an error at ")
        assert run["error_source"] == "collector" and run["error_line"] is None and run["completed_epochs"] >= 2
        assert took < 30  # read at the first look: silence alone would say running for 60 s (the default floor)
    finally:
        sim.close()

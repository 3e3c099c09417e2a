"""Notifications end to end: real trainer processes, a real ``runwatch notify`` (or ``serve``), real receivers.

The trainers (tests/notify_trainer.py, launched as ``python main.py --config-filepath
./configs/<rel>.py``) write a Pylon work dir and then crash with a traceback or
finish; the notifier watches the project with the live index and watcher the server
uses and sends to an SMTP server (aiosmtpd) and an HTTP receiver, both on 127.0.0.1.
``sleep_time = 1`` keeps these tests independent of how fast the status decision
sees an exited process; with it, a trainer whose process is found before its first log
line reads ``stuck`` for a moment, so these tests leave ``stuck`` out of ``on``
(test_notify.py sends stuck runs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from notify_helpers import ROOT, JsonReceiver, NotifyProcess, SmtpReceiver, free_port, launch, make_project
from runwatch.live.index import run_id
from runwatch.live.notify_message import plain


@pytest.fixture
def receiver():
    r = JsonReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp():
    s = SmtpReceiver()
    yield s
    s.close()


HOOK = """import json, os, sys
ev = json.load(sys.stdin)
with open(os.path.join(sys.argv[1], ev["run"].replace("/", "_") + "-" + ev["to"] + ".json"), "w") as f:
    json.dump(ev, f)
print("hook saw", ev["run"], ev["from"], "->", ev["to"])
"""


def hold(root: str) -> None:
    open(os.path.join(root, "hold"), "w").close()


def release(root: str) -> None:
    os.remove(os.path.join(root, "hold"))


def finish(procs) -> list[str]:
    """Wait for the trainers; their stderr (a crash's traceback) as text."""
    out = []
    for p in procs:
        _, err = p.communicate(timeout=60)
        out.append(err.decode())
    return out


def test_crash_and_finish_reach_mail_json_and_hook_once_across_restarts(tmp_path, receiver, smtp):
    events = tmp_path / "events"
    events.mkdir()
    (tmp_path / "hook.py").write_text(HOOK)
    plan = {"exp/crash": {"epochs": 5, "crash_at": 2}, "exp/done": {"epochs": 3}, "exp/never": {"epochs": 4}}
    root = make_project(
        str(tmp_path / "proj"),
        plan,
        f'urls = ["{receiver.url}", "{smtp.url}"]\ncommands = [["{sys.executable}", "{tmp_path / "hook.py"}", "{events}"]]\n'
        'on = ["failed", "finished"]\ndigest_seconds = 1.5\ndashboard_url = "https://lab.example.org/rw/"\n',
    )
    n = NotifyProcess(root)
    try:
        n.wait_for("runwatch notify: watching")
        hold(root)
        procs = [launch(root, "exp/crash"), launch(root, "exp/done")]
        n.wait_running("exp/crash")
        n.wait_running("exp/done")
        assert receiver.messages == [] and smtp.mails == []  # first sight and "running" are not news
        release(root)
        errs = finish(procs)
        assert "RuntimeError: CUDA out of memory" in errs[0] and procs[1].returncode == 0
        receiver.wait(1)
        n.wait_for("runwatch notify: hook ", count=2)
        time.sleep(2.0)
        # Crash and finish landed within the digest window or in two messages: either way each once.
        text = receiver.text()
        assert text.count("exp/crash: running -> failed") == 1 and text.count("exp/done: running -> finished") == 1
        assert "epochs 2/5, best mean_IoU 0.55" in text and "epochs 3/3, best mean_IoU 0.6" in text
        assert f"https://lab.example.org/rw/#run={run_id('exp/crash')}" in text
        assert "exp/never" not in text and "-> running" not in text
        mail_text = "\n".join(smtp.wait(len(receiver.messages)))  # the same messages, by e-mail
        assert mail_text.count("exp/crash: running -> failed") == 1 and mail_text.count("exp/done: running -> finished") == 1
        ev = json.loads((events / "exp_crash-failed.json").read_text())
        assert ev["from"] == "running" and ev["to"] == "failed" and ev["completed_epochs"] == 2 and ev["total_epochs"] == 5
        assert ev["config"].endswith("configs/exp/crash.py") and ev["url"].endswith("#run=" + run_id("exp/crash"))
        assert json.loads((events / "exp_done-finished.json").read_text())["to"] == "finished"
        # Whatever the status decision says went wrong is in the message (the exception line of a crash).
        if ev.get("reason"):
            assert f"exp/crash: running -> failed ({ev['reason']})" in text
        if ev.get("error_line"):
            assert plain(ev["error_line"]) in text
        assert any("hook saw exp/crash running -> failed" in ln for ln in n.lines)
        sent = len(receiver.messages)
        assert n.stop() == 0  # SIGTERM: a clean exit
        assert not [ln for ln in n.lines if "Traceback" in ln]

        # Restarted, and a second notifier besides: nothing already sent is sent again.
        n = NotifyProcess(root)
        n2 = NotifyProcess(root)
        n.wait_for("runwatch notify: watching")
        n2.wait_for("runwatch notify: watching")
        time.sleep(2.0)
        assert len(receiver.messages) == sent and len(os.listdir(events)) == 2
        # The crashed run is relaunched and finishes: both notifiers see it, one sends it.
        with open(os.path.join(root, "notify_plan.json"), "w") as f:
            json.dump({**plan, "exp/crash": {"epochs": 5}}, f)
        hold(root)
        p = launch(root, "exp/crash")
        deadline = time.monotonic() + 30
        while not (n.running("exp/crash") or n2.running("exp/crash")) and time.monotonic() < deadline:
            time.sleep(0.05)
        release(root)
        finish([p])
        receiver.wait(sent + 1)
        time.sleep(2.5)
        assert len(receiver.messages) == sent + 1
        assert receiver.messages[-1]["message"].startswith("exp/crash: running -> finished\nepochs 5/5")
        assert sorted(os.listdir(events)) == ["exp_crash-failed.json", "exp_crash-finished.json", "exp_done-finished.json"]
        assert n2.stop() == 0
    finally:
        n.stop()
        if os.path.exists(os.path.join(root, "hold")):
            release(root)


def test_many_runs_failing_together_make_one_digest(tmp_path, receiver):
    plan = {f"node3/run_{i}": {"epochs": 4, "crash_at": 1} for i in range(8)}
    root = make_project(str(tmp_path / "proj"), plan, f'urls = ["{receiver.url}"]\non = ["failed"]\ndigest_seconds = 4\n')
    n = NotifyProcess(root)
    try:
        n.wait_for("runwatch notify: watching")
        hold(root)
        procs = [launch(root, rel) for rel in plan]
        for rel in plan:
            n.wait_running(rel)
        release(root)
        finish(procs)
        msgs = receiver.wait(1, timeout=60)
        time.sleep(2.0)
        seen = receiver.text() + "\n--- notifier log ---\n" + "\n".join(n.lines[-80:])
        assert len(receiver.messages) == 1, seen
        assert msgs[0]["title"].endswith("8 runs changed (8 failed)"), seen
        for rel in plan:
            # From running, or from stuck where the machine was so loaded that a held run's 0.2 s
            # heartbeat went past its 1 s silence limit just before the crash.
            assert f"{rel}: running -> failed" in msgs[0]["message"] or f"{rel}: stuck -> failed" in msgs[0]["message"], seen
            # A dead run reads dead once and stays dead: no flip back and forth on the way.
            assert sum(1 for ln in n.lines if f" {rel}: " in ln and "-> failed" in ln) == 1, seen
    finally:
        assert n.stop() == 0


def test_a_refusing_target_is_retried_with_backoff_and_the_watcher_lives(tmp_path, receiver):
    port = free_port()
    plan = {"a/crash": {"epochs": 3, "crash_at": 1}, "a/later": {"epochs": 2}}
    root = make_project(
        str(tmp_path / "proj"), plan, f'urls = ["json://127.0.0.1:{port}/x", "{receiver.url}"]\non = ["failed", "finished"]\ndigest_seconds = 0.5\n'
    )
    n = NotifyProcess(root)
    try:
        n.wait_for("runwatch notify: watching")
        hold(root)
        p = launch(root, "a/crash")
        n.wait_running("a/crash")
        release(root)
        finish([p])
        receiver.wait(1)
        first = n.wait_for(f"to json://127.0.0.1:{port} failed (1 in a row); retrying in 2 s")
        n.wait_for(f"to json://127.0.0.1:{port} failed (2 in a row); retrying in 4 s", timeout=20)
        assert "127.0.0.1" in first and n.proc.poll() is None
        # Still watching: a later transition still reaches the working target.
        hold(root)
        p = launch(root, "a/later")
        n.wait_running("a/later")
        release(root)
        finish([p])
        msgs = receiver.wait(2)
        assert msgs[1]["message"].startswith("a/later: running -> finished")
        assert n.stop(sig=signal.SIGINT) == 0  # Ctrl-C: a clean exit too
        assert not [ln for ln in n.lines if "Traceback" in ln or "KeyboardInterrupt" in ln]
    finally:
        n.stop()


def _cli(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "runwatch.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_cli_test_flag_reports_each_target(tmp_path, receiver, smtp):
    root = make_project(str(tmp_path / "proj"), {"x/a": {"epochs": 1}}, f'urls = ["{smtp.url}"]\n')
    port = free_port()
    r = _cli("notify", root, "--test", "--url", receiver.url, "--url", f"json://127.0.0.1:{port}/x", cwd=root)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"mailto://127.0.0.1:{smtp.port}: sent"
    assert lines[1] == f"json://127.0.0.1:{receiver.port}: sent"
    assert lines[2].startswith(f"json://127.0.0.1:{port}: FAILED: ")
    assert receiver.wait(1)[0]["title"] == "runwatch [proj]: test message"
    assert smtp.wait(1)[0].startswith("runwatch [proj]: test message")
    ok = _cli("notify", root, "--test", cwd=root)
    assert ok.returncode == 0 and ok.stdout.strip() == f"mailto://127.0.0.1:{smtp.port}: sent"


def test_cli_errors_are_one_line(tmp_path):
    root = make_project(str(tmp_path / "proj"), {"x/a": {"epochs": 1}}, "")
    r = _cli("notify", root, cwd=root)
    assert r.returncode == 2 and "nothing to notify" in r.stderr and "Traceback" not in r.stderr
    r = _cli("notify", root, "--url", "json://127.0.0.1:9/x", "--dashboard-url", "lab:8765", cwd=root)
    assert r.returncode == 2 and "--dashboard-url must be an http:// or https:// URL" in r.stderr
    r = _cli("notify", root, "--url", "nosuchscheme://tok/en", cwd=root)
    assert r.returncode == 2 and "not a URL Apprise can send to" in r.stderr and "tok/en" not in r.stderr
    with open(os.path.join(root, "runwatch.toml"), "a") as f:
        f.write('on = ["crashed"]\n')
    r = _cli("notify", root, "--url", "json://127.0.0.1:9/x", cwd=root)
    assert r.returncode == 2 and "notify.on" in r.stderr and "runwatch.toml" in r.stderr


def test_serve_sends_the_same_messages_and_reports_targets(tmp_path, receiver):
    from runwatch.server import BackgroundServer

    port = free_port()
    root = make_project(
        str(tmp_path / "proj"),
        {"s/crash": {"epochs": 4, "crash_at": 1}},
        f'urls = ["{receiver.url}", "json://127.0.0.1:{port}/x"]\non = ["failed", "finished"]\ndigest_seconds = 0.5\n',
    )
    with BackgroundServer(root, sweep_interval=0.5) as s:
        entry_id = run_id("s/crash")
        hold(root)
        p = launch(root, "s/crash")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            e = s.index.get(entry_id)
            if e is not None and e.status is not None and e.status.status == "running":
                break
            time.sleep(0.05)
        release(root)
        finish([p])
        msgs = receiver.wait(1)
        assert msgs[0]["message"].startswith("s/crash: running -> failed")
        assert f"{s.base}#run={entry_id}" in msgs[0]["message"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            health = json.loads(urllib.request.urlopen(s.base + "healthz").read())
            bad = [t for t in health["notify"]["targets"] if t["target"] == f"json://127.0.0.1:{port}"]
            if bad and bad[0]["failures"] >= 1:
                break
            time.sleep(0.1)
        assert health["ok"] and not health["notify"]["ok"] and bad[0]["pending"] == 1 and bad[0]["last_error"]
        cl = json.loads(urllib.request.urlopen(s.base + "api/summary").read())["cluster"]
        sent = f'runwatch_notify_messages_sent_total{{cluster="{cl}",target="json://127.0.0.1:{receiver.port}"}} 1'
        # (the receiver has the message before the sender has its answer and counts it: wait for the count)
        deadline = time.monotonic() + 10
        while True:
            metrics = urllib.request.urlopen(s.base + "metrics").read().decode()
            if sent in metrics or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert sent in metrics, [ln for ln in metrics.splitlines() if "notify" in ln]
        failures = [ln for ln in metrics.splitlines() if ln.startswith(f'runwatch_notify_failures_total{{cluster="{cl}",target="json://127.0.0.1:{port}"}}')]
        assert failures and float(failures[0].split()[-1]) >= 1
        assert f'runwatch_notify_transitions_total{{cluster="{cl}"}} ' in metrics


@pytest.mark.slow
def test_a_stop_during_the_first_scan_leaves_at_once(tmp_path):
    from runwatch.testing import generate_tree

    tree = generate_tree(str(tmp_path / "big"), n_runs=1500, seed=3)
    n = NotifyProcess(tree.root, "--url", "json://127.0.0.1:9/x")
    try:
        n.wait_for("reading every run of")
        time.sleep(0.3)  # a cold scan of 1,500 runs takes seconds on the test machines
        assert not any("watching" in ln for ln in n.lines)
        t0 = time.monotonic()
        assert n.stop(timeout=10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        n.stop()

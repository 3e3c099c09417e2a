"""Notifications in one process: settings, message text, the notifier's no-noise rules, targets, hooks.

Every delivery goes to a real receiver on 127.0.0.1 (an HTTP server for Apprise's
``json://``, aiosmtpd for ``mailto://``); the end-to-end tests with real trainer
processes and a real ``runwatch notify`` are in test_notify_e2e.py.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import pytest

from notify_helpers import JsonReceiver, SmtpReceiver, free_port
from runwatch.project import Project
from runwatch.live.index import Delta, run_id
from runwatch.live.notify import Notifier, route_matches
from runwatch.live.notify_delivery import backoff_delay
from runwatch.live.notify_memory import TransitionMemory
from runwatch.live.notify_message import Transition, event_of, message_text, plain
from runwatch.notify_targets import AppriseTarget, DeliveryError, redact, run_hook
from runwatch.run_status.rules import STATUSES
from runwatch.settings import NOTIFY_STATUSES, NotifyRoute, NotifySettings, SettingsError, load_settings


def rec(run: str, status: str, **extra):
    r = {
        "id": run_id(run),
        "run": run,
        "status": status,
        "config": f"/p/configs/{run}.py",
        "work_dir": f"/p/logs/{run}",
        "completed_epochs": 2,
        "total_epochs": 5,
        "runner_type": "trainer",
        "start_time": 1000.0,
        "last_update_time": 1200.0,
        "main_score": {"key": "mean_IoU", "best": 0.7123456, "latest": 0.7},
        "early_stopped": False,
    }
    r.update(extra)
    return r


class Feed:
    """Deltas as the live index makes them, numbered."""

    def __init__(self, notifier: Notifier) -> None:
        self.n = notifier
        self.seq = 0

    def __call__(self, *records, removed=()):
        self.seq += 1
        self.n.on_delta(Delta(self.seq, [], list(records), list(removed), {}))


@pytest.fixture
def receiver():
    r = JsonReceiver()
    yield r
    r.close()


def make_notifier(tmp_path, **kw):
    settings_kw = {k: kw.pop(k) for k in list(kw) if k in NotifySettings.__dataclass_fields__}
    settings_kw.setdefault("digest_seconds", 0.3)
    settings = NotifySettings(**settings_kw)
    kw.setdefault("memory_path", str(tmp_path / "cache" / "sent.json"))
    kw.setdefault("backoff_base", 0.2)
    return Notifier(Project.at(str(tmp_path)), settings, **kw)


# ---------------------------------------------------------------- settings


def test_notify_settings_parse(tmp_path):
    (tmp_path / "runwatch.toml").write_text(
        '[notify]\nurls = ["json://127.0.0.1:9/x"]\non = ["failed"]\ncommands = ["./relaunch.sh --now", ["echo", "a b"]]\n'
        'command_timeout = 5\ndashboard_url = "https://lab.example.org/runwatch/"\ndigest_seconds = 2\nflap_limit = 4\n\n'
        '[[notify.route]]\nmatch = "sweeps/*"\nurls = ["mailto://127.0.0.1"]\non = ["finished", "failed"]\n\n'
        '[[notify.route]]\nmatch = "baselines/"\ncommands = "./b.sh"\n'
    )
    n = load_settings(tmp_path).notify
    assert n.urls == ("json://127.0.0.1:9/x",) and n.on == ("failed",)
    assert n.commands == (("./relaunch.sh", "--now"), ("echo", "a b"))
    assert n.command_timeout == 5.0 and n.digest_seconds == 2.0 and n.flap_limit == 4
    assert n.dashboard_url == "https://lab.example.org/runwatch/"
    assert n.routes == (
        NotifyRoute("sweeps/*", ("mailto://127.0.0.1",), ("finished", "failed")),
        NotifyRoute("baselines/", (), None, (("./b.sh",),)),
    )
    assert n.enabled
    assert load_settings(tmp_path / "nothing").notify == NotifySettings() and not NotifySettings().enabled
    assert NotifySettings().on == ("failed", "stuck", "finished")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[notify]\non = ["crashed"]\n', "notify.on"),
        ('[notify]\nurl = ["x://"]\n', "notify.url"),
        ("[notify]\nurls = [1]\n", "notify.urls"),
        ("[notify]\ncommands = [3]\n", "notify.commands"),
        ('[notify]\ncommands = ["\'unclosed"]\n', "notify.commands"),
        ("[notify]\ncommand_timeout = -1\n", "notify.command_timeout"),
        ("[notify]\nflap_limit = 1.5\n", "notify.flap_limit"),
        ('[notify]\ndashboard_url = "lab:8765"\n', "notify.dashboard_url"),
        ('[[notify.route]]\nurls = ["json://h"]\n', "notify.route[0].match"),
        ('[[notify.route]]\nmatch = "a"\nstatus = ["failed"]\n', "notify.route[0].status"),
        ('[[notify.route]]\nmatch = "a"\non = ["nope"]\n', "notify.route[0].on"),
        ("notify = 3\n", "notify"),
    ],
)
def test_notify_settings_errors_name_file_and_key(tmp_path, toml, key):
    (tmp_path / "runwatch.toml").write_text(toml)
    with pytest.raises(SettingsError) as e:
        load_settings(tmp_path)
    assert str(tmp_path / "runwatch.toml") in str(e.value) and key in str(e.value)


def test_notify_statuses_are_the_status_rules():
    assert NOTIFY_STATUSES == STATUSES


# ---------------------------------------------------------------- messages


def test_message_names_everything():
    r = rec(
        "trainers/run_3",
        "failed",
        reason="crashed",
        reason_detail="exception in the log",
        error_line="RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    t = Transition("trainers/run_3", r["id"], "running", "failed", 1300.0, r)
    title, body = message_text([t], dashboard_url="http://lab:8765/", project_root="/data/proj")
    assert title == "runwatch [proj]: trainers/run_3 failed"
    assert body.splitlines() == [
        "trainers/run_3: running -> failed (crashed)",
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "epochs 2/5, best mean_IoU 0.7123, ran 3 min",
        f"http://lab:8765/#run={run_id('trainers/run_3')}",
    ]
    # Before a reason is known (older records), the error message says what went wrong.
    r2 = rec("a", "failed", error_message="log ends in a traceback", start_time=0.0, last_update_time=7500.0)
    _, body2 = message_text([Transition("a", "x", "running", "failed", 0, r2)], dashboard_url=None, project_root="/p")
    assert body2.splitlines() == ["a: running -> failed", "log ends in a traceback", "epochs 2/5, best mean_IoU 0.7123, ran 2 h 05 min"]


def test_message_strings_from_disk_are_plain_text():
    evil = "run\x1b[2J\x1b]8;;http://evil\x07\u202etxt.exe\nsecond"
    r = rec(evil, "failed", error_line="Error: \x1b[31mred\r\nFAKE LINE" + "x" * 1000)
    _, body = message_text([Transition(evil, "id", "running", "failed", 0, r)], dashboard_url=None, project_root="/p")
    assert "\x1b" not in body and "\u202e" not in body and "\r" not in body and "\x07" not in body
    lines = body.splitlines()
    assert lines[0].startswith("run [2J ]8;;http://evil txt.exe second: running -> failed")
    assert lines[1].startswith("Error: [31mred FAKE LINE") and len(lines[1]) == 300 and lines[1].endswith("...")
    assert plain("a\tb\x00c") == "a b c"


def test_digest_counts_and_caps():
    ts = [Transition(f"g/r{i}", f"i{i}", "running", "failed" if i % 4 else "finished", 0, rec(f"g/r{i}", "failed")) for i in range(40)]
    title, body = message_text(ts, dashboard_url="http://h:1/", project_root="/x/proj")
    assert title == "runwatch [proj]: 40 runs changed (30 failed, 10 finished)"
    assert body.count(": running -> ") == 30
    assert body.endswith("... and 10 more (see http://h:1/)")


def test_a_run_that_changed_twice_is_one_entry_of_a_digest():
    # Failed, relaunched, failed again within one digest window (or while a target was failing):
    # one run changed, through the statuses it passed.
    ts = [
        Transition("g/a", "ia", "running", "failed", 1, rec("g/a", "failed")),
        Transition("g/b", "ib", "running", "failed", 2, rec("g/b", "failed")),
        Transition("g/a", "ia", "stuck", "failed", 3, rec("g/a", "failed", reason="crashed")),
    ]
    title, body = message_text(ts, dashboard_url=None, project_root="/x/proj")
    assert title == "runwatch [proj]: 2 runs changed (2 failed)"
    assert body.splitlines()[0] == "g/a: running -> failed -> stuck -> failed (crashed)"
    assert body.count("g/a:") == 1 and body.count("g/b: running -> failed") == 1
    # The same run alone: a single message, its whole path; a long path is cut in the middle.
    flaps = [Transition("g/a", "ia", a, b, i, rec("g/a", b)) for i, (a, b) in enumerate([("running", "failed"), ("failed", "running")] * 4)]
    title, body = message_text(flaps, dashboard_url=None, project_root="/x/proj")
    assert title == "runwatch [proj]: g/a running"
    assert body.splitlines()[0] == "g/a: running -> failed -> running -> ... -> running -> failed -> running"


def test_event_is_json_with_the_facts():
    r = rec("a/b", "failed", reason="crashed", error_line="ValueError: x", process_info={"host": "gpu3", "pid": 5})
    r["main_score"]["latest"] = float("nan")
    ev = event_of(Transition("a/b", r["id"], "running", "failed", 5.0, r), dashboard_url="http://h/", project_root="/p")
    assert json.loads(json.dumps(ev, allow_nan=False)) == ev and ev["main_score"]["latest"] == "NaN"
    assert ev["run"] == "a/b" and ev["from"] == "running" and ev["to"] == "failed" and ev["reason"] == "crashed"
    assert ev["error_line"] == "ValueError: x" and ev["host"] == "gpu3" and ev["ran_seconds"] == 200.0
    assert ev["config"] == "/p/configs/a/b.py" and ev["url"] == f"http://h/#run={r['id']}"
    assert ev["completed_epochs"] == 2 and ev["total_epochs"] == 5 and ev["main_score"]["key"] == "mean_IoU"


def test_redact_never_shows_secrets():
    slack = redact("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    assert slack.startswith("slack://#") and len(slack) == len("slack://#") + 6 and "T1JJ" not in slack.upper()
    assert redact("slack://T1JJ3T3L2/B/other") != slack
    assert redact("mailto://user:hunter2@smtp.lab.org:587?to=a@b") == "mailto://smtp.lab.org:587"
    assert redact("json://127.0.0.1:8080/path?token=abc") == "json://127.0.0.1:8080"
    assert "hunter2" not in redact("mailtos://user:hunter2@gmail.com")


def test_route_matching():
    assert route_matches(NotifyRoute("sweeps/"), "sweeps/lr_1")
    assert route_matches(NotifyRoute("sweeps/lr_"), "sweeps/lr_1")
    assert not route_matches(NotifyRoute("sweeps/"), "baselines/a")
    assert route_matches(NotifyRoute("*/seed_?"), "sweeps/seed_3")
    assert not route_matches(NotifyRoute("*/seed_?"), "sweeps/seed_33")


def test_backoff_doubles_up_to_a_cap():
    assert [backoff_delay(n, 2.0, 30.0) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


# ---------------------------------------------------------------- memory


def test_memory_first_sight_is_silent_and_claims_are_shared(tmp_path):
    path = str(tmp_path / "c" / "sent.json")
    a, b = TransitionMemory(path), TransitionMemory(path)
    assert a.settle([("r1", "running"), ("r2", "failed")], 1.0) == []
    assert a.settle([("r1", "running")], 2.0) == []
    assert a.settle([("r1", "failed")], 3.0) == [("r1", "running", "failed")]
    # A second notifier (or a restart) sees the same change: already claimed.
    assert b.settle([("r1", "failed"), ("r2", "failed")], 4.0) == []
    assert b.settle([("r2", "running")], 5.0) == [("r2", "failed", "running")]
    assert a.settle([("r2", "running")], 6.0) == []
    a.forget(["r1"])
    assert TransitionMemory(path).settle([("r1", "finished")], 7.0) == []  # a new run of that name: silent
    assert not os.listdir(tmp_path / "c") == []  # only its own files, in its own dir
    assert sorted(os.listdir(tmp_path / "c")) == ["sent.json", "sent.json.lock"]


def test_memory_survives_a_corrupt_file(tmp_path, caplog):
    path = tmp_path / "sent.json"
    path.write_text("{not json")
    m = TransitionMemory(str(path))
    with caplog.at_level(logging.WARNING, "runwatch.notify"):
        assert m.settle([("r", "running")], 1.0) == []
    assert "malformed" in caplog.text
    assert m.settle([("r", "failed")], 2.0) == [("r", "running", "failed")]


# ---------------------------------------------------------------- the notifier


def test_first_sight_silent_then_one_message_per_transition(tmp_path, receiver):
    n = make_notifier(tmp_path, urls=(receiver.url,)).start()
    feed = Feed(n)
    try:
        feed(rec("a", "running"), rec("b", "failed"), rec("c", "finished"))
        feed(rec("a", "running", completed_epochs=3))  # progress, not a transition
        feed(rec("b", "running"))  # relaunched: "running" is not in `on`
        time.sleep(0.8)
        assert receiver.messages == []
        feed(rec("a", "finished", completed_epochs=5))
        msgs = receiver.wait(1)
        assert msgs[0]["title"] == "runwatch [" + os.path.basename(str(tmp_path)) + "]: a finished"
        assert msgs[0]["message"].startswith("a: running -> finished\nepochs 5/5")
        time.sleep(0.6)
        assert len(receiver.messages) == 1
        h = n.health()
        assert h["ok"] and h["transitions_seen"] == 2 and h["transitions_notified"] == 1
        assert h["targets"][0]["messages_sent"] == 1 and h["targets"][0]["failures"] == 0
    finally:
        n.stop()


def test_transitions_together_go_as_one_digest_per_target(tmp_path, receiver):
    smtp = SmtpReceiver()
    n = make_notifier(tmp_path, urls=(receiver.url, smtp.url), digest_seconds=1.0).start()
    feed = Feed(n)
    try:
        feed(*[rec(f"node7/run_{i}", "running") for i in range(40)])
        # A node dies: its 40 runs fail over a few batches of the index.
        for k in range(0, 40, 10):
            feed(*[rec(f"node7/run_{i}", "failed", reason="node_failure") for i in range(k, k + 10)])
        msgs = receiver.wait(1)
        mails = smtp.wait(1)
        time.sleep(1.2)
        assert len(receiver.messages) == 1 and len(smtp.mails) == 1
        assert msgs[0]["title"].endswith("40 runs changed (40 failed)")
        assert msgs[0]["message"].count("running -> failed (node_failure)") == 30
        assert "... and 10 more" in msgs[0]["message"]
        assert "40 runs changed (40 failed)" in mails[0] and "node7/run_0: running -> failed (node_failure)" in mails[0]
    finally:
        n.stop()
        smtp.close()


def test_a_transition_nobody_asked_for_opens_no_digest_window(tmp_path, receiver):
    # Runs that went stuck (not asked for) a moment before they failed: the digest's window starts at the
    # first failure, so every failure that follows within it goes in the same message.
    n = make_notifier(tmp_path, urls=(receiver.url,), on=("failed",), digest_seconds=1.5).start()
    feed = Feed(n)
    try:
        feed(*[rec(f"n/run_{i}", "running") for i in range(4)])
        feed(*[rec(f"n/run_{i}", "stuck", reason="stalled") for i in range(4)])
        time.sleep(1.0)
        feed(rec("n/run_0", "failed", reason="exited"))
        time.sleep(1.0)  # past the window a stuck run would have opened, within the failure's
        feed(*[rec(f"n/run_{i}", "failed", reason="exited") for i in range(1, 4)])
        msgs = receiver.wait(1)
        time.sleep(1.8)
        assert len(receiver.messages) == 1 and msgs[0]["title"].endswith("4 runs changed (4 failed)"), receiver.text()
        assert n.transitions_seen == 8 and n.transitions_notified == 4
    finally:
        n.stop()


def test_restart_and_second_notifier_resend_nothing(tmp_path, receiver):
    first = make_notifier(tmp_path, urls=(receiver.url,)).start()
    Feed(first)(rec("a", "running"), rec("b", "running"))
    Feed(first)(rec("a", "failed"))
    receiver.wait(1)
    first.stop()
    # Restarted (a new process would build the same): the index reports every run as added.
    again, other = make_notifier(tmp_path, urls=(receiver.url,)).start(), make_notifier(tmp_path, urls=(receiver.url,)).start()
    try:
        for n in (again, other):
            n.on_delta(Delta(1, [rec("a", "failed"), rec("b", "running")], [], [], {}))
        time.sleep(0.8)
        assert len(receiver.messages) == 1
        # One new transition, seen by both notifiers: sent once.
        Feed(again)(rec("b", "stuck"))
        Feed(other)(rec("b", "stuck"))
        receiver.wait(2)
        time.sleep(0.8)
        assert len(receiver.messages) == 2 and receiver.messages[1]["message"].startswith("b: running -> stuck")
    finally:
        again.stop()
        other.stop()


def test_a_change_while_down_is_sent_after_restart(tmp_path, receiver):
    first = make_notifier(tmp_path, urls=(receiver.url,)).start()
    first.on_delta(Delta(1, [rec("a", "running"), rec("b", "running")], [], [], {}))
    first.stop()
    again = make_notifier(tmp_path, urls=(receiver.url,)).start()
    try:
        again.on_delta(Delta(1, [rec("a", "finished", completed_epochs=5), rec("b", "running")], [], [], {}))
        msgs = receiver.wait(1)
        time.sleep(0.6)
        assert len(receiver.messages) == 1 and msgs[0]["message"].startswith("a: running -> finished\nepochs 5/5")
    finally:
        again.stop()


def test_a_flapping_run_is_held_back(tmp_path, receiver):
    n = make_notifier(tmp_path, urls=(receiver.url,), on=("stuck", "failed"), flap_limit=2, flap_window=6.0, digest_seconds=0.05).start()
    feed = Feed(n)
    try:
        feed(rec("f", "running"))
        for i in range(6):
            feed(rec("f", "stuck"))
            time.sleep(0.2)
            feed(rec("f", "running"))
            time.sleep(0.2)
        feed(rec("f", "failed"))
        receiver.wait(2)
        time.sleep(0.3)
        assert len(receiver.messages) == 2  # the limit, within the window
        assert n.health()["held_back"] >= 4
        # Once the window allows, the latest state goes out once, saying it was held.
        msgs = receiver.wait(3, timeout=15)
        assert msgs[2]["message"].startswith("f: stuck -> failed\n(changed ")
        assert "held back as flapping" in msgs[2]["message"]
        time.sleep(1.5)
        assert len(receiver.messages) == 3
    finally:
        n.stop()


def test_routes_send_matching_runs_to_their_own_targets(tmp_path, receiver):
    team = JsonReceiver()
    routes = (NotifyRoute("sweeps/*", (team.url,), ("finished",)),)
    n = make_notifier(tmp_path, urls=(receiver.url,), on=("failed",), routes=routes).start()
    feed = Feed(n)
    try:
        feed(rec("sweeps/a", "running"), rec("base/b", "running"), rec("sweeps/c", "running"))
        feed(rec("sweeps/a", "finished"), rec("base/b", "failed"), rec("sweeps/c", "failed"))
        receiver.wait(1)
        team.wait(1)
        time.sleep(0.6)
        assert len(receiver.messages) == 1 and len(team.messages) == 1
        assert "base/b: running -> failed" in receiver.text() and "sweeps/c: running -> failed" in receiver.text()
        assert "sweeps/a" not in receiver.text()
        assert team.messages[0]["message"].startswith("sweeps/a: running -> finished")
    finally:
        n.stop()
        team.close()


def test_a_refusing_target_backs_off_is_reported_and_delivers_later(tmp_path, receiver, caplog):
    port = free_port()
    down = f"json://127.0.0.1:{port}/hook"
    n = make_notifier(tmp_path, urls=(down, receiver.url), backoff_base=0.3).start()
    feed = Feed(n)
    try:
        with caplog.at_level(logging.INFO, "runwatch.notify"):
            feed(rec("a", "running"))
            feed(rec("a", "failed"))
            receiver.wait(1)  # the good target is not held up
            deadline = time.monotonic() + 15
            while n.health()["targets"][0]["consecutive_failures"] < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            bad = n.health()["targets"][0]
            assert bad["target"] == f"json://127.0.0.1:{port}" and not bad["ok"] and bad["consecutive_failures"] >= 3
            assert bad["pending"] == 1 and "127.0.0.1" in bad["last_error"] and not n.health()["ok"]
            retry_lines = [r.getMessage() for r in caplog.records if "failed (" in r.getMessage()]
            assert "(1 in a row); retrying in 0.3 s" in retry_lines[0] and "(2 in a row); retrying in 0.6 s" in retry_lines[1]
            # The target comes back: what it missed arrives, as one message.
            late = JsonReceiver(port)
            try:
                msgs = late.wait(1, timeout=15)
                assert msgs[0]["message"].startswith("a: running -> failed")
                deadline = time.monotonic() + 5
                while not n.health()["targets"][0]["ok"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert n.health()["targets"][0]["ok"] and n.health()["targets"][0]["failures"] >= 3
            finally:
                late.close()
    finally:
        n.stop()


def test_a_bad_record_or_listener_never_raises_into_the_index(tmp_path):
    n = make_notifier(tmp_path, urls=("json://127.0.0.1:9/x",))
    n.memory.settle = None  # type: ignore[assignment]  # a bug inside the notifier
    n.on_delta(Delta(1, [rec("a", "running")], [], [], {}))
    assert n.errors == 1


def test_send_test_reports_each_target(tmp_path, receiver):
    n = make_notifier(tmp_path, urls=(receiver.url, f"json://127.0.0.1:{free_port()}/x"))
    res = n.send_test()
    assert res[0] == (redact(receiver.url), None)
    assert res[1][1] is not None and "127.0.0.1" in res[1][1]
    assert receiver.wait(1)[0]["title"].endswith(": test message")


def test_unknown_url_scheme_is_a_clear_error():
    t = AppriseTarget("nosuchscheme://x/y?token=s3cret")
    assert t.check().startswith("nosuchscheme://#") and "s3cret" not in t.check()
    with pytest.raises(DeliveryError):
        t.send("a", "b")


# ---------------------------------------------------------------- hooks

HOOK = """import json, os, sys
ev = json.load(sys.stdin)
out = sys.argv[1]
with open(os.path.join(out, ev["run"].replace("/", "_") + "-" + ev["to"] + ".json"), "w") as f:
    json.dump({"event": ev, "env": os.environ.get("RUNWATCH_STATUS"), "cwd": os.getcwd()}, f)
print("relaunching", ev["run"])
"""


def test_run_hook_feeds_json_on_stdin_without_a_shell(tmp_path):
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    ev = {"run": "a/b; rm -rf /", "to": "failed", "from": "running"}
    res = run_hook((sys.executable, str(script), str(tmp_path)), ev, timeout=20, cwd=str(tmp_path))
    assert res.ok and res.output.strip() == "relaunching a/b; rm -rf /"
    got = json.loads((tmp_path / "a_b; rm -rf _-failed.json").read_text())
    assert got["event"] == ev and got["env"] == "failed" and got["cwd"] == str(tmp_path)


def test_run_hook_time_limit_kills_the_whole_group(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(
        "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\nprint('started', flush=True)\ntime.sleep(60)\n"
    )
    t0 = time.monotonic()
    res = run_hook((sys.executable, str(script)), {}, timeout=1.0, cwd=str(tmp_path))
    assert time.monotonic() - t0 < 8
    assert not res.ok and res.error == "killed after 1 s" and "started" in res.output


def test_run_hook_missing_program_or_failure(tmp_path):
    res = run_hook(("./no-such-hook",), {}, timeout=5, cwd=str(tmp_path))
    assert not res.ok and res.error.startswith("cannot start")
    res = run_hook((sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"), {}, timeout=5, cwd=str(tmp_path))
    assert res.returncode == 3 and res.error == "exit code 3" and res.output.strip() == "boom"


def test_a_relative_hook_runs_from_the_project_root(tmp_path):
    hook = tmp_path / "relaunch.sh"
    hook.write_text('#!/bin/sh\ncat > "$RUNWATCH_RUN.event.json"\n')
    hook.chmod(0o755)
    n = make_notifier(tmp_path, commands=(("./relaunch.sh",),)).start()
    feed = Feed(n)
    try:
        feed(rec("r", "running"))
        feed(rec("r", "stuck"))
        deadline = time.monotonic() + 20
        while not (tmp_path / "r.event.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert json.loads((tmp_path / "r.event.json").read_text())["to"] == "stuck"
    finally:
        n.stop()


def test_notifier_runs_hooks_once_per_transition_and_logs_output(tmp_path, caplog):
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    out = tmp_path / "events"
    out.mkdir()
    n = make_notifier(tmp_path, commands=((sys.executable, str(script), str(out)),), on=("failed", "finished")).start()
    feed = Feed(n)
    try:
        with caplog.at_level(logging.INFO, "runwatch.notify"):
            feed(*[rec(f"r{i}", "running") for i in range(3)])
            feed(*[rec(f"r{i}", "failed", reason="crashed", error_line="KeyError: 'x'") for i in range(3)])
            deadline = time.monotonic() + 30
            while len(os.listdir(out)) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
        assert sorted(os.listdir(out)) == ["r0-failed.json", "r1-failed.json", "r2-failed.json"]
        ev = json.loads((out / "r1-failed.json").read_text())["event"]
        assert ev["from"] == "running" and ev["to"] == "failed" and ev["error_line"] == "KeyError: 'x'"
        assert n.health()["hooks_run"] == 3 and n.health()["hook_failures"] == 0
        assert "relaunching r0" in caplog.text
    finally:
        n.stop()

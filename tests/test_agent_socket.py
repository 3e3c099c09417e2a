"""A one-shot ``runwatch status`` asks the running agent: the same output, never stale, the user's own socket only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
from agent_helpers import served_tree

from runwatch import cli_agent
from runwatch.agent_client import settings_digest, socket_path
from runwatch.project import Project
from runwatch.server import BackgroundServer
from runwatch.settings import load_settings
from runwatch.testing import generate_tree

from test_live import add_epoch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def served(tmp_path, monkeypatch):
    yield from served_tree(tmp_path, monkeypatch, n_runs=30, seed=11, max_epochs=6)


def _cli(root: str, *args: str, agent: bool = True) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not agent:
        env["RUNWATCH_NO_AGENT"] = "1"
    p = subprocess.run([sys.executable, "-m", "runwatch.cli", *args, "--root", root], capture_output=True, text=True, env=env, timeout=120)
    return p.returncode, p.stdout


def _runs(text: str) -> dict[str, dict]:
    return {r["run"]: {k: v for k, v in r.items() if k != "checked_at"} for r in json.loads(text)["runs"]}


def test_status_from_the_agent_is_what_a_scan_prints(served):
    tree, server = served
    from runwatch.live.agent_socket import AGENTS

    (agent,) = AGENTS.values()
    code, via_agent = _cli(tree.root, "status", "--json")
    code2, scanned = _cli(tree.root, "status", "--json", agent=False)
    assert code == code2 == 0
    assert _runs(via_agent) == _runs(scanned)
    a, b = json.loads(via_agent), json.loads(scanned)
    assert {k: v for k, v in a["summary"].items()} == b["summary"]
    _, lines_agent = _cli(tree.root, "status", "--jsonl", "--status", "failed", "--sort", "progress")
    _, lines_scan = _cli(tree.root, "status", "--jsonl", "--status", "failed", "--sort", "progress", agent=False)
    strip = lambda t: [{k: v for k, v in json.loads(x).items() if k != "checked_at"} for x in t.splitlines()]
    assert strip(lines_agent) == strip(lines_scan) and lines_agent
    assert agent.served == 2


def test_the_agent_answers_and_is_never_stale(served):
    tree, server = served
    project = Project.at(tree.root)
    request = {"command": "status", "paths": [], "format": "json", "sort": "run"}
    got = cli_agent.ask(project, request)
    assert got is not None
    runs = _runs(got[1].decode())
    running = next(r for r in tree.runs if r.status == "running" and r.kind == "trainer")
    n = add_epoch(tree, running.rel)
    # Asked at once (the watcher batches events for up to 0.4 s): the new epoch is in the answer.
    got2 = cli_agent.ask(project, request)
    assert got2 is not None
    after = _runs(got2[1].decode())
    assert after[running.rel]["completed_epochs"] == n == runs[running.rel]["completed_epochs"] + 1
    # A new config: listed in the next answer.
    src = os.path.join(tree.root, "configs", running.rel + ".py")
    new = os.path.join(os.path.dirname(src), "brand_new.py")
    with open(src) as f, open(new, "w") as g:
        g.write(f.read())
    got3 = cli_agent.ask(project, request)
    assert got3 is not None
    assert any(r.endswith("brand_new") for r in _runs(got3[1].decode()))


def test_socket_is_the_users_own_and_other_settings_scan_themselves(served, tmp_path):
    tree, server = served
    project = Project.at(tree.root)
    path = socket_path(tree.root)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    other = Project.at(tree.root, load_settings(tree.root, outdated_days=1))
    assert settings_digest(other.settings) != settings_digest(project.settings)
    assert cli_agent.ask(other, {"command": "status", "paths": [], "format": "json"}) is None
    server.stop()
    assert not os.path.exists(path)  # the agent removes its socket when it stops


def test_table_and_show_from_the_agent(served):
    tree, server = served
    from runwatch.live.agent_socket import AGENTS

    (agent,) = AGENTS.values()
    _, table_agent = _cli(tree.root, "status", "--sort", "status")
    _, table_scan = _cli(tree.root, "status", "--sort", "status", agent=False)
    assert table_agent.splitlines()[2:] == table_scan.splitlines()[2:] and len(table_agent.splitlines()) > 10
    run = next(r for r in tree.runs if r.kind == "trainer" and r.completed_epochs > 1).rel
    _, show_agent = _cli(tree.root, "show", run, "--json")
    _, show_scan = _cli(tree.root, "show", run, "--json", agent=False)
    a, b = json.loads(show_agent), json.loads(show_scan)
    a.pop("checked_at", None), b.pop("checked_at", None)
    assert a == b
    assert agent.served == 2


def test_python_api_asks_the_agent_with_the_same_records(served):
    import runwatch
    from runwatch.live.agent_socket import AGENTS

    tree, server = served
    (agent,) = AGENTS.values()
    via_agent = runwatch.status_records(tree.root)
    assert agent.served == 1
    scanned = runwatch.status_records(tree.root, use_agent=False)
    strip = lambda recs: [{k: v for k, v in r.items() if k != "checked_at"} for r in recs]
    assert strip(via_agent) == strip(scanned) and len(scanned) == len(tree.runs)


@pytest.mark.parametrize("limit", [None, 10], ids=["watches", "past-the-watch-budget"])
def test_agent_answers_equal_a_scan_after_changes_with_and_without_watches(tmp_path, monkeypatch, limit):
    """Within the kernel's watch budget and far past it (most folders polled, most runs without a watch), the agent's
    answer right after changes (a new epoch, a new config, a never-launched run's folder made) is a scan's."""
    import runwatch
    from runwatch.progress_tracking.change_notify import NOTIFIER

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.makedirs(tmp_path / "run", mode=0o700)
    NOTIFIER.clear()
    if limit is not None:
        monkeypatch.setenv("RUNWATCH_MAX_WATCHES", str(limit))
    tree = generate_tree(str(tmp_path / "proj"), n_runs=30, seed=11, max_epochs=6)
    try:
        with BackgroundServer(tree.root, agent_answer=cli_agent.answer) as server:
            idx = server.index
            deadline = time.time() + 60
            while time.time() < deadline and (
                idx.scanning or idx.seq == 0 or idx.watcher is None or idx.watcher.tree is None or idx.watcher.tree.walked_at is None
            ):
                time.sleep(0.05)
            health = idx.watcher.health()
            assert health["degraded"] == (limit is not None)
            strip = lambda recs: sorted(({k: v for k, v in r.items() if k != "checked_at"} for r in recs), key=lambda r: r["run"])
            assert strip(runwatch.status_records(tree.root)) == strip(runwatch.status_records(tree.root, use_agent=False))
            running = next(r for r in tree.runs if r.status == "running" and r.kind == "trainer")
            add_epoch(tree, running.rel)
            add_epoch(tree, running.rel)
            src = os.path.join(tree.root, "configs", running.rel + ".py")
            with open(src) as f, open(os.path.join(os.path.dirname(src), "brand_new.py"), "w") as g:
                g.write(f.read())
            never = next(r for r in tree.runs if r.scenario == "never_launched")
            os.makedirs(os.path.join(tree.root, "logs", *never.rel.split("/"), "epoch_0"), exist_ok=True)
            via_agent = strip(runwatch.status_records(tree.root))
            scanned = strip(runwatch.status_records(tree.root, use_agent=False))
            assert via_agent == scanned
            assert any(r["run"].endswith("brand_new") for r in via_agent)
    finally:
        NOTIFIER.unlisten()
        NOTIFIER.clear()


def test_a_settled_catch_up_is_kept_until_something_moves(served):
    """Once every run was found settled, a catch-up with nothing new skips the per-run pass; an event, an evaluation
    or the clock reaching a run's due time brings the pass back (never a stale answer)."""
    tree, server = served
    from runwatch.live.agent_socket import AGENTS, catch_up

    (agent,) = AGENTS.values()
    index = server.index
    structure = agent.structure

    def settle() -> None:  # each run gets its kernel watches (files quiet for a moment, a third look), then all are settled
        deadline = time.time() + 30
        while time.time() < deadline:
            with agent._answer_lock:
                assert catch_up(index, structure)
            if structure.quiet is not None:
                return
            time.sleep(0.3)

    settle()
    assert structure.quiet is not None and structure.rechecked == 0
    kept = structure.quiet
    with agent._answer_lock:
        assert catch_up(index, structure)
    assert structure.quiet is kept  # nothing moved: the same answer, without the pass
    # A change on disk: the event is read and the pass runs again (the run is evaluated: its epoch is in the answer).
    running = next(r for r in tree.runs if r.status == "running" and r.kind == "trainer")
    n = add_epoch(tree, running.rel)
    got = cli_agent.ask(Project.at(tree.root), {"command": "status", "paths": [], "format": "json", "sort": "run"})
    assert got is not None and _runs(got[1].decode())[running.rel]["completed_epochs"] == n
    assert structure.quiet is not kept
    # The clock past the earliest due time: the pass runs again, and the runs due are evaluated.
    settle()
    quiet = structure.quiet
    assert quiet is not None and quiet[2] < float("inf")
    clock = index.clock
    index.clock = lambda: quiet[2] + 1.0
    try:
        with agent._answer_lock:
            assert catch_up(index, structure)
        assert structure.rechecked >= 1
    finally:
        index.clock = clock


def test_the_console_script_has_the_agent_write_to_its_stdout(served, tmp_path):
    """``runwatch status --json > file``: the agent writes the file itself (the client's stdout, passed over the
    socket); a pipe closed early ends the command quietly; another settings file makes the client scan."""
    tree, server = served
    from runwatch.live.agent_socket import AGENTS

    (agent,) = AGENTS.values()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("RUNWATCH_NO_AGENT", None)
    out = tmp_path / "out.json"
    before = agent.served
    with open(out, "wb") as f:
        p = subprocess.run([sys.executable, "-m", "runwatch", "status", "--json", "--root", tree.root], stdout=f, stderr=subprocess.PIPE, env=env, timeout=120)
    assert p.returncode == 0 and p.stderr == b"" and agent.served == before + 1
    _, scanned = _cli(tree.root, "status", "--json", agent=False)
    assert _runs(out.read_text()) == _runs(scanned)
    # A reader that stops at once: no traceback, a non-zero exit.
    head = subprocess.run(f"{sys.executable} -m runwatch status --json --root {tree.root} | head -c 10", shell=True, capture_output=True, env=env, timeout=120)
    assert head.stdout == b'{\n  "versi' and b"Traceback" not in head.stderr
    # A settings file the agent did not start with: the client's settings differ, so it scans itself.
    with open(os.path.join(tree.root, "runwatch.toml"), "w") as f:
        f.write("outdated_days = 3\n")
    before = agent.served
    p = subprocess.run([sys.executable, "-m", "runwatch", "status", "--json", "--root", tree.root], capture_output=True, env=env, timeout=120)
    assert p.returncode == 0 and agent.served == before and json.loads(p.stdout)["runs"]


def test_the_document_made_of_kept_record_encodings_is_the_plain_one(served):
    """The agent's ``--json`` document joins each row's kept encoding: byte for byte what encoding it whole gives,
    before and after an ``--hp`` answer (whose columns are never kept in the rows)."""
    tree, server = served
    from runwatch import json_out
    from runwatch.cli_scan import ScanResult, json_payload, sort_rows

    index = server.index

    def both() -> tuple[bytes, bytes]:
        rows = sort_rows(cli_agent._rows(index, []), "run")
        result = ScanResult(rows, {})
        plain = (json_out.dumps(json_payload(index.project, result, rows), indent=True, ascii=True) + "\n").encode()
        return cli_agent._document(index.project, result, rows), plain

    joined, plain = both()
    assert joined == plain and plain.count(b'"run":') == len(tree.runs)
    empty = ScanResult([], {})
    assert cli_agent._document(index.project, empty, []) == (json_out.dumps(json_payload(index.project, empty, []), indent=True, ascii=True) + "\n").encode()
    request = {"command": "status", "paths": [], "format": "json", "sort": "run", "hp": ["lr"]}
    _, with_hp = cli_agent.answer(index, request)
    _, without = cli_agent.answer(index, dict(request, hp=[]))
    assert b'"params"' in with_hp and b'"params"' not in without
    joined, plain = both()
    assert joined == plain

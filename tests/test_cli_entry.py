"""The console script's fast entry (runwatch/cli_entry.py): the agent's answer before any heavy import, else runwatch.cli."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from agent_helpers import served_tree

from runwatch import cli_entry
from runwatch.testing import generate_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), COLUMNS="160", **extra)
    env.pop("RUNWATCH_NO_AGENT", None)
    return env


def _run(module: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=_env(**extra), timeout=120)


@pytest.fixture
def served(tmp_path, monkeypatch):
    yield from served_tree(tmp_path, monkeypatch, n_runs=24, seed=5, max_epochs=5)


def test_copies_of_the_core_constants_are_the_same():
    from runwatch.cli_scan import SORT_KEYS
    from runwatch.run_status import STATUSES

    assert cli_entry.STATUSES == STATUSES
    assert cli_entry.SORT_KEYS == SORT_KEYS


def test_the_package_root_is_lazy_and_every_public_name_resolves():
    code = (
        "import sys, runwatch\n"
        "heavy = [m for m in ('runwatch.run_status', 'runwatch.progress_tracking', 'runwatch.layouts', 'click', 'rich') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "ns = {}\n"
        "exec('from runwatch import *', ns)\n"
        "missing = [n for n in runwatch.__all__ if n not in ns or getattr(runwatch, n) is not ns[n]]\n"
        "assert not missing, missing\n"
        "assert set(runwatch.__all__) <= set(dir(runwatch))\n"
        "from runwatch.process_info import default_monitor\n"
        "assert default_monitor is not None\n"
        "try:\n"
        "    runwatch.no_such_name\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
        "print('ok')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_the_default_monitor_is_registered_by_importing_the_package():
    import runwatch
    from runwatch import process_info

    assert process_info._default_monitor_factory is runwatch._default_monitor


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--refresh"],
        ["status", "--watch"],
        ["status", "--ssh", "host"],
        ["status", "--no-local"],
        ["status", "--sleep-time", "5"],
        ["status", "--outdated-days=3"],
        ["status", "-q", "lr=0.1"],
        ["status", "--columns", "run,status"],
        ["status", "--hp", "lr"],
        ["status", "--json", "--jsonl"],
        ["status", "--status", "nonsense"],
        ["status", "--sort", "nonsense"],
        ["status", "--help"],
        ["status", "--exec-configs"],
        ["show"],
        ["show", "a", "b"],
        ["show", "a", "--lines", "x"],
        ["serve"],
        ["--version"],
        [],
    ],
)
def test_options_the_agent_cannot_honour_go_to_the_cli(argv):
    with pytest.raises(cli_entry.Unsupported):
        cli_entry._request(argv)


def test_requests_are_the_clis(tmp_path):
    _, _, req = cli_entry._request(["status", "--json", "--status", "Failed,stuck", "--status=running", "--fail-on", "stuck", "--sort=progress", "--local"])
    assert req == {
        "command": "status",
        "paths": [],
        "status": ["failed", "running", "stuck"],
        "fail_on": ["stuck"],
        "sort": "progress",
        "format": "json",
        "columns": None,
        "q": None,
        "hp": [],
    }
    root, _, req = cli_entry._request(["show", "x/y", "-n", "5", "--json", "--root", str(tmp_path)])
    assert root == str(tmp_path) and req == {"command": "show", "run": "x/y", "lines": 5, "format": "json"}


def test_without_an_agent_it_is_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.makedirs(tmp_path / "run", mode=0o700)
    tree = generate_tree(str(tmp_path / "proj"), n_runs=6, seed=2, max_epochs=3)
    assert cli_entry.agent_answer(["status", "--json", "--root", tree.root]) is None
    fast = _run("runwatch", "status", "--jsonl", "--root", tree.root, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    slow = _run("runwatch.cli", "status", "--jsonl", "--root", tree.root, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    strip = lambda t: sorted(line.split('"checked_at"')[0] for line in t.splitlines())
    assert fast.returncode == slow.returncode == 0 and strip(fast.stdout) == strip(slow.stdout) and fast.stdout
    bad = _run("runwatch", "status", "--status", "nonsense", "--root", tree.root)
    assert bad.returncode == 2 and "unknown status" in bad.stderr
    assert _run("runwatch", "--version").stdout == _run("runwatch.cli", "--version").stdout


def test_through_the_agent_the_output_is_the_clis(served, tmp_path):
    tree, server = served
    from runwatch.live.agent_socket import AGENTS

    (agent,) = AGENTS.values()
    xdg = os.environ["XDG_RUNTIME_DIR"]
    # A fresh process each; the agent keeps a JSON answer per request while nothing changed, so both print the same bytes.
    for args in (
        ["status", "--json"],
        ["status", "--jsonl", "--status", "failed,running", "--sort", "progress"],
        ["status", "--sort", "status"],
    ):
        before = agent.served
        fast = _run("runwatch", *args, "--root", tree.root, XDG_RUNTIME_DIR=xdg)
        slow = _run("runwatch.cli", *args, "--root", tree.root, XDG_RUNTIME_DIR=xdg)
        assert agent.served == before + 2, args  # both asked the agent
        assert (fast.returncode, fast.stderr) == (slow.returncode, slow.stderr) == (0, ""), args
        if "--json" in args or "--jsonl" in args:
            assert fast.stdout == slow.stdout and fast.stdout, args
        else:  # the table says "N s ago": compare all but its header
            assert fast.stdout.splitlines()[2:] == slow.stdout.splitlines()[2:] and len(fast.stdout.splitlines()) > 10
    # --fail-on: the same exit code.
    failing = _run(
        "runwatch", "status", "--json", "--fail-on", "failed,stuck,running,finished,queued,unknown,outdated", "--root", tree.root, XDG_RUNTIME_DIR=xdg
    )
    assert failing.returncode == 1 and failing.stdout
    # Without site's hooks (nothing registered to run at exit) the entry leaves at once (os._exit): same bytes, same codes.
    for fail_on, code in (("failed,stuck,running,finished,queued,unknown,outdated", 1), ("queued", None)):
        args = ["status", "--json", "--fail-on", fail_on, "--root", tree.root]
        before = agent.served
        bare = subprocess.run([sys.executable, "-S", "-m", "runwatch", *args], capture_output=True, text=True, env=_env(XDG_RUNTIME_DIR=xdg), timeout=120)
        full = _run("runwatch", *args, XDG_RUNTIME_DIR=xdg)
        assert agent.served == before + 2 and (bare.returncode, bare.stderr) == (full.returncode, full.stderr)
        assert bare.returncode == code if code is not None else bare.returncode in (0, 1)
        assert bare.stdout == full.stdout and bare.stdout
    # show, by name, from another working dir.
    run = next(r for r in tree.runs if r.kind == "trainer" and r.completed_epochs > 1).rel
    before = agent.served
    fast = _run("runwatch", "show", run, "--json", "--root", tree.root, XDG_RUNTIME_DIR=xdg)
    slow = _run("runwatch.cli", "show", run, "--json", "--root", tree.root, XDG_RUNTIME_DIR=xdg)
    assert agent.served == before + 2
    assert fast.returncode == slow.returncode == 0
    strip = lambda t: [line for line in t.splitlines() if '"checked_at"' not in line]
    assert strip(fast.stdout) == strip(slow.stdout) and fast.stdout
    # A run the agent does not know: the CLI reports it, as always.
    missing = _run("runwatch", "show", "no/such/run", "--root", tree.root, XDG_RUNTIME_DIR=xdg)
    assert missing.returncode == 2 and "no/such/run" in missing.stderr
    # --refresh never asks the agent.
    before = agent.served
    assert _run("runwatch", "status", "--json", "--refresh", "--root", tree.root, XDG_RUNTIME_DIR=xdg).returncode == 0
    assert agent.served == before


def test_in_process_with_a_captured_stdout(served, capsys):
    tree, server = served
    from runwatch.live.agent_socket import AGENTS

    (agent,) = AGENTS.values()
    before = agent.served
    # No file descriptor to hand the agent: runwatch.cli asks it and prints its bytes (then exits as click does).
    with pytest.raises(SystemExit) as done:
        cli_entry.main(["status", "--jsonl", "--root", tree.root])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert agent.served == before + 1 and len(out.splitlines()) == len(tree.runs)

"""The console script's ``status --json`` / ``--jsonl`` without an agent (runwatch/cli_oneshot.py): the same
output, errors and exit codes as ``runwatch.cli``'s ``status``, without importing click."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from cli_helpers import ENV
from runwatch.testing.generator import generate_tree

NO_AGENT = dict(ENV, RUNWATCH_NO_AGENT="1")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("oneshot") / "project")
    generate_tree(path, 24, seed=5)
    return path


def _entry(*args: str) -> subprocess.CompletedProcess[str]:
    """``runwatch ARGS`` through the console script's entry (``python -m runwatch``)."""
    return subprocess.run([sys.executable, "-m", "runwatch", *args], capture_output=True, text=True, env=NO_AGENT, timeout=120, check=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``runwatch ARGS`` through ``runwatch.cli`` itself (click)."""
    return subprocess.run([sys.executable, "-m", "runwatch.cli", *args], capture_output=True, text=True, env=NO_AGENT, timeout=120, check=False)


def _without_clock(out: str) -> Any:
    """The output with every ``checked_at`` (the time of the scan) removed."""
    try:
        doc = json.loads(out)
    except json.JSONDecodeError:
        return [_drop_clock(json.loads(line)) for line in out.splitlines()]
    doc.pop("checked_at", None)
    doc["runs"] = [_drop_clock(r) for r in doc["runs"]]
    return doc


def _drop_clock(rec: dict[str, Any]) -> dict[str, Any]:
    rec.pop("checked_at", None)
    return rec


@pytest.mark.parametrize(
    "args",
    [
        ["--json"],
        ["--jsonl"],
        ["--json", "--sort", "status", "--no-ssh"],
        ["--jsonl", "--status", "failed,stuck", "--local"],
        ["--json", "--fail-on", "failed"],
        ["--json", "trainers"],
    ],
)
def test_the_same_output_and_exit_code_as_the_cli(root: str, args: list[str]) -> None:
    a = _cli("status", "--root", root, *args)
    b = _entry("status", "--root", root, *args)
    assert (b.returncode, b.stderr) == (a.returncode, a.stderr)
    assert b.stdout.count("\n") == a.stdout.count("\n")
    assert _without_clock(b.stdout) == _without_clock(a.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "no_such_run"],  # a user error of the core: Error: ..., exit 2
        ["--json", "--status", "bogus"],  # the CLI's own check
        ["--json", "--sort", "bogus"],  # click's usage error
        ["--json", "--jsonl"],
    ],
)
def test_the_same_errors_as_the_cli(root: str, args: list[str]) -> None:
    a = _cli("status", "--root", root, *args)
    b = _entry("status", "--root", root, *args)
    assert (b.returncode, b.stdout, b.stderr) == (a.returncode, a.stdout, a.stderr)
    assert a.returncode == 2 and "Error:" in a.stderr


def test_not_a_project_is_one_error_line(tmp_path) -> None:
    a = _cli("status", "--json", "--root", str(tmp_path))
    b = _entry("status", "--json", "--root", str(tmp_path))
    assert (b.returncode, b.stdout, b.stderr) == (a.returncode, a.stdout, a.stderr)
    assert b.stderr.startswith("Error: ") and b.returncode == 2


def test_status_json_without_an_agent_imports_no_click(root: str) -> None:
    code = (
        "import atexit, sys\n"
        "from runwatch.cli_entry import main\n"
        f"sys.argv = ['runwatch', 'status', '--json', '--root', {root!r}]\n"
        # (the console script ends the process once the output is written: atexit handlers still run)
        "atexit.register(lambda: sys.stderr.write('checked ' + ' '.join(m for m in ('click', 'rich', 'runwatch.cli') if m in sys.modules)))\n"
        "main()\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=NO_AGENT, timeout=120, check=False)
    assert json.loads(p.stdout)["runs"]
    assert p.stderr == "checked "

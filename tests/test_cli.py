"""The real ``runwatch`` command line on generated Pylon trees (subprocesses, no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cli_helpers import ENV, rw
from runwatch.testing.generator import generate_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("proj")
    return generate_tree(str(root), 40, seed=3)


def expected_status(run) -> str:
    # Without process sources (--no-local) the generator's stuck runs have no live process.
    return "failed" if run.status == "stuck" else run.status


def test_json_matches_every_generated_answer(tree) -> None:
    r = rw("status", "--json", "--no-local", "--root", tree.root)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == 1 and doc["root"] == tree.root
    by_run = {x["run"]: x for x in doc["runs"]}
    assert set(by_run) == {e.rel for e in tree.runs}
    for e in tree.runs:
        rec = by_run[e.rel]
        assert rec["status"] == expected_status(e), e.rel
        assert rec["config"].endswith(e.config_path) and rec["work_dir"].endswith("logs/" + e.rel)
        assert rec["completed_epochs"] == e.completed_epochs, e.rel
        assert rec["runner_type"] == e.kind
        for key in ("progress_percentage", "early_stopped", "early_stopped_at_epoch", "total_epochs", "best_score", "eta_seconds", "process_info", "warnings"):
            assert key in rec
    counts = doc["summary"]["by_status"]
    for status in counts:
        assert counts[status] == sum(1 for e in tree.runs if expected_status(e) == status)
    assert doc["summary"]["total"] == len(tree.runs)


def test_table_shows_every_run_and_a_summary(tree) -> None:
    r = rw("status", "--no-local", cwd=tree.root)  # root found from the current dir
    assert r.returncode == 0, r.stderr
    for e in tree.runs:
        assert e.rel in r.stdout
    header = r.stdout.splitlines()[0].split()
    assert header[:3] == ["run", "kind", "status"] and "progress" in header  # a reason column may follow the status
    summary = next(line for line in reversed(r.stdout.strip().splitlines()) if " runs · " in line or line.endswith(" runs"))
    n_failed = sum(1 for e in tree.runs if expected_status(e) == "failed")
    assert summary.startswith(f"{len(tree.runs)} runs") and f"{n_failed} failed" in summary and "overall" in summary
    early = next(e for e in tree.runs if e.early_stopped)
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith(early.rel + " "))
    assert f"@{early.early_stopped_at_epoch}" in line and f"{early.completed_epochs}/{early.total_epochs}" in line
    assert f"{early.best_value:.4f}" in line


def test_filter_sort_and_paths(tree) -> None:
    r = rw("status", "--json", "--no-local", "--root", tree.root, "--status", "finished,outdated", "--sort", "progress")
    runs = json.loads(r.stdout)["runs"]
    assert runs and {x["status"] for x in runs} <= {"finished", "outdated"}
    pcts = [x["progress_percentage"] for x in runs]
    assert pcts == sorted(pcts)
    # A folder under configs/, a work dir and a glob select the same kinds of runs.
    r = rw("status", "--json", "--no-local", os.path.join(tree.root, "configs", "evals"))
    assert {x["runner_type"] for x in json.loads(r.stdout)["runs"]} == {"evaluator"}
    one = tree.runs[1]
    r = rw("status", "--json", "--no-local", os.path.join(tree.root, "logs", *one.rel.split("/")))
    assert [x["run"] for x in json.loads(r.stdout)["runs"]] == [one.rel]
    r = rw("status", "--json", "--no-local", "--root", tree.root, "trainers/group_1/*.py")
    got = {x["run"] for x in json.loads(r.stdout)["runs"]}
    assert got == {e.rel for e in tree.runs if e.rel.startswith("trainers/group_1/")}


def test_fail_on_sets_the_exit_code(tree) -> None:
    assert rw("status", "--json", "--no-local", "--root", tree.root, "--fail-on", "failed").returncode == 1
    finished_only = rw("status", "--json", "--no-local", "--root", tree.root, "--status", "finished", "--fail-on", "failed,stuck")
    assert finished_only.returncode == 0, finished_only.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["status", "--root", "/nonexistent/runwatch-root"], "--root is not a directory"),
        (["status", "--status", "bogus"], "unknown status 'bogus'"),
        (["status", "no/such/run"], "no/such/run: no config, folder or run"),
        (["show", "trainers"], "names"),
        (["show", "nothing_here"], "nothing_here: no run"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(tree, args, needle) -> None:
    r = rw(*args, cwd=tree.root)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_settings_file_and_not_a_project(tmp_path) -> None:
    generate_tree(str(tmp_path), 3, n_seeds=2)
    (tmp_path / "runwatch.toml").write_text("sleep_tme = 3\n")
    r = rw("status", cwd=str(tmp_path))
    assert r.returncode == 2 and "runwatch.toml" in r.stderr and "sleep_tme" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = rw("status", "--root", str(empty))
    assert r.returncode == 2 and "not a project root" in r.stderr


def test_show_early_stopped_and_crashed_runs(tree) -> None:
    early = next(e for e in tree.runs if e.early_stopped)
    r = rw("show", early.rel, "--no-local", cwd=tree.root)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "early stopped" in out and f"at epoch {early.early_stopped_at_epoch}" in out
    assert "the rule fires after" in out  # issue 19: the old "stops training after k" was wrong beside k + 1 epochs
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")
    assert f"{early.best_value:.4f}" in out and "★" in out
    crashed = next(e for e in tree.runs if e.kind == "trainer" and e.has_error and e.completed_epochs)
    r = rw("show", f"configs/{crashed.rel}.py", "--no-local", "-n", "3", cwd=tree.root)
    assert "error: torch.OutOfMemoryError" in r.stdout
    assert r.stdout.rstrip().endswith("79.15 GiB total capacity)")  # the log tail
    r = rw("show", crashed.rel, "--json", "--no-local", cwd=tree.root)
    doc = json.loads(r.stdout)
    # The one detail schema (runwatch.view_model.run_detail), the same as the server's /api/runs/{id}.
    assert doc["status"] == "failed" and doc["detail"]["facts"]["runner_kind"] == "trainer"
    assert sum(1 for e in doc["detail"]["timeline"] if e["finished"]) == crashed.completed_epochs


def test_version_and_help() -> None:
    r = rw("--version")
    assert r.returncode == 0 and r.stdout.startswith("runwatch, version ")
    for cmd in ("status", "show", "serve", "demo"):
        r = rw(cmd, "--help")
        assert r.returncode == 0 and "Usage: runwatch " + cmd in r.stdout


def test_status_json_imports_nothing_heavy(tree) -> None:
    code = (
        "import sys\n"
        "from runwatch.cli import main\n"
        "try:\n"
        f"    main(['status', '--json', '--no-local', '--root', {tree.root!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('rich', 'starlette', 'uvicorn', 'asyncssh', 'watchfiles', 'websockets') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60, check=False)
    assert "HEAVY []" in r.stderr, r.stderr
    json.loads(r.stdout)


def documented_record_keys() -> set[str]:
    """Every key the RunRecord table of docs/cli.md names (a row may name several: `a`, `b`)."""
    import re

    text = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "cli.md"), encoding="utf-8").read()
    table = text[text.index("`RunRecord` is") :]
    table = table[: table.index("\n\n", table.index("| key |"))]
    return {k for line in table.splitlines() if line.startswith("| `") for k in re.findall(r"`([a-z_]+)`", line.split("|")[1])}


def test_json_schema_in_the_docs_lists_every_field_a_record_carries(tree) -> None:
    r = rw("status", "--json", "--no-local", "--root", tree.root)
    runs = json.loads(r.stdout)["runs"]
    real = set().union(*(x.keys() for x in runs))
    missing = real - documented_record_keys()
    assert not missing, f"docs/cli.md's RunRecord table lacks {sorted(missing)}"


def test_json_is_indented_and_jsonl_is_one_run_per_line(tree) -> None:
    r = rw("status", "--json", "--no-local", "--root", tree.root)
    assert r.stdout.startswith('{\n  "version": 1,\n')
    r2 = rw("status", "--jsonl", "--no-local", "--root", tree.root, "--sort", "status")
    lines = r2.stdout.splitlines()
    assert len(lines) == len(tree.runs)
    recs = [json.loads(ln) for ln in lines]
    assert [x["run"] for x in recs] == [
        x["run"] for x in json.loads(rw("status", "--json", "--no-local", "--root", tree.root, "--sort", "status").stdout)["runs"]
    ]
    assert rw("status", "--json", "--jsonl", "--root", tree.root).returncode == 2


def test_show_has_no_trailing_spaces_and_counts_epochs_from_one(tree) -> None:
    early = next(e for e in tree.runs if e.early_stopped)
    r = rw("show", early.rel, "--no-local", cwd=tree.root)
    lines = r.stdout.splitlines()
    assert lines and all(ln == ln.rstrip() for ln in lines)
    epoch_rows = [ln.split() for ln in lines if ln.strip()[:1].isdigit() and ("✓" in ln or "…" in ln)]
    assert epoch_rows[0][0] == "1" and epoch_rows[-1][0] == str(len(epoch_rows))
    assert f"at epoch {early.early_stopped_at_epoch}" in r.stdout


def test_a_taken_port_is_one_clear_line_before_anything_starts(tmp_path) -> None:
    import socket

    generate_tree(str(tmp_path / "p"), 3, n_seeds=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = rw("serve", str(tmp_path / "p"), "--port", str(port), timeout=30)
        assert r.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in r.stderr and "--port" in r.stderr
        assert "Traceback" not in r.stderr and "Errno" not in r.stderr
        demo_dir = tmp_path / "demo"
        r = rw("demo", str(demo_dir), "--no-browser", "--port", str(port), timeout=30)
        assert r.returncode == 2 and "already in use" in r.stderr
        assert not demo_dir.exists()  # nothing was created or started


def test_serve_and_demo_options_read_as_pairs_with_help() -> None:
    r = rw("serve", "--help")
    assert "--open / --no-open" in r.stdout and "TCP port" in r.stdout
    r = rw("demo", "--help")
    assert "--open / --no-open" in r.stdout and "--no-browser" in r.stdout and "TCP port" in r.stdout
    r = rw("status", "--help")
    assert "--jsonl" in r.stdout and "--columns" in r.stdout

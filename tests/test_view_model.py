"""The view model: one record, one main score, one summary, one detail and one status order.

Unit tests of each piece, then the agreement test: on the demo's tree and on a generated
tree, the CLI (``status --json`` and its terminal summary line, run as subprocesses), the
REST API (``/api/runs``, ``/api/summary``, ``/api/runs/{id}`` against ``show --json``) and
the WebSocket snapshot of a real server give the same numbers for the same runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request

from websockets.asyncio.client import connect

from runwatch.process_info import ProcessSnapshot
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.run_status.rules import STATUSES
from runwatch.run_status.run_status import RunStatus
from runwatch.testing.generator import generate_tree
from runwatch.view_model import (
    STATUS_ORDER,
    SUMMARY_KEYS,
    main_score,
    merge_summaries,
    natural_key,
    run_detail,
    run_id,
    run_percentage,
    run_record,
    score_sort_value,
    status_rank,
    summarize,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "220", "NO_COLOR": "1"}
# Fields that may differ between two evaluations of the same unchanged run a moment apart.
VOLATILE = {"checked_at", "cluster", "eta_seconds", "reason_detail"}


def status_of(st: str, done: int, total: int | None, pct: float, *, run: str = "a/run_1", best=None, latest=None, headline=None, warnings=None) -> RunStatus:
    p = ProgressInfo(completed_epochs=done, progress_percentage=pct, total_epochs=total, best_score=best, latest_score=latest, warnings=warnings)
    return RunStatus(f"/p/configs/{run}.py", f"/p/logs/{run}", p, st, run=run, headline=headline)  # type: ignore[arg-type]


# ---------------------------------------------------------------- units


def test_status_order_is_problems_first_and_covers_every_status():
    assert STATUS_ORDER == ("failed", "stuck", "running", "queued", "unknown", "finished", "outdated")
    assert set(STATUS_ORDER) == set(STATUSES)
    assert sorted(["finished", "running", "failed", "nonsense", "stuck"], key=status_rank) == ["failed", "stuck", "running", "finished", "nonsense"]


def test_natural_key_numbers_sort_as_numbers():
    names = ["g/run_10", "g/run_2", "g/Run_3", "g/run_1"]
    assert sorted(names, key=natural_key) == ["g/run_1", "g/run_2", "g/Run_3", "g/run_10"]


def test_record_carries_id_and_main_score_from_the_headline():
    h = {"main_metric": "acc", "main_best": 0.9, "main_latest": 0.8, "main_direction": 1}
    rec = run_record(status_of("running", 2, 5, 40.0, best={"acc": 0.9, "loss": 0.1}, latest={"acc": 0.8}, headline=h))
    assert rec["id"] == run_id("a/run_1") and len(rec["id"]) == 12
    assert rec["main_score"] == {"key": "acc", "best": 0.9, "latest": 0.8, "direction": 1}
    assert (rec["main_metric"], rec["main_best"], rec["main_latest"], rec["main_direction"]) == ("acc", 0.9, 0.8, 1)
    assert "cluster" not in rec and run_record(status_of("running", 2, 5, 40.0), "x", "c1")["cluster"] == "c1"
    assert main_score({"main_metric": None}) is None


def test_strict_record_has_no_bare_nan():
    h = {"main_metric": "loss", "main_best": float("nan"), "main_latest": 0.5, "main_direction": -1}
    rec = run_record(status_of("running", 1, 5, 20.0, best={"loss": float("nan")}, headline=h), strict=True)
    json.dumps(rec, allow_nan=False)
    assert rec["main_score"]["best"] == "NaN" and score_sort_value(rec, "best") is None


def test_score_sort_value_puts_the_better_run_first_in_either_direction():
    up = {"main_score": {"key": "acc", "best": 0.9, "latest": 0.5, "direction": 1}}
    up2 = {"main_score": {"key": "acc", "best": 0.7, "latest": 0.5, "direction": 1}}
    down = {"main_score": {"key": "loss", "best": 0.1, "latest": 0.5, "direction": -1}}
    down2 = {"main_score": {"key": "loss", "best": 0.3, "latest": 0.5, "direction": -1}}
    assert sorted([up2, up], key=lambda r: score_sort_value(r, "best")) == [up, up2]
    assert sorted([down2, down], key=lambda r: score_sort_value(r, "best")) == [down, down2]
    assert score_sort_value({"main_score": None}, "best") is None


def test_summary_sums_the_runs_own_epochs_and_counts_done_runs_fully():
    runs = [
        status_of("finished", 7, 10, 100.0, run="a/run_1"),  # early stopped: 7 of 10 epochs
        status_of("running", 3, 10, 35.0, run="a/run_2", warnings=["w"]),
        status_of("failed", 0, None, 0.0, run="a/run_3"),
        status_of("outdated", 10, 10, 100.0, run="a/run_4"),
    ]
    s = summarize(runs)
    assert tuple(s) == SUMMARY_KEYS
    assert s["total"] == 4 and s["completed_epochs"] == 20 and s["total_epochs"] == 30 and s["with_warnings"] == 1
    assert s["by_status"] == {**{k: 0 for k in STATUSES}, "finished": 1, "running": 1, "failed": 1, "outdated": 1}
    assert s["progress_percentage"] == round((100 + 35 + 0 + 100) / 4, 2)
    # The same summary from the records as from the statuses.
    assert summarize(run_record(r) for r in runs) == s
    assert summarize([]) == {
        "total": 0,
        "by_status": {k: 0 for k in STATUSES},
        "not_started": 0,
        "progress_percentage": 0.0,
        "completed_epochs": 0,
        "total_epochs": 0,
        "with_warnings": 0,
    }
    assert run_percentage("running", float("nan")) == 0.0 and run_percentage("running", 140.0) == 100.0 and run_percentage("finished", 3.0) == 100.0


def test_merged_summaries_are_the_summary_of_all_runs():
    a = [status_of("finished", 7, 10, 100.0, run="a/r1"), status_of("running", 3, 10, 33.333, run="a/r2")]
    b = [status_of("failed", 1, 5, 20.0, run="b/r1", warnings=["w"])]
    merged, whole = merge_summaries([summarize(a), summarize(b)]), summarize(a + b)
    assert abs(merged.pop("progress_percentage") - whole.pop("progress_percentage")) <= 0.01
    assert merged == whole
    assert merge_summaries([{}, summarize([])]) == summarize([])


def test_detail_schema(tree):
    from runwatch.cli_scan import Scanner
    from runwatch.project import Project

    exp = next(e for e in tree.runs if e.early_stopped)
    project = Project.at(tree.root)
    row = Scanner(project, monitor=ProcessSnapshot()).scan(configs=[project.config_path(exp.rel)]).rows[0]
    d = run_detail(row.status, row.facts, log_lines=5)
    json.dumps(d, allow_nan=False)
    assert d["id"] == run_id(exp.rel) and d["run"] == exp.rel
    det = d["detail"]
    assert set(det) == {
        "series",
        "timeline",
        "logs",
        "log_tail",
        "facts",
        "scores_table",
        "best_scores_table",
        "early_stopping",
        "output_tail",
        "data_warnings",
    }
    assert [p[0] for p in det["series"][exp.main_key]] == list(range(exp.completed_epochs))
    assert all({"index", "finished", "finish_time", "duration", "scores"} <= set(t) for t in det["timeline"])
    assert det["facts"]["runner_kind"] == "trainer" and det["facts"]["early_stopping_patience"] is not None
    assert len(det["log_tail"]["lines"]) <= 5


# ---------------------------------------------------------------- agreement of every surface


def _cli(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runwatch.cli", *args, "--no-local", "--no-ssh", "--no-slurm", "--root", root],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read().decode())


async def _ws_snapshot(url: str) -> dict:
    async with connect(url, max_size=None) as ws:
        return json.loads(await ws.recv())


_LINE = re.compile(r"^(\d+) runs?((?: · \d+ [a-z]+(?: \(\d+ not started\))?)*) · overall ([\d.]+)% · (\d+)/(\d+) epochs", re.M)


def _terminal_summary(root: str) -> dict:
    out = _cli(root, "status")
    assert out.returncode == 0, out.stderr
    m = _LINE.search(out.stdout)
    assert m, out.stdout[-2000:]
    counts = {w.split()[1]: int(w.split()[0]) for w in m.group(2).split(" · ") if w}
    return {
        "total": int(m.group(1)),
        "by_status": counts,
        "progress_percentage": float(m.group(3)),
        "completed_epochs": int(m.group(4)),
        "total_epochs": int(m.group(5)),
    }


def _agree(root: str) -> dict:
    """Every surface's numbers for the project at ``root``; asserts they agree and returns the summary."""
    from runwatch.server import BackgroundServer

    doc = json.loads(_cli(root, "status", "--json").stdout)
    cli_runs = {r["id"]: r for r in doc["runs"]}
    cli_sum = doc["summary"]
    term = _terminal_summary(root)
    with BackgroundServer(root, sweep_interval=3600, monitor=ProcessSnapshot()) as srv:
        api = _get(srv.base + "api/runs?limit=10000")
        api_sum = _get(srv.base + "api/summary")
        snap = asyncio.run(_ws_snapshot(srv.ws_url))
        with urllib.request.urlopen(srv.base + "metrics", timeout=30) as r:
            metrics = r.read().decode()
        some = sorted(cli_runs)[:3]
        details = {i: _get(srv.base + f"api/runs/{i}") for i in some}
    api_runs = {r["id"]: r for r in api["runs"]}
    ws_runs = {r["id"]: r for r in snap["runs"]}
    assert set(cli_runs) == set(api_runs) == set(ws_runs) and len(cli_runs) == cli_sum["total"] > 0

    def stable(r: dict) -> dict:
        return {k: v for k, v in r.items() if k not in VOLATILE}

    for i, c in cli_runs.items():
        assert stable(c) == stable(api_runs[i]) == stable(ws_runs[i]), c["run"]
    # One summary: the CLI's, the API's, the WebSocket's (index fields on top) and the terminal's line.
    assert {k: api_sum[k] for k in SUMMARY_KEYS} == cli_sum == {k: snap["summary"][k] for k in SUMMARY_KEYS}
    assert cli_sum["completed_epochs"] == sum(r["completed_epochs"] for r in cli_runs.values())
    assert cli_sum["total_epochs"] == sum(r["total_epochs"] or 0 for r in cli_runs.values())
    assert term == {
        "total": cli_sum["total"],
        "by_status": {k: n for k, n in cli_sum["by_status"].items() if n},
        "progress_percentage": round(cli_sum["progress_percentage"], 1),
        "completed_epochs": cli_sum["completed_epochs"],
        "total_epochs": cli_sum["total_epochs"],
    }
    assert snap["status_order"] == list(STATUS_ORDER)
    # /metrics shows the same totals; --jsonl the same records as --json.
    c = api_sum["cluster"]
    assert f'runwatch_epochs_done{{cluster="{c}"}} {cli_sum["completed_epochs"]}' in metrics.splitlines()
    for st, n in cli_sum["by_status"].items():
        assert f'runwatch_runs{{cluster="{c}",status="{st}"}} {n}' in metrics.splitlines()
    jsonl = [json.loads(line) for line in _cli(root, "status", "--jsonl").stdout.splitlines()]
    assert {r["id"]: stable(r) for r in jsonl} == {i: stable(r) for i, r in cli_runs.items()}
    # One detail: `show --json` has the schema of /api/runs/{id}, with the same values.
    for i, d in details.items():
        shown = json.loads(_cli(root, "show", cli_runs[i]["run"], "--json", "-n", "80").stdout)
        assert set(shown) | {"seq", "cluster"} == set(d) | {"cluster"} and set(shown["detail"]) == set(d["detail"])
        assert {k: v for k, v in shown["detail"].items() if k != "logs"} == {k: v for k, v in d["detail"].items() if k != "logs"}
    return cli_sum


def test_every_surface_agrees_on_a_generated_tree(tmp_path):
    tree = generate_tree(str(tmp_path / "proj"), n_runs=30, seed=5)
    s = _agree(tree.root)
    assert s["total"] == len(tree.runs)


def test_every_surface_agrees_on_the_demo_tree(tmp_path):
    from runwatch.demo.project import create_demo_project

    root = str(tmp_path / "demo")
    create_demo_project(root, n_runs=36, n_live=6)
    s = _agree(root)
    assert s["total"] >= 36

"""Searching runs by metric name and ``key=value``, and hyperparameters as columns: one rule
(runwatch.compare.query) behind ``runwatch status -q/--hp``, ``/api/runs?q=`` and the page's search
(``/api/compare/search``), over runs written by real (imitation) Pylon trainers and an evaluator;
the table in real tmux panes of 80 and 120 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse

import pytest

from compare_project import build
from runwatch.compare.query import QueryError, columns_of, parse_columns, parse_query
from runwatch.process_info import ProcessSnapshot
from tests.test_cli_terminal import RW, fitting_lines, pane  # noqa: F401  (the tmux pane fixture)
from tests.test_compare import get

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONPATH=ROOT)
LR01 = {f"exp/lr0.1_run_{k}" for k in range(3)}
LR001 = {f"exp/lr0.01_run_{k}" for k in range(3)}
BAD = {"bad/nan", "bad/short", "bad/nodata"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmp_search") / "proj")
    build(root)
    return root


def status(project: str, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = dict(ENV, COLUMNS=str(columns))
    return subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "status", "--no-local", *args], capture_output=True, text=True, cwd=project, env=env, timeout=120, check=False
    )


def found(project: str, query: str) -> set[str]:
    r = status(project, "-q", query, "--json")
    assert r.returncode == 0, r.stderr
    return {x["run"] for x in json.loads(r.stdout)["runs"]}


# What each query finds among the project's runs (the configs of compare_project: lr 0.1 / 0.01 x 3,
# three bad runs at lr 0.05, an evaluator without an optimizer; every trainer writes class_IoU).
EXPECTED = {
    "lr=0.1": LR01,
    "optimizer.args.lr=0.01": LR001,
    "args.lr=1e-2": LR001,  # numbers as numbers, the key's last parts
    "lr>0.04": LR01 | BAD,
    "lr<=0.05": LR001 | BAD,
    "lr!=0.05": LR01 | LR001,
    "optimizer.class=sgd": LR01 | LR001 | BAD,  # text case-insensitively
    "class_IoU[1]": LR01 | LR001 | BAD - {"bad/nodata"} | {"exp/eval"},  # a metric's name (bad/nodata writes no class_IoU)
    "class_iou lr=0.1": LR01,  # every word must match
    "run_2": {"exp/lr0.1_run_2", "exp/lr0.01_run_2"},  # the name, as before
    "momentum=0.9 bad": BAD,
    "nosuchkey=1": set(),
}


def test_query_rules():
    q = parse_query("lr = 0.1  Mean_IoU")
    assert q is not None and [t.text for t in q.terms] == ["lr=0.1", "mean_iou"] and q.needs_params
    assert parse_query("  ") is None and not parse_query("mean_IoU").needs_params
    assert q.matches({"run": "a", "latest_score": {"mean_IoU": 0.5}}, {"optimizer.args.lr": 0.1})
    assert not q.matches({"run": "a", "latest_score": {"mean_IoU": 0.5}}, {"optimizer.args.lr": 0.2})
    # a word is also plain text of the name: a run named after its parameters is found by them
    assert parse_query("lr=0.1").matches({"run": "sweep/lr=0.1_bs=32"}, {})
    # a score written as the strict record's "NaN" still names its metric; booleans and None as words
    assert parse_query("class_IoU[1]").matches({"run": "a", "latest_score": {"class_IoU": ["NaN", "NaN"]}})
    assert parse_query("amp=true").matches({"run": "a"}, {"amp": True})
    assert parse_query("resume=none").matches({"run": "a"}, {"resume": None})
    for bad in ("lr>", "lr>abc", "x" * 401, " ".join(["a"] * 21)):
        with pytest.raises(QueryError):
            parse_query(bad)
    # a column: the key itself, else the shortest key ending in .key
    params = {"optimizer.args.lr": 0.1, "scheduler.args.lr": 0.5, "lr": 0.3, "model.args.depth": 50}
    assert columns_of(params, ["lr", "depth", "args.lr", "nope"]) == {"lr": 0.3, "depth": 50, "args.lr": 0.1, "nope": None}
    assert parse_columns(("a.b,c", "d")) == ["a.b", "c", "d"]
    with pytest.raises(QueryError):
        parse_columns("a;rm -rf")


def test_cli_finds_runs_by_metric_and_key_value(project):
    for query, want in EXPECTED.items():
        assert found(project, query) == want, query
    r = status(project, "-q", "lr>abc")
    assert r.returncode == 2 and "lr>abc" in r.stderr and "compares numbers" in r.stderr


def test_rest_and_page_search_give_the_cli_answer(project):
    from runwatch.server import BackgroundServer

    with BackgroundServer(project, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv:
        _, listing = get(srv.base + "api/runs?limit=100")
        names = {x["id"]: x["run"] for x in listing["runs"]}
        for query, want in EXPECTED.items():
            q = urllib.parse.quote(query)
            code, doc = get(srv.base + f"api/runs?q={q}&limit=100")
            assert code == 200 and {x["run"] for x in doc["runs"]} == want and doc["total"] == len(want), query
            code, doc = get(srv.base + f"api/compare/search?q={q}")
            assert code == 200 and {names[i] for i in doc["ids"]} == want, query
        code, doc = get(srv.base + "api/runs?q=" + urllib.parse.quote("lr>abc"))
        assert code == 400 and "compares numbers" in doc["error"]
        assert get(srv.base + "api/compare/search?q=" + "x" * 500)[0] == 400


def test_hyperparameter_columns_in_json_and_table(project):
    r = status(project, "exp", "--hp", "optimizer.args.lr,momentum", "--hp", "epochs", "--json")
    assert r.returncode == 0, r.stderr
    runs = {x["run"]: x for x in json.loads(r.stdout)["runs"]}
    assert runs["exp/lr0.1_run_1"]["params"] == {"optimizer.args.lr": 0.1, "momentum": 0.9, "epochs": 6}
    assert runs["exp/eval"]["params"] == {"optimizer.args.lr": None, "momentum": None, "epochs": None}
    r = status(project, "exp", "--hp", "lr", "--jsonl")
    assert {json.loads(line)["run"]: json.loads(line)["params"]["lr"] for line in r.stdout.splitlines()}["exp/lr0.01_run_0"] == 0.01
    r = status(project, "-q", "lr=0.01", "--hp", "lr,momentum", "--columns", "run,status")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["run", "status", "lr", "momentum"]
    assert [ln.split()[-2:] for ln in lines[1:4]] == [["0.01", "0.9"]] * 3
    r = status(project, "--hp", "a;b")
    assert r.returncode == 2 and "not a hyperparameter key" in r.stderr


@pytest.mark.parametrize("width", [80, 120])
def test_search_and_columns_in_a_terminal(pane, project, width):
    start, capture, _ = pane
    name = start(f"{RW} status --no-local -q 'lr>0.04' --hp optimizer.args.lr,momentum,optimizer.class", width, 40, project)
    screen = capture(name)
    lines = fitting_lines(screen, width)
    head = next(line for line in lines if line.startswith("run ")).split()
    # the heads shortened to the keys' last parts where the full keys do not fit; the scores kept
    assert head[-3:] in (["lr", "momentum", "class"], ["optimizer.args.lr", "momentum", "optimizer.class"]) or "momentum" in head
    assert "best" in head
    rows = [line for line in lines if line.startswith(("exp/", "bad/"))]
    assert {r.split()[0] for r in rows} == LR01 | BAD
    for r in rows:
        words = " ".join(r.split())
        assert ("0.1 0.9 SGD" in words) == r.startswith("exp/") and ("0.05 0.9 SGD" in words) == r.startswith("bad/"), r
    assert "6 runs" in screen


def test_the_running_agent_gives_the_same_search_and_columns(project, tmp_path, monkeypatch):
    """``status -q/--hp`` answered by a running agent (runwatch serve) is what a scan prints."""
    from runwatch import cli_agent
    from runwatch.live.agent_socket import AGENTS
    from runwatch.server import BackgroundServer

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.makedirs(tmp_path / "run", mode=0o700)
    env = dict(ENV, XDG_RUNTIME_DIR=str(tmp_path / "run"))

    def run(*args: str, agent: bool) -> str:
        e = dict(env) if agent else dict(env, RUNWATCH_NO_AGENT="1")
        r = subprocess.run(
            [sys.executable, "-m", "runwatch.cli", "status", *args], capture_output=True, text=True, cwd=project, env=e, timeout=120, check=False
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    with BackgroundServer(project, agent_answer=cli_agent.answer) as server:
        import time

        deadline = time.time() + 60
        while (server.index.scanning or server.index.seq == 0) and time.time() < deadline:
            time.sleep(0.05)
        (agent,) = AGENTS.values()
        args = ("-q", "lr>0.04 class_iou", "--hp", "lr,momentum", "--json")
        strip = lambda text: {r["run"]: (r["params"], r["status"]) for r in json.loads(text)["runs"]}
        via_agent, scanned = strip(run(*args, agent=True)), strip(run(*args, agent=False))
        assert via_agent == scanned and set(via_agent) == LR01 | {"bad/nan", "bad/short"}
        assert via_agent["bad/nan"][0] == {"lr": 0.05, "momentum": 0.9}
        assert agent.served >= 1

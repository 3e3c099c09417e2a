"""Problems of a run's per-datapoint data on the run itself (runwatch.compare.notes): once the datapoint
cache has read a scores file, its problems are in the run's warnings (``runwatch show``, ``/api/runs/{id}``),
naming the file; a status scan never reads those files for it. Runs written by the imitation Pylon trainer."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cli_helpers import rw
from compare_project import add_run, build, trainer
from runwatch.process_info import ProcessSnapshot
from tests.test_compare import get


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmp_warn") / "proj")
    build(root)
    # A trainer whose third epoch was validated on fewer datapoints (a filtered loader).
    rel = "bad/shrunk"
    body = trainer(rel, "0.05", seed=11, scores=[0.5, 0.6, 0.65], datapoints_at={2: 280})
    add_run(root, rel, body)
    return root


def cli(project: str, *args: str) -> subprocess.CompletedProcess[str]:
    return rw(*args, "--no-local", cwd=project, timeout=120)


def show_json(project: str, run: str) -> dict:
    r = cli(project, "show", run, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def scores(project: str, run: str, epoch: int) -> str:
    return os.path.join(project, "logs", run, f"epoch_{epoch}", "validation_scores.json")


def test_nothing_is_read_for_a_status_scan(project):
    """Before any comparison, a run's detail names no data problem: neither `show` nor `status` reads a
    per-datapoint file for it (nothing enters the datapoint cache)."""
    for run in ("bad/nan", "bad/short", "bad/nodata", "bad/shrunk"):
        d = show_json(project, run)
        assert d["detail"]["data_warnings"] == [] and not any("per_datapoint" in w or "per-datapoint" in w for w in d["warnings"] or [])
    r = cli(project, "status", "--json")
    assert r.returncode == 0 and "per-datapoint" not in r.stdout and "per_datapoint" not in r.stdout
    cache = os.path.join(project, ".runwatch-cache", "datapoints")
    assert not os.path.isdir(cache) or os.listdir(cache) == []


def test_problems_found_by_a_comparison_are_the_runs_warnings(project):
    # Another process (runwatch compare) reads the files; `show` then finds what it found in the cache.
    for run, epoch in (("bad/nan", 1), ("bad/short", 1), ("bad/nodata", 1)):
        r = cli(project, "compare", run, "--what", "map", "--epoch", str(epoch))
        assert r.returncode == 0, r.stderr
    for epoch in range(3):
        assert cli(project, "compare", "bad/shrunk", "--what", "map", "--epoch", str(epoch)).returncode == 0
    want = {
        "bad/nan": f"{scores(project, 'bad/nan', 1)}: NaN or missing per-datapoint scores",
        "bad/short": f"{scores(project, 'bad/short', 1)}: per_datapoint 'loss' has 150 datapoints, the other metrics 300",
        "bad/nodata": f"{scores(project, 'bad/nodata', 1)}: no per_datapoint scores in the file",
        "bad/shrunk": f"per-datapoint counts differ between epochs: 300 datapoints in most, but {scores(project, 'bad/shrunk', 2)}: 280",
    }
    for run, text in want.items():
        d = show_json(project, run)
        assert any(w.startswith(text) for w in d["detail"]["data_warnings"]), (run, d["detail"]["data_warnings"])
        assert any(w.startswith(text) for w in d["warnings"]), run
        r = cli(project, "show", run)
        assert "⚠ " + text in " ".join(r.stdout.split()), r.stdout
    # Good runs say nothing.
    assert cli(project, "compare", "exp/lr0.1_run_0", "--what", "map").returncode == 0
    assert show_json(project, "exp/lr0.1_run_0")["detail"]["data_warnings"] == []


def test_a_changed_file_says_nothing_until_read_again(project):
    path = scores(project, "bad/nan", 1)
    assert show_json(project, "bad/nan")["detail"]["data_warnings"]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # as if rewritten: a new fingerprint
    assert show_json(project, "bad/nan")["detail"]["data_warnings"] == []


def test_the_server_detail_after_the_page_read_the_map(project):
    from runwatch.server import BackgroundServer

    with BackgroundServer(project, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv:
        _, listing = get(srv.base + "api/runs?limit=100")
        one = next(x for x in listing["runs"] if x["run"] == "bad/short")
        assert get(srv.base + f"api/compare/scoremap?run={one['id']}&metric=acc&epoch=0")[0] == 200
        code, detail = get(srv.base + f"api/runs/{one['id']}")
        assert code == 200
        text = f"{scores(project, 'bad/short', 0)}: per_datapoint 'loss' has 150 datapoints"
        assert any(w.startswith(text) for w in detail["warnings"]) and any(w.startswith(text) for w in detail["detail"]["data_warnings"])

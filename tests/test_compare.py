"""Comparing runs written by real (imitation) Pylon trainers and an evaluator: the documents of
runwatch.compare against a direct computation from the files, the cache, bad data, the CLI's
JSON and the REST API giving the same documents."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time

import numpy as np
import pytest

from cli_helpers import get_json as get, rw
from compare_project import DATAPOINTS, EPOCHS, build
from runwatch.compare.cache import DatapointCache, cache_for
from runwatch.compare.datapoints import grid_side, read_table
from runwatch.compare.runs import repetition_group
from runwatch.compare.views import curves_doc, datapoint_doc, failure_map_doc, hardest_doc, hparams_doc, metrics_doc, score_map_doc
from runwatch.process_info import ProcessSnapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONPATH=ROOT)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmp") / "proj")
    build(root)
    return root


def scanned(root: str, names: list[str] | None = None):
    from runwatch.cli_compare import scan_runs
    from runwatch.layout import Project
    from runwatch.settings import load_settings

    proj = Project(root, load_settings(root))
    runs = scan_runs(proj, names or ["exp"], ProcessSnapshot(processes=[]))
    return proj, runs


def scores_file(root: str, rel: str, epoch: int | None) -> dict:
    name = "evaluation_scores.json" if epoch is None else os.path.join(f"epoch_{epoch}", "validation_scores.json")
    with open(os.path.join(root, "logs", rel, name)) as f:
        return json.load(f)  # the standard library: NaN read as NaN


def column(doc: dict, metric: str) -> list[float]:
    """A metric's per-datapoint scores straight from the file (``name[i]``: position i of each datapoint's list)."""
    if metric.endswith("]"):
        base, i = metric[:-1].split("[")
        return [row[int(i)] for row in doc["per_datapoint"][base]]
    return list(doc["per_datapoint"][metric])


# ---------------------------------------------------------------- the grid and the score map


def test_grid_is_the_smallest_square():
    for n, side in [(0, 0), (1, 1), (2, 2), (4, 2), (5, 3), (9, 3), (10, 4), (300, 18), (50_000, 224), (49_284, 222)]:
        assert grid_side(n) == side == (math.ceil(math.sqrt(n)) if n else 0)
        assert side * side >= n and (side - 1) ** 2 < n or n == 0


@pytest.mark.parametrize("metric", ["acc", "loss", "class_IoU[1]"])
def test_score_map_is_the_files_scores(project, metric):
    proj, runs = scanned(project)
    run = next(r for r in runs if r.name == "exp/lr0.1_run_1")
    doc = score_map_doc(DatapointCache(None, 1 << 26, 0), run, metric, 3)
    want = column(scores_file(project, "exp/lr0.1_run_1", 3), metric)
    assert doc["epoch"] == 3 and doc["n"] == DATAPOINTS == len(want) and doc["side"] == 18
    assert doc["values"] == want
    assert doc["min"] == min(want) and doc["max"] == max(want)
    assert doc["direction"] == {"acc": 1, "loss": -1, "class_IoU[1]": 1}[metric]  # the metric class's, a sub-metric its list's (by name)
    assert doc["epochs"] == list(range(EPOCHS)) and doc["metrics"] == ["acc", "loss", "class_IoU[0]", "class_IoU[1]"]
    assert doc["warnings"] == []
    latest = score_map_doc(DatapointCache(None, 1 << 26, 0), run, metric)
    assert latest["epoch"] == EPOCHS - 1 and latest["values"] == column(scores_file(project, "exp/lr0.1_run_1", EPOCHS - 1), metric)


def test_evaluator_is_one_map(project):
    _, runs = scanned(project)
    ev = next(r for r in runs if r.name == "exp/eval")
    doc = score_map_doc(DatapointCache(None, 1 << 26, 0), ev, "acc")
    assert doc["epochs"] == [0] and doc["values"] == column(scores_file(project, "exp/eval", None), "acc")


# ---------------------------------------------------------------- common failures and the hardest datapoints


def direct_failures(matrix: list[list[float]], percentile: float, direction: int) -> tuple[list[float], float]:
    """The rule, computed plainly: pool every finite score, take the percentile (numpy's linear), a score
    worse than it (by the direction) or missing fails; per datapoint the share of runs where it did not."""
    pooled = [v for row in matrix for v in row if not math.isnan(v)]
    threshold = float(np.percentile(pooled, percentile if direction == 1 else 100 - percentile))
    shares = []
    for j in range(len(matrix[0])):
        ok = 0
        for row in matrix:
            v = row[j]
            if not math.isnan(v) and (v >= threshold if direction == 1 else v <= threshold):
                ok += 1
        shares.append(ok / len(matrix))
    return shares, threshold


@pytest.mark.parametrize(("metric", "direction", "percentile"), [("acc", 1, 25.0), ("loss", -1, 25.0), ("acc", 1, 60.0), ("class_IoU[0]", 1, 10.0)])
def test_failure_map_against_a_direct_computation(project, metric, direction, percentile):
    _, runs = scanned(project)
    doc = failure_map_doc(DatapointCache(None, 1 << 26, 0), runs, metric, percentile)
    rels = [r.name for r in runs]
    matrix = [column(scores_file(project, rel, None if rel == "exp/eval" else EPOCHS - 1), metric) for rel in rels]
    shares, threshold = direct_failures(matrix, percentile, direction)
    assert doc["direction"] == direction and doc["n"] == DATAPOINTS and doc["side"] == 18
    assert [r["name"] for r in doc["runs"]] == rels and all(r["epoch"] == (0 if r["name"] == "exp/eval" else EPOCHS - 1) for r in doc["runs"])
    assert doc["threshold"] == pytest.approx(threshold)
    assert doc["values"] == pytest.approx(shares)
    # The same datapoints fail for a lower-is-better metric read the right way round: acc and loss = 1 - acc agree.
    if metric == "loss":
        acc = failure_map_doc(DatapointCache(None, 1 << 26, 0), runs, "acc", percentile)
        assert np.mean(np.isclose(acc["values"], doc["values"])) > 0.97  # equal up to ties at the threshold


def test_failure_map_at_a_given_epoch(project):
    _, runs = scanned(project)
    trainers = [r for r in runs if r.name != "exp/eval"]
    doc = failure_map_doc(DatapointCache(None, 1 << 26, 0), trainers, "acc", 25.0, epoch=1)
    shares, _ = direct_failures([column(scores_file(project, r.name, 1), "acc") for r in trainers], 25.0, 1)
    assert doc["values"] == pytest.approx(shares) and {r["epoch"] for r in doc["runs"]} == {1}


def test_hardest_datapoints_against_a_direct_computation(project):
    _, runs = scanned(project)
    doc = hardest_doc(DatapointCache(None, 1 << 26, 0), runs, "loss", count=12)
    matrix = np.array([column(scores_file(project, r.name, None if r.name == "exp/eval" else EPOCHS - 1), "loss") for r in runs])
    mean = matrix.mean(axis=0)
    worst = sorted(range(DATAPOINTS), key=lambda j: (-mean[j], j))[:12]  # lower is better: the highest mean loss first
    assert [it["index"] for it in doc["items"]] == worst
    fails, _ = direct_failures(matrix.tolist(), 25.0, -1)
    for it in doc["items"]:
        j = it["index"]
        assert it["mean"] == pytest.approx(mean[j]) and it["min"] == matrix[:, j].min() and it["max"] == matrix[:, j].max()
        assert it["failed_in"] == round((1 - fails[j]) * len(runs))


def test_a_datapoint_across_runs_and_epochs(project):
    _, runs = scanned(project)
    doc = datapoint_doc(DatapointCache(None, 1 << 26, 0), runs, 17, "class_IoU[1]")
    for r in doc["runs"]:
        epochs = [None] if r["name"] == "exp/eval" else list(range(EPOCHS))
        assert [e["epoch"] for e in r["epochs"]] == [0 if e is None else e for e in epochs]
        for e, got in zip(epochs, r["epochs"]):
            assert got["scores"] == {"class_IoU[1]": column(scores_file(project, r["name"], e), "class_IoU[1]")[17]}
    every = datapoint_doc(DatapointCache(None, 1 << 26, 0), runs[:1], 3)
    assert set(every["runs"][0]["epochs"][0]["scores"]) == {"acc", "loss", "class_IoU[0]", "class_IoU[1]"}


# ---------------------------------------------------------------- curves and hyperparameters


def test_curves_per_epoch_with_best_points_and_repetition_groups(project):
    _, runs = scanned(project)
    doc = curves_doc(runs, "acc")
    assert doc["direction"] == 1 and doc["x"] == "epoch" and doc["log_scale"] is False
    by_name = {r["name"]: r for r in doc["runs"]}
    for rel in ("exp/lr0.1_run_0", "exp/lr0.01_run_2"):
        want = [[float(e), scores_file(project, rel, e)["aggregated"]["acc"]] for e in range(EPOCHS)]
        assert by_name[rel]["points"] == want
        assert by_name[rel]["best"] == max(want, key=lambda p: (p[1], -p[0]))
    assert by_name["exp/eval"]["points"] == [[0.0, 0.7]]
    groups = {g["name"]: g for g in doc["groups"]}
    assert set(groups) == {"exp/lr0.1", "exp/lr0.01"}
    g = groups["exp/lr0.1"]
    assert len(g["runs"]) == 3
    for x, mean, lo, hi, n in g["points"]:
        vals = [scores_file(project, f"exp/lr0.1_run_{k}", int(x))["aggregated"]["acc"] for k in range(3)]
        assert (mean, lo, hi, n) == (pytest.approx(sum(vals) / 3), min(vals), max(vals), 3)
    loss = curves_doc(runs, "loss")
    assert loss["direction"] == -1
    assert {r["name"]: r["best"] for r in loss["runs"]}["exp/lr0.1_run_0"][0] == EPOCHS - 1  # lower is better: the last (smallest) loss
    sub = curves_doc(runs, "class_IoU[0]")
    assert {r["name"]: r["points"] for r in sub["runs"]}["exp/lr0.1_run_0"] == [
        [float(e), scores_file(project, "exp/lr0.1_run_0", e)["aggregated"]["class_IoU"][0]] for e in range(EPOCHS)
    ]


def test_repetition_names():
    assert repetition_group("exp/lr0.1_run_2") == "exp/lr0.1"
    assert repetition_group("a_run_10") == "a" and repetition_group("run_1") is None and repetition_group("exp/run") is None


def test_log_scale_suggested_for_values_over_decades():
    from runwatch.compare.runs import CompareRun

    runs = [CompareRun("a", "a", "a", "/x", "finished", "trainer", {"loss": -1}, epochs=[(e, {"loss": 10.0**-e}) for e in range(5)])]
    assert curves_doc(runs, "loss")["log_scale"] is True
    runs[0].epochs = [(e, {"loss": 1.0 - 0.1 * e}) for e in range(5)]
    assert curves_doc(runs, "loss")["log_scale"] is False


def test_hyperparameters_that_differ_with_best_and_latest(project):
    _, runs = scanned(project)
    trainers = [r for r in runs if r.name != "exp/eval"]
    doc = hparams_doc(trainers, "acc")
    assert set(doc["keys"]) == {"optimizer.args.lr", "sim.seed", "sim.scores"}
    assert doc["constant"]["optimizer.args.momentum"] == 0.9 and doc["constant"]["metric.class"] == "metrics.sim_metric.SimMetric"
    assert doc["constant"]["runner"] == "runners.trainers.SupervisedSingleTaskTrainer" and "work_dir" not in doc["constant"]
    rows = {r["name"]: r for r in doc["rows"]}
    r = rows["exp/lr0.01_run_1"]
    accs = [scores_file(project, "exp/lr0.01_run_1", e)["aggregated"]["acc"] for e in range(EPOCHS)]
    assert r["params"]["optimizer.args.lr"] == 0.01 and r["best"] == max(accs) and r["latest"] == accs[-1] and r["best_epoch"] == accs.index(max(accs))
    by_best = hparams_doc(trainers, "acc", "best")["rows"]
    assert [x["best"] for x in by_best] == sorted((x["best"] for x in by_best), reverse=True)  # better first
    by_loss = hparams_doc(trainers, "loss", "best")["rows"]
    assert [x["best"] for x in by_loss] == sorted(x["best"] for x in by_loss)  # lower is better: smallest first
    by_lr = hparams_doc(trainers, "acc", "-optimizer.args.lr")["rows"]
    assert [x["params"]["optimizer.args.lr"] for x in by_lr] == [0.1] * 3 + [0.01] * 3
    mixed = hparams_doc(runs, "acc")  # the evaluator has no optimizer: its absence differs too
    assert "optimizer.args.lr" in mixed["keys"] and "optimizer.args.lr" not in {k for r in mixed["rows"] if r["name"] == "exp/eval" for k in r["params"]}


def test_metrics_list_sub_metrics_with_directions(project):
    _, runs = scanned(project)
    doc = metrics_doc(runs)
    names = {m["name"]: m for m in doc["epoch_metrics"]}
    assert {"acc", "loss", "class_IoU[0]", "class_IoU[1]"} <= set(names)
    assert names["acc"]["direction"] == 1 and names["loss"]["direction"] == -1 and names["acc"]["runs"] == len(runs)
    assert doc["default"] == "acc" and doc["step_metrics"] == []  # Pylon writes per epoch only


# ---------------------------------------------------------------- bad data


def test_bad_data_is_a_warning_naming_the_file(project):
    _, runs = scanned(project, ["bad", "exp"])
    cache = DatapointCache(None, 1 << 26, 0)
    by = {r.name: r for r in runs}
    nan_file = os.path.join(project, "logs", "bad", "nan", "epoch_1", "validation_scores.json")
    nan_map = score_map_doc(cache, by["bad/nan"], "acc")
    assert nan_map["values"][3] is None and nan_map["n"] == DATAPOINTS
    assert any(w.startswith(nan_file) and "NaN" in w for w in nan_map["warnings"])
    short_file = os.path.join(project, "logs", "bad", "short", "epoch_1", "validation_scores.json")
    short_map = score_map_doc(cache, by["bad/short"], "loss")
    assert short_map["n"] == DATAPOINTS // 2
    assert any(w.startswith(short_file) and f"{DATAPOINTS // 2} datapoints, the other metrics {DATAPOINTS}" in w for w in short_map["warnings"])
    none_file = os.path.join(project, "logs", "bad", "nodata", "epoch_1", "validation_scores.json")
    none_map = score_map_doc(cache, by["bad/nodata"], "acc")
    assert none_map["n"] == 0 and none_map["values"] == [] and any(w.startswith(none_file) and "no per_datapoint" in w for w in none_map["warnings"])
    # Over every run: the short column and the run without per_datapoint are left out, named; the others still compared.
    fm = failure_map_doc(cache, list(runs), "loss")
    assert fm["n"] == DATAPOINTS and "bad/short" not in {r["name"] for r in fm["runs"]} and "bad/nan" in {r["name"] for r in fm["runs"]}
    assert any(w.startswith(short_file) and "left out" in w for w in fm["warnings"])
    assert any(w.startswith(none_file) for w in fm["warnings"])
    nan_row = next(r for r in fm["runs"] if r["name"] == "bad/nan")
    assert nan_row["failed"] >= 1  # its NaN datapoint fails


def test_unreadable_and_half_written_files(tmp_path):
    p = tmp_path / "validation_scores.json"
    p.write_text('{"aggregated": {"acc": 0.5}, "per_datapoint": {"acc": [0.4, 0.')
    t = read_table(str(p))
    assert t.columns == {} and t.warnings[0].startswith(str(p)) and "not valid JSON" in t.warnings[0]
    os.mkfifo(tmp_path / "fifo.json")
    t = read_table(str(tmp_path / "fifo.json"))
    assert t.columns == {} and "FIFO" in t.warnings[0]
    p.write_text(json.dumps({"per_datapoint": {"acc": [0.1, None, "x", 0.4], "iou": [[1, 2], [3], None, [4, 5]], "deep": {"l1": [1, 2, 3, 4]}}}))
    t = read_table(str(p))
    assert t.columns["acc"].tolist()[0] == 0.1 and math.isnan(t.columns["acc"][1]) and math.isnan(t.columns["acc"][2])
    assert t.columns["iou[0]"].tolist()[0] == 1 and math.isnan(t.columns["iou[1]"][1]) and t.columns["deep.l1"].tolist() == [1, 2, 3, 4]
    assert any("not numbers" in w for w in t.warnings) and any("not 2 long" in w for w in t.warnings)


# ---------------------------------------------------------------- the cache


def test_cache_reads_once_then_memory_then_disk_and_sees_a_changed_file(project, tmp_path):
    _, runs = scanned(project)
    run = next(r for r in runs if r.name == "exp/lr0.1_run_0")
    disk = str(tmp_path / "cache")
    c = DatapointCache(disk, 1 << 26, 1 << 26)
    first = score_map_doc(c, run, "acc", 2)
    assert c.stats == {"memory": 0, "disk": 0, "read": 1}
    assert score_map_doc(c, run, "acc", 2) == first and c.stats["memory"] == 1
    fresh = DatapointCache(disk, 1 << 26, 1 << 26)  # a new process: from the disk cache, no parse
    assert score_map_doc(fresh, run, "acc", 2) == first and fresh.stats == {"memory": 0, "disk": 1, "read": 0}
    assert not any(n.endswith(".rwdp") for n in os.listdir(os.path.join(project, "logs", "exp", "lr0.1_run_0", "epoch_2")))  # never in the run's folder
    # The run rewrites the epoch (a resumed run): the fingerprint changes, the new scores are read.
    path = os.path.join(project, "logs", "exp", "lr0.1_run_0", "epoch_2", "validation_scores.json")
    with open(path) as f:
        doc = json.load(f)
    original = json.dumps(doc)
    try:
        doc["per_datapoint"]["acc"][0] = 0.123
        time.sleep(0.01)
        with open(path, "w") as f:
            json.dump(doc, f)
        again = score_map_doc(fresh, run, "acc", 2)
        assert again["values"][0] == 0.123 and fresh.stats["read"] == 1
    finally:
        with open(path, "w") as f:
            f.write(original)


def test_cache_bounds_memory_and_disk(project, tmp_path):
    _, runs = scanned(project)
    trainers = [r for r in runs if r.name != "exp/eval"]
    one = read_table(trainers[0].scores_files()[0][1]).nbytes
    disk = str(tmp_path / "cache")
    c = DatapointCache(disk, 3 * one + one // 2, 4 * (one + 4096))
    for r in trainers:
        for _, path in r.scores_files():
            c.get(path)
    assert len(c) == 3 and c.used_bytes <= c.memory_bytes
    files = sum(len(r.scores_files()) for r in trainers)
    assert c.disk_used() <= c.disk_bytes and len(os.listdir(disk)) < files  # the oldest entries removed


def test_cache_dir_from_the_settings(project):
    from runwatch.layout import Project
    from runwatch.settings import load_settings

    proj = Project(project, load_settings(project, compare_cache_mb=5, compare_disk_cache_mb=0))
    c = cache_for(proj)
    assert c.memory_bytes == 5 * 1024 * 1024 and c.disk_bytes == 0 and c.disk_dir == os.path.join(project, ".runwatch-cache", "datapoints")


# ---------------------------------------------------------------- one answer: CLI JSON and REST


def cli(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return rw(*args, cwd=cwd, env=ENV, timeout=120)


def test_cli_json_and_rest_give_the_same_documents(project):
    from runwatch.server import BackgroundServer

    r = cli("compare", "exp", "--no-local", "--json", "--metric", "loss", "--datapoint", "5", "--percentile", "30", cwd=project)
    assert r.returncode == 0, r.stderr
    docs = json.loads(r.stdout)
    assert set(docs) == {"metrics", "curves", "hparams", "failures", "hardest", "datapoint"}
    with BackgroundServer(project, sweep_interval=3600, monitor=ProcessSnapshot(processes=[])) as srv:
        _, listing = get(srv.base + "api/runs?limit=100")
        ids = ",".join(x["id"] for x in listing["runs"] if x["run"].startswith("exp/"))
        for name, path in [
            ("curves", "curves?metric=loss"),
            ("hparams", "hparams?metric=loss"),
            ("failures", "failures?metric=loss&percentile=30"),
            ("hardest", "hardest?metric=loss&percentile=30&count=10"),
            ("datapoint", "datapoint?metric=loss&index=5"),
            ("metrics", "metrics?"),
        ]:
            code, doc = get(srv.base + f"api/compare/{path}&runs={ids}")
            assert code == 200, doc
            assert doc == docs[name], name
        one = next(x for x in listing["runs"] if x["run"] == "exp/lr0.1_run_2")
        code, m = get(srv.base + f"api/compare/scoremap?run={one['id']}&metric=class_IoU%5B1%5D&epoch=4")
        assert code == 200 and m["values"] == column(scores_file(project, "exp/lr0.1_run_2", 4), "class_IoU[1]")
        # Bad parameters are refused before anything is read; unknown ids are 404.
        assert get(srv.base + f"api/compare/failures?runs={ids}&percentile=101")[0] == 400
        assert get(srv.base + f"api/compare/scoremap?run={one['id']}&epoch=x")[0] == 400
        assert get(srv.base + "api/compare/curves?runs=../etc")[0] == 400
        assert get(srv.base + f"api/compare/curves?runs={ids}&x=time")[0] == 400
        assert get(srv.base + "api/compare/curves?runs=" + ",".join(["ab"] * 201))[0] == 400
        assert get(srv.base + "api/compare/curves?runs=abcdef123456")[0] == 404
        code, index = get(srv.base + "api/compare/index")
        entry = index["runs"][one["id"]]
        assert entry["params"]["optimizer.args.lr"] == 0.1 and "class_IoU[0]" in entry["metrics"]


def test_cli_names_a_missing_run_and_bad_options(project):
    r = cli("compare", "nope/none", "--no-local", cwd=project)
    assert r.returncode == 2 and "nope/none" in r.stderr
    r = cli("compare", "exp", "--no-local", "--what", "curves,bogus", cwd=project)
    assert r.returncode == 2 and "bogus" in r.stderr
    r = cli("compare", "exp", "--no-local", "--epoch", "-1", cwd=project)
    assert r.returncode == 2


def test_only_the_asked_metric_is_decoded_then_the_table_completed(project, tmp_path):
    _, runs = scanned(project)
    trainers = [r for r in runs if r.name != "exp/eval"]
    c = DatapointCache(str(tmp_path / "cache"), 1 << 26, 1 << 26)
    doc = failure_map_doc(c, trainers, "class_IoU[1]", 25.0)
    full = failure_map_doc(DatapointCache(None, 1 << 26, 0), trainers, "class_IoU[1]", 25.0)  # same answer as whole tables give
    assert doc == full
    path = trainers[0].scores_files()[-1][1]
    partial = c.get(path, "class_IoU[0]")
    assert not partial.complete and set(partial.columns) == {"class_IoU[0]", "class_IoU[1]"} and partial.bases == ["acc", "loss", "class_IoU"]
    assert len(os.listdir(tmp_path / "cache")) == len(trainers)  # partial tables on disk too (one entry per file)
    more = c.get(path, "loss")  # another metric: decoded and merged
    assert not more.complete and {"loss", "class_IoU[0]"} <= set(more.columns)
    whole = c.get(path)  # the score map asks for everything
    assert whole.complete and set(whole.columns) == {"acc", "loss", "class_IoU[0]", "class_IoU[1]"}
    assert whole.columns["loss"].tolist() == column(scores_file(project, trainers[0].name, EPOCHS - 1), "loss")


@pytest.mark.parametrize(
    "doc",
    [
        {"aggregated": {"depth": {"l1": 1}}, "per_datapoint": {"depth": {"l1": [0.1, 0.2]}, "normal": {"l1": [1, 2]}}},  # multi-task: nested
        {"per_datapoint": {"acc": [0.1, 0.2], "name": ['x": [', "b"]}, "aggregated": {"acc": 0.1}},  # a key after it, a string like a key
        {"per_datapoint": {"acc": [0.1, None, 0.3]}},
    ],
)
def test_partial_reads_fall_back_to_the_whole_document(tmp_path, doc):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(doc))
    whole = read_table(str(p))
    for base in whole.bases:
        part = read_table(str(p), {base})
        for name, col in part.columns.items():
            np.testing.assert_array_equal(col, whole.columns[name])


def test_a_scores_file_linked_out_of_its_run_is_not_read(project, tmp_path):
    _, runs = scanned(project)
    run = next(r for r in runs if r.name == "exp/lr0.01_run_0")
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"per_datapoint": {"acc": [0.5] * DATAPOINTS}}))
    path = os.path.join(project, "logs", "exp", "lr0.01_run_0", "epoch_0", "validation_scores.json")
    os.rename(path, path + ".orig")
    try:
        os.symlink(secret, path)
        doc = score_map_doc(DatapointCache(None, 1 << 26, 0), run, "acc", 0)
        assert doc["values"] == [] and any(w.startswith(path) and "link out of the run's folder" in w for w in doc["warnings"])
        dp = datapoint_doc(DatapointCache(None, 1 << 26, 0), [run], 0, "acc")
        assert [e["epoch"] for e in dp["runs"][0]["epochs"]] == list(range(1, EPOCHS))
    finally:
        os.unlink(path)
        os.rename(path + ".orig", path)


def test_hyperparameters_flatten_like_the_config_reads(tmp_path):
    from runwatch.layout import Project
    from runwatch.layouts import LAYOUTS
    from runwatch.layouts.run_params import flatten_params, hyperparameters_of
    from runwatch.settings import load_settings

    assert flatten_params({"a": {"b": 1, "c": [1, 2]}, "work_dir": "./logs/x", "_private": 1, "d": [{"e": 1}], "f": float("nan")}) == {
        "a.b": 1,
        "a.c": "[1, 2]",
        "d[0].e": 1,
        "f": "nan",
    }
    root = tmp_path / "proj"
    (root / "configs" / "exp").mkdir(parents=True)
    (root / "configs" / "exp" / "common.py").write_text("from torch.optim import SGD\n\nbase = {'optimizer': {'class': SGD, 'args': {'lr': 0.1}}}\n")
    (root / "configs" / "exp" / "multi.py").write_text(
        "import copy\nfrom configs.exp.common import base\nfrom torch.optim import Adam\n"
        "s1 = copy.deepcopy(base)\ns1['epochs'] = 3\ns2 = copy.deepcopy(base)\ns2['optimizer']['class'] = Adam\ns2['optimizer']['args']['lr'] = 0.01\n"
        "config = [s1, s2]\n"
    )
    proj = Project(str(root), load_settings(str(root)))
    params = hyperparameters_of(next(x for x in LAYOUTS if x.name == "pylon"), proj, str(root / "configs" / "exp" / "multi.py"))
    assert params == {
        "stage[0].optimizer.class": "torch.optim.SGD",
        "stage[0].optimizer.args.lr": 0.1,
        "stage[0].epochs": 3,
        "stage[1].optimizer.class": "torch.optim.Adam",
        "stage[1].optimizer.args.lr": 0.01,
    }

    class Silent:  # a layout that does not answer: no hyperparameters, no steps
        pass

    assert hyperparameters_of(Silent(), proj, "x") == {}

"""Step curves of MMEngine and YOLO runs written by the real packages (tests/layout_writers): MMEngine's
``vis_data/scalars.json`` by its logging steps, YOLO's ``results.csv`` by its epochs (the finest it logs),
against the files the libraries wrote; and their hyperparameters found by a search."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from cli_helpers import rw

from tests.test_layouts_frameworks import FRAMEWORKS_PYTHON, WRITERS, _env, pytestmark  # noqa: F401  (skipped without the extras)


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmp_fw"))
    mm, yolo = os.path.join(root, "mm"), os.path.join(root, "yolo")
    os.makedirs(mm)
    os.makedirs(yolo)
    procs = [
        subprocess.Popen([sys.executable, os.path.join(WRITERS, "mmengine_run.py"), mm, "complete", "iters"], cwd=mm, env=_env(root), stderr=subprocess.PIPE),
        subprocess.Popen([FRAMEWORKS_PYTHON, os.path.join(WRITERS, "yolo_run.py"), yolo, "complete"], cwd=yolo, env=_env(root), stderr=subprocess.PIPE),
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode(errors="replace")[-3000:]
    return root


def cli_json(root: str, *args: str) -> dict:
    """``runwatch ARGS --no-local --json --root ROOT``'s JSON; it must succeed."""
    r = rw(*args, "--no-local", "--json", "--root", root, env=_env(root), timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def compare(root: str, *args: str) -> dict:
    return cli_json(root, "compare", *args)


def scalars(work_dir: str) -> list[dict]:
    stamp = sorted(n for n in os.listdir(work_dir) if n[:8].isdigit() and os.path.isdir(os.path.join(work_dir, n)))[-1]
    with open(os.path.join(work_dir, stamp, "vis_data", "scalars.json")) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_mmengine_step_curves(fw):
    wds = {m: os.path.join(fw, "mm", "work_dirs", f"toy_{m}") for m in ("complete", "iters")}
    docs = compare(fw, *wds.values(), "--x", "step", "--metric", "loss", "--what", "metrics,curves")
    curves = {r["name"]: r for r in docs["curves"]["runs"]}
    assert docs["curves"]["x"] == "step" and docs["curves"]["direction"] == -1
    for m, wd in wds.items():
        rows = scalars(wd)
        want = [[float(r["step"]), float(r["loss"])] for r in rows if "iter" in r]
        assert curves[f"mm/work_dirs/toy_{m}"]["points"] == want and len(want) >= 8
    assert {"loss", "lr", "acc"} <= {x["name"] for x in docs["metrics"]["step_metrics"]}
    # A validation row's own "step" is its epoch (0 when iteration-based): it goes at the training step before it.
    acc = compare(fw, *wds.values(), "--x", "step", "--metric", "acc", "--what", "curves")["curves"]
    for m, wd in wds.items():
        want, last = [], None
        for r in scalars(wd):
            if "iter" in r:
                last = float(r["step"])
            elif "acc" in r:
                want.append([last, float(r["acc"])])
        got = next(r for r in acc["runs"] if r["name"] == f"mm/work_dirs/toy_{m}")
        assert got["points"] == want and len(want) == 3 and got["best"][1] == max(p[1] for p in want)
        assert all(b[0] > a[0] for a, b in zip(got["points"], got["points"][1:]))


def test_yolo_step_curves_are_its_epoch_rows(fw):
    run = os.path.join(fw, "yolo", "complete")
    with open(os.path.join(run, "results.csv"), newline="") as f:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]
    metric = "val/cls_loss"
    docs = compare(fw, run, "--x", "step", "--metric", metric, "--what", "metrics,curves")
    names = {x["name"] for x in docs["metrics"]["step_metrics"]}
    assert {"train/box_loss", "metrics/mAP50-95(B)", "lr/pg0"} <= names and "time" not in names and "epoch" not in names
    (got,) = docs["curves"]["runs"]
    assert got["points"] == [[float(r["epoch"]), float(r[metric])] for r in rows] and len(rows) >= 2


def test_search_finds_them_by_metric_and_hyperparameter(fw):
    runs = cli_json(fw, "status", "-q", "mAP50", "--hp", "imgsz,epochs")["runs"]
    assert [x["run"] for x in runs] == ["yolo/complete"]
    assert runs[0]["params"]["epochs"] == 3 and isinstance(runs[0]["params"]["imgsz"], int)

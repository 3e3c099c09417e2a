"""Comparing real Hugging Face Trainer and Lightning runs (tests/layout_writers): step curves, per-epoch
evaluations and hyperparameters, against the files the libraries wrote."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.cli_helpers import rw
from tests.test_layouts_real import ENV, WRITERS, pytestmark  # noqa: F401  (skipped without the test extra)


def _write(root, writer: str, *modes: str) -> None:
    r = subprocess.run(
        [sys.executable, os.path.join(WRITERS, writer), str(root), *modes],
        cwd=str(root.parent),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def hf_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp_layouts")
    (root / "outputs").mkdir()
    _write(root / "outputs", "hf_run.py", "complete", "early")
    return str(root)


@pytest.fixture(scope="module")
def pl_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp_layouts_pl")
    (root / "lightning_logs").mkdir()
    _write(root / "lightning_logs", "lightning_run.py", "cli", "early", "tb")
    return str(root)


def compare(root: str, *args: str) -> dict:
    r = rw("compare", "--no-local", "--json", "--root", root, *args, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_hf_step_curves_and_training_arguments(hf_root):
    root = hf_root
    docs = compare(root, "outputs/complete", "outputs/early", "--x", "step", "--metric", "loss")
    with open(os.path.join(root, "outputs", "complete", "trainer_state.json")) as f:
        history = json.load(f)["log_history"]
    want = [[float(e["step"]), float(e["loss"])] for e in history if "loss" in e]
    curves = {r["name"]: r for r in docs["curves"]["runs"]}
    assert docs["curves"]["x"] == "step" and docs["curves"]["direction"] == -1
    assert curves["outputs/complete"]["points"] == want and len(want) >= 10
    assert curves["outputs/complete"]["best"] == list(min(want, key=lambda p: (p[1], p[0])))
    steps = {m["name"] for m in docs["metrics"]["step_metrics"]}
    assert {"loss", "learning_rate", "eval_mae"} <= steps
    hp = docs["hparams"]
    assert {"learning_rate", "num_train_epochs", "load_best_model_at_end"} <= set(hp["keys"])
    rows = {r["name"]: r["params"] for r in hp["rows"]}
    assert rows["outputs/complete"]["learning_rate"] == 0.05 and rows["outputs/early"]["learning_rate"] == 1e-9
    assert "output_dir" not in hp["keys"] and "output_dir" not in hp["constant"]  # where a run writes is no hyperparameter
    # Per evaluation: the Trainer's eval_mae, lower is better as its arguments say.
    ev = compare(root, "outputs/complete", "--metric", "eval_mae", "--what", "curves")["curves"]
    assert ev["direction"] == -1
    assert [p[1] for p in ev["runs"][0]["points"]] == [e["eval_mae"] for e in history if "eval_mae" in e]


def read_csv_metric(path: str, metric: str) -> list[list[float]]:
    with open(path, newline="") as f:
        return [[float(r["step"]), float(r[metric])] for r in csv.DictReader(f) if r.get(metric)]


def test_lightning_step_curves_and_hyperparameters(pl_root):
    root = pl_root
    pl = os.path.join(root, "lightning_logs")
    cli_run, early_run, tb_run = (os.path.join(pl, n, "version_0") for n in ("cli", "early", "tb"))
    docs = compare(root, cli_run, early_run, tb_run, "--x", "step", "--metric", "train_loss")
    curves = {r["name"]: r for r in docs["curves"]["runs"]}
    assert curves["lightning_logs/cli/version_0"]["points"] == read_csv_metric(os.path.join(cli_run, "metrics.csv"), "train_loss")
    assert curves["lightning_logs/early/version_0"]["points"] == read_csv_metric(os.path.join(early_run, "metrics.csv"), "train_loss")
    tb = curves["lightning_logs/tb/version_0"]["points"]  # TensorBoardLogger: from the event files
    assert len(tb) >= 3 and all(b[0] > a[0] for a, b in zip(tb, tb[1:]))
    assert docs["curves"]["direction"] == -1
    hp = docs["hparams"]
    rows = {r["name"]: r["params"] for r in hp["rows"]}
    assert rows["lightning_logs/cli/version_0"].get("trainer.max_epochs") == 4  # LightningCLI's config.yaml, dotted
    assert (
        "lr" in rows["lightning_logs/early/version_0"]
        or "model.init_args.lr" in rows["lightning_logs/cli/version_0"]
        or "model.lr" in rows["lightning_logs/cli/version_0"]
    )
    # Per epoch: the validation loss of every finished epoch.
    ep = compare(root, cli_run, "--metric", "val_loss", "--what", "curves")["curves"]
    assert len(ep["runs"][0]["points"]) == 4

"""Runs of tools built on the HF Trainer and on Lightning read through the existing layouts.

TRL's ``SFTTrainer`` is an HF ``Trainer``: its ``output_dir`` reads as an HF run. NeMo's exp_manager
lays a Lightning run out as ``nemo_experiments/<name>/<timestamp>/`` (no ``version_N``): it is found
as a Lightning run. Each is a real tiny run on the CPU, offline (tests/layout_writers/trl_run.py,
lightning_run.py's ``nemo`` mode).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WRITERS = os.path.join(HERE, "layout_writers")
ROOT = os.path.dirname(HERE)
NEEDED = ("torch", "transformers", "trl", "datasets", "lightning", "tensorboard")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED), reason="needs the test extra: " + ", ".join(NEEDED)),
]


@pytest.fixture(scope="session")
def tools(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tools"))
    env = {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.join(WRITERS, "trl_run.py"), os.path.join(root, "outputs", "sft")],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ),
        subprocess.Popen(
            [sys.executable, os.path.join(WRITERS, "lightning_run.py"), root, "nemo"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ),
    ]
    try:
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err.decode(errors="replace")[-3000:]
        yield root
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _status(root):
    r = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "status", "--json", "--no-local", "--sleep-time", "0", "--root", root],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return {run["run"]: run for run in json.loads(r.stdout)["runs"]}


def test_trl_sft_trainer_reads_as_an_hf_run(tools):
    s = _status(tools)["outputs/sft"]
    assert s["runner_type"] == "hf_trainer" and s["status"] == "finished"
    assert (s["completed_epochs"], s["total_epochs"]) == (2, 2) and s["completed_steps"] == s["total_steps"] == 6
    state = json.load(open(os.path.join(tools, "outputs", "sft", "checkpoint-6", "trainer_state.json")))
    assert s["main_metric"] == "eval_loss" and s["main_direction"] == -1 and s["main_best"] == pytest.approx(state["best_metric"])


def test_nemo_style_lightning_folder_without_version_n_is_found(tools):
    got = _status(tools)
    [name] = [n for n in got if n.startswith("nemo_experiments/megatron_tiny/")]
    s = got[name]
    assert s["runner_type"] == "lightning" and s["completed_epochs"] == 3 and s["completed_steps"] == 12
    assert s["main_metric"] == "val_loss" and s["main_direction"] == -1
    assert s["total_epochs"] is None  # NeMo's hparams.yaml holds the model's config, not the trainer's

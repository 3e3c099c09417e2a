"""A Pylon-shaped project for the comparison tests, written by real runs of tests/pylon_sim.

Trainers of one experiment at two learning rates, three repetitions each (``<name>_run_<k>``,
each its own seed), writing ``per_datapoint`` for a few hundred datapoints every epoch; an
evaluator; and runs with bad data: a NaN score, a metric written short, and a trainer whose
scores files have no ``per_datapoint`` (tests/pylon_toy's shape). Everything is launched as
Pylon launches runs: ``python main.py --config-filepath ./configs/<rel>.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

SIM = os.path.join(os.path.dirname(__file__), "pylon_sim")
HEADER = """from runners.trainers import SupervisedSingleTaskTrainer
from runners.evaluators import BaseEvaluator
from metrics.sim_metric import SimMetric

"""
DATAPOINTS = 300
EPOCHS = 6
LRS = {"0.1": [0.50, 0.62, 0.70, 0.74, 0.76, 0.77], "0.01": [0.40, 0.45, 0.50, 0.54, 0.57, 0.59]}


def trainer(rel: str, lr: str, seed: int, scores: list[float], **sim) -> str:
    sim = {"datapoints": DATAPOINTS, "seed": seed, "scores": scores, "iterations": 1, "step_s": 0.001, **sim}
    return (
        f"{{'runner': SupervisedSingleTaskTrainer, 'work_dir': './logs/{rel}', 'epochs': {len(scores)}, "
        f"'metric': {{'class': SimMetric, 'args': {{}}}}, "
        f"'optimizer': {{'class': 'SGD', 'args': {{'lr': {lr}, 'momentum': 0.9}}}}, 'sim': {sim!r}}}"
    )


def configs() -> dict[str, str]:
    out = {}
    for lr, scores in LRS.items():
        for k in range(3):
            # Each repetition a little apart from the others (its seed moves every datapoint's noise too).
            out[f"exp/lr{lr}_run_{k}"] = trainer(f"exp/lr{lr}_run_{k}", lr, seed=k + (10 if lr == "0.1" else 20), scores=[s + 0.01 * k for s in scores])
    out["exp/eval"] = (
        "{'runner': BaseEvaluator, 'work_dir': './logs/exp/eval', 'metric': {'class': SimMetric, 'args': {}}, "
        f"'sim': {{'datapoints': {DATAPOINTS}, 'acc': 0.7, 'seed': 5, 'iterations': 2, 'step_s': 0.001}}}}"
    )
    out["bad/nan"] = trainer("bad/nan", "0.05", seed=7, scores=[0.5, 0.6], nan_at=3)
    out["bad/short"] = trainer("bad/short", "0.05", seed=8, scores=[0.5, 0.6], short_metric=True)
    out["bad/nodata"] = trainer("bad/nodata", "0.05", seed=9, scores=[0.5, 0.6], no_per_datapoint=True)
    return out


def write_config(root: str, rel: str, body: str) -> str:
    """``configs/<rel>.py`` holding ``config = <body>``; its path."""
    path = os.path.join(root, "configs", rel + ".py")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(HEADER + f"config = {body}\n")
    return path


def launch(root: str, rel: str) -> None:
    """Run ``configs/<rel>.py`` to its end as Pylon launches it; it must succeed."""
    r = subprocess.run(
        [sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr


def add_run(root: str, rel: str, body: str) -> str:
    """One more run in a built project: its config written and run to its end; the config's path."""
    path = write_config(root, rel, body)
    launch(root, rel)
    return path


def build(root: str) -> dict[str, str]:
    """Copy the imitation into ``root``, write the configs and run them all to their end; {rel: config path}."""
    shutil.copytree(SIM, root, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    paths = {rel: write_config(root, rel, body) for rel, body in configs().items()}
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda rel: launch(root, rel), paths))
    return paths

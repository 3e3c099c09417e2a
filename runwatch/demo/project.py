"""The demo project: a generated Pylon tree plus configs that processes train live.

The static part comes from ``runwatch.testing.generator`` (so the demo shows the same
shapes the tests check); the live part is a plan (``demo_plan.json``) that the demo's
``main.py`` follows: trainers that learn, one that stops early, a multi-stage run, an
evaluator, one that crashes with a real traceback, and hung runs held by live
processes. A short ``sleep_time`` in ``runwatch.toml`` lets a crash show as failed
within seconds instead of a day.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from typing import Any

MARKER = ".runwatch-demo"
PLAN_FILE = "demo_plan.json"
DEMO_SLEEP_TIME = 20


@dataclass
class DemoProject:
    root: str
    # config rel -> the plan main.py follows for it
    plan: dict[str, dict[str, Any]] = field(default_factory=dict)

    def launch_order(self) -> list[str]:
        return sorted(self.plan)


class DemoDirError(ValueError):
    """A demo directory that would overwrite someone's files."""


def prepare_dir(root: str) -> bool:
    """Make ``root`` ready for a demo; True when an earlier demo there is reused.

    Only an empty folder or one holding an earlier demo (marker file) is used, so a
    mistyped path never mixes a demo into a real project.
    """
    if os.path.exists(root):
        if not os.path.isdir(root):
            raise DemoDirError(f"{root}: exists and is not a directory")
        if os.path.exists(os.path.join(root, MARKER)):
            return True
        if os.listdir(root):
            raise DemoDirError(f"{root}: not empty and not an earlier runwatch demo; give an empty or new folder")
    os.makedirs(root, exist_ok=True)
    return False


def create_demo_project(root: str, n_runs: int = 36, n_live: int = 6, seed: int = 0) -> DemoProject:
    """Write (or reuse) a demo project under ``root`` and return its live plan."""
    from runwatch.testing.generator import (
        EVAL_SCENARIOS,
        MULTI_STAGE_TEMPLATE,
        TRAINER_SCENARIOS,
        config_text,
        generate_tree,
    )

    reused = prepare_dir(root)
    plan_path = os.path.join(root, PLAN_FILE)
    if reused and os.path.isfile(plan_path):
        with open(plan_path) as f:
            return DemoProject(root, json.load(f))
    rng = random.Random(seed)
    scenarios = tuple(s for s in TRAINER_SCENARIOS + EVAL_SCENARIOS if s not in ("running", "evaluator_running"))
    tree = generate_tree(root, n_runs, seed=seed, scenarios=scenarios, multi_stage=0, sleep_time=DEMO_SLEEP_TIME, max_epochs=30)
    with open(os.path.join(root, "runwatch.toml"), "w") as f:
        f.write(
            "# Demo settings: a run whose log is quiet for 20 s is no longer running,\n"
            "# so the live crash shows up as failed within seconds.\n"
            f"sleep_time = {DEMO_SLEEP_TIME}\noutdated_days = 30\n"
        )
    plan: dict[str, dict[str, Any]] = {}
    for p in tree.processes:  # generated "stuck" runs: a real hung process will hold each one
        if p.config_rel:
            plan[p.config_rel] = {"mode": "stuck"}

    def trainer(rel: str, epochs: int, **extra: Any) -> None:
        metric = extra.pop("metric", rng.choice(("mean_IoU", "mae")))
        cls = "SemanticSegmentationMetric" if metric == "mean_IoU" else "DepthMetric"
        path = os.path.join(root, "configs", *rel.split("/")) + ".py"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(config_text(rel, "SupervisedSingleTaskTrainer", epochs, cls, extra.get("patience"), rng, "logs", 100))
        plan[rel] = {"mode": "train", "epochs": epochs, "metric": metric, "interval": round(rng.uniform(1.0, 2.0), 2), "seed": rng.randrange(10**6), **extra}

    kinds = ["train", "early_stop", "crash", "multi_stage", "eval", "train"]
    for i in range(n_live):
        kind = kinds[i % len(kinds)] if i < len(kinds) else "train"
        rel = f"live/{kind}_{i}"
        if kind == "train":
            trainer(rel, rng.randint(60, 120))
        elif kind == "early_stop":
            trainer(rel, 100, patience=4, plateau_after=rng.randint(12, 25))
        elif kind == "crash":
            trainer(rel, 50, crash_at=rng.randint(6, 12))
        elif kind == "multi_stage":
            stages = [rng.randint(20, 30), rng.randint(30, 40)]
            path = os.path.join(root, "configs", "live", f"{kind}_{i}.py")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            body = "".join(f"    {{**stage_base, 'epochs': {e}}},\n" for e in stages)
            with open(path, "w") as f:
                f.write(MULTI_STAGE_TEMPLATE.format(logs_dir="logs", rel=rel, init_seed=rng.randrange(10**8), stages=body))
            plan[rel] = {"mode": "train", "epochs": sum(stages), "metric": "mean_IoU", "interval": 1.2, "seed": rng.randrange(10**6)}
        elif kind == "eval":
            path = os.path.join(root, "configs", *rel.split("/")) + ".py"
            with open(path, "w") as f:
                f.write(config_text(rel, "BaseEvaluator", 1, "SemanticSegmentationMetric", None, rng, "logs", 100).replace("    'epochs': 1,\n", ""))
            plan[rel] = {"mode": "eval", "interval": 1.5, "steps": 20, "seed": rng.randrange(10**6)}
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "pylon_main.py"), os.path.join(root, "main.py"))
    with open(plan_path, "w") as f:
        json.dump(plan, f, indent=1, sort_keys=True)
    with open(os.path.join(root, MARKER), "w") as f:
        f.write("Created by `runwatch demo`; safe to delete.\n")
    return DemoProject(root, plan)

"""The demo project: a generated Pylon tree plus configs that processes train live.

The static part comes from ``runwatch.testing.generator`` (so the demo shows the same
shapes the tests check); the live part is a plan (``demo_plan.json``) that the demo's
``main.py`` follows: trainers that learn, one that stops early, a multi-stage run, an
evaluator, one that crashes with a real traceback, one that stalls, and hung runs
held by live processes. The director (``runwatch.demo.director``) starts a new run in
a slot whenever its run ends, so something keeps running, crashing, stalling and
finishing for as long as the demo runs. Its ``runwatch.toml`` points runwatch at the runs' output
(``demo_output/``), where a crash's traceback lands, as a lab's settings would.
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
        """The runs to start: the held "stuck" runs and the newest run of every live slot."""
        newest: dict[int, tuple[int, str]] = {}
        out = []
        for rel, entry in self.plan.items():
            slot = entry.get("slot")
            if slot is None:
                out.append(rel)
            elif slot not in newest or int(entry.get("gen", 0)) > newest[slot][0]:
                newest[slot] = (int(entry.get("gen", 0)), rel)
        return sorted(out + [rel for _, rel in newest.values()])


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


# What the live slots do, one kind per slot; the demo's director starts a new run in a
# slot whenever its run ends, so every kind keeps happening for as long as the demo runs.
LIVE_KINDS = ("train", "early_stop", "crash", "multi_stage", "eval", "stall")


def write_live_run(root: str, rel: str, kind: str, rng: random.Random) -> dict[str, Any]:
    """Write the config of one live run and return its plan entry (what main.py does for it).

    ``stall`` trains a few epochs of a longer config, then the director keeps a silent
    process on it (a hung run: stuck) and later kills it (failed).
    """
    from runwatch.testing.generator import MULTI_STAGE_TEMPLATE, config_text

    path = os.path.join(root, "configs", *rel.split("/")) + ".py"
    os.makedirs(os.path.dirname(path), exist_ok=True)

    def trainer(epochs: int, config_epochs: int | None = None, **extra: Any) -> dict[str, Any]:
        metric = extra.pop("metric", rng.choice(("mean_IoU", "mae")))
        cls = "SemanticSegmentationMetric" if metric == "mean_IoU" else "DepthMetric"
        with open(path, "w") as f:
            f.write(config_text(rel, "SupervisedSingleTaskTrainer", config_epochs or epochs, cls, extra.get("patience"), rng, "logs", 100))
        return {
            "mode": "train",
            "kind": kind,
            "epochs": epochs,
            "metric": metric,
            "interval": round(rng.uniform(2.0, 3.5), 2),  # seconds per epoch: a run lasts minutes, not seconds
            "seed": rng.randrange(10**6),
            **extra,
        }

    if kind == "early_stop":
        return trainer(100, patience=4, plateau_after=rng.randint(8, 15))
    if kind == "crash":
        return trainer(50, crash_at=rng.randint(6, 12))
    if kind == "stall":
        return trainer(rng.randint(5, 10), config_epochs=rng.randint(40, 60))
    if kind == "multi_stage":
        stages = [rng.randint(8, 12), rng.randint(12, 18)]
        body = "".join(f"    {{**stage_base, 'epochs': {e}}},\n" for e in stages)
        with open(path, "w") as f:
            f.write(MULTI_STAGE_TEMPLATE.format(logs_dir="logs", rel=rel, init_seed=rng.randrange(10**8), stages=body))
        # The stages share one work dir: the run ends at the largest stage's epochs, not at their sum.
        return {"mode": "train", "kind": kind, "epochs": max(stages), "stages": stages, "metric": "mean_IoU", "interval": 2.5, "seed": rng.randrange(10**6)}
    if kind == "eval":
        with open(path, "w") as f:
            f.write(config_text(rel, "BaseEvaluator", 1, "SemanticSegmentationMetric", None, rng, "logs", 100).replace("    'epochs': 1,\n", ""))
        return {"mode": "eval", "kind": kind, "interval": 1.5, "steps": 20, "seed": rng.randrange(10**6)}
    # Few epochs, each a few seconds: a live run's files stay few (the demo's folder is removed in a
    # moment on Ctrl-C) and the slot moves on every few minutes.
    return trainer(rng.randint(20, 40))


def retire_run(root: str, rel: str) -> None:
    """Remove a live run the demo wrote (config, work dir, output): the director's cleanup of old runs."""
    parts = rel.split("/")
    if not parts or parts[0] != "live" or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{rel!r}: not a live demo run")
    for path in (os.path.join(root, "configs", *parts) + ".py", os.path.join(root, "demo_output", *parts) + ".out"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    shutil.rmtree(os.path.join(root, "logs", *parts), ignore_errors=True)


def write_plan(root: str, plan: dict[str, dict[str, Any]]) -> None:
    """demo_plan.json, replaced atomically: main.py reads it when a run starts."""
    path = os.path.join(root, PLAN_FILE)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(plan, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def create_demo_project(root: str, n_runs: int = 36, n_live: int = 6, seed: int = 0) -> DemoProject:
    """Write (or reuse) a demo project under ``root`` and return its live plan."""
    from runwatch.testing.generator import EVAL_SCENARIOS, TRAINER_SCENARIOS, generate_tree

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
            "# Demo settings. Statuses come from evidence (the runs' processes, their logs' ends),\n"
            "# so no short sleep_time is needed; the demo's runs send their output (tracebacks\n"
            "# included, as Pylon's do) to demo_output/, where runwatch finds a crash's exception.\n"
            "outdated_days = 30\n"
            'output_globs = ["demo_output/{run}.out"]\n'
        )
    plan: dict[str, dict[str, Any]] = {}
    for p in tree.processes:  # generated "stuck" runs: a real hung process will hold each one
        if p.config_rel:
            plan[p.config_rel] = {"mode": "stuck"}

    for i in range(n_live):
        kind = LIVE_KINDS[i % len(LIVE_KINDS)] if i < len(LIVE_KINDS) else "train"
        rel = f"live/{kind}_{i}"
        plan[rel] = {**write_live_run(root, rel, kind, rng), "slot": i, "gen": 0}
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "pylon_main.py"), os.path.join(root, "main.py"))
    write_plan(root, plan)
    with open(os.path.join(root, MARKER), "w") as f:
        f.write("Created by `runwatch demo`; safe to delete.\n")
    return DemoProject(root, plan)

"""Writers and readers at once: runs gain epochs, rewrite progress.json (both ways), vanish
and come back, while several processes scan the same project and share one store file.

Invariants checked while it runs: no exception escapes a scan; runs nobody touches are
exact on every scan; progress counts stay within what can be on disk; every
progress.json only runwatch writes always parses. After the writers stop: a fresh
process (reading the store the readers left) answers every run exactly.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
import traceback

import pytest

from runwatch import ProcessSnapshot, get_all_run_status
from runwatch.readers.jsonfile import write_json_atomic
from runwatch.testing.generator import write_epoch

from .helpers import all_progress_json_parse, mismatches, pick, scan, small_tree, work_dir

E = 6  # epochs of each scratch run
SCRATCH = {"scratch/nonatomic": "nonatomic", "scratch/atomic": "atomic", "scratch/churn": "none"}

SCRATCH_CONFIG = (
    "from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer\n"
    "from metrics.semantic_segmentation_metric import SemanticSegmentationMetric\n"
    "config = {{'runner': SupervisedSingleTaskTrainer, 'epochs': {e}, 'work_dir': './logs/{rel}',\n"
    "          'metric': {{'class': SemanticSegmentationMetric, 'args': {{}}}}}}\n"
)


def _progress_nonatomic(path: str, completed: int) -> None:
    """The old way: truncate in place, then write in two pieces (readers see empty / half files)."""
    text = json.dumps({"completed_epochs": completed, "progress_percentage": completed * 100.0 / E, "early_stopped": False, "early_stopped_at_epoch": None})
    with open(path, "w") as f:
        f.flush()
        time.sleep(0.001)
        f.write(text[: len(text) // 2])
        f.flush()
        time.sleep(0.001)
        f.write(text[len(text) // 2 :])


class Report:
    """What a child process saw, written to a file at exit (queues deadlock on join when full)."""

    def __init__(self, path: str) -> None:
        self.path, self.count, self.errors = path, 0, []

    def put(self, message: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(message)
        self.count_errors = getattr(self, "count_errors", 0) + 1

    def save(self) -> None:
        with open(self.path, "w") as f:
            json.dump({"count": self.count, "errors": self.errors, "n_errors": getattr(self, "count_errors", 0), "retries": getattr(self, "retries", 0)}, f)


def _rmtree_retry(path: str, report: Report) -> None:
    """rm -rf as a person does it: runwatch may drop its progress.json into the dir mid-delete
    (ENOTEMPTY), and then the second try succeeds. Counted, not hidden."""
    for _ in range(100):
        try:
            shutil.rmtree(path)
            return
        except OSError:
            report.retries = getattr(report, "retries", 0) + 1
            time.sleep(0.002)
    shutil.rmtree(path)


def _epoch_writer(root: str, rel: str, mode: str, stop, errors) -> None:
    import random

    rng = random.Random(rel)
    wd = os.path.join(root, "logs", *rel.split("/"))
    try:
        while True:
            if os.path.isdir(wd):
                _rmtree_retry(wd, errors)  # the run is deleted and relaunched from scratch
            os.makedirs(wd)
            with open(os.path.join(wd, "train_val_0.log"), "w") as log:
                log.write("[INFO] started\n")
            for n in range(E):
                # files appear one by one, each first empty then filled, like Pylon's threads
                d = os.path.join(wd, f"epoch_{n}")
                os.makedirs(d)
                for name, text in (("training_losses.pt", None), ("optimizer_buffer.json", "[]"), ("validation_scores.json", None)):
                    p = os.path.join(d, name)
                    open(p, "w").close()
                    time.sleep(rng.uniform(0, 0.004))
                    if text is not None:
                        with open(p, "w") as f:
                            f.write(text)
                write_epoch(wd, n, {"mean_IoU": 0.1 + 0.01 * n, "loss": 1.0 - 0.01 * n}, None, 3, rng)
                with open(os.path.join(wd, "train_val_0.log"), "a") as log:
                    log.write(f"[INFO] epoch {n}\n")
                if mode == "nonatomic":
                    _progress_nonatomic(os.path.join(wd, "progress.json"), n + 1)
                elif mode == "atomic":
                    write_json_atomic(os.path.join(wd, "progress.json"), {"completed_epochs": n + 1, "progress_percentage": (n + 1) * 100.0 / E})
                if stop.is_set() and n == E - 1:
                    return
            if stop.is_set():
                return
    except BaseException:
        errors.put(f"writer {rel}: {traceback.format_exc()}")
    finally:
        errors.save()


def _churner(root: str, rels: list[str], backup: str, stop, errors) -> None:
    """Deletes whole work dirs of finished runs and puts them back (mtimes preserved)."""
    try:
        i = 0
        while not stop.is_set():
            rel = rels[i % len(rels)]
            wd = os.path.join(root, "logs", *rel.split("/"))
            _rmtree_retry(wd, errors)
            time.sleep(0.01)
            shutil.copytree(os.path.join(backup, rel), wd, symlinks=True)
            time.sleep(0.01)
            i += 1
    except BaseException:
        errors.put(f"churner: {traceback.format_exc()}")
    finally:
        errors.save()


def _reader(root: str, configs: list[str], stable: dict[str, tuple], snapshot, deadline: float, errors) -> None:
    from .helpers import answer

    scans = 0
    try:
        while time.time() < deadline:
            result = get_all_run_status(configs, root=root, system_monitor=snapshot)
            scans += 1
            for cfg, want in stable.items():
                got = answer(result[cfg])
                if got != want:
                    errors.put(f"stable run {cfg} answered {got}, want {want}; {result[cfg].progress.warnings}")
            for rel in SCRATCH:
                p = result[f"configs/{rel}.py"].progress
                if not (0 <= p.completed_epochs <= E and p.total_epochs == E and 0 <= p.progress_percentage <= 100):
                    errors.put(f"scratch {rel}: impossible progress {p}")
    except BaseException:
        errors.put(f"reader: {traceback.format_exc()}")
    errors.count = scans
    errors.save()


def _cli_reader(root: str, stable: dict[str, tuple], deadline: float, errors) -> None:
    """``runwatch status --json`` in a loop: exit 0, one JSON document, stable runs exact.
    (It asks the real local process table, so the generator's fake 'stuck' process is absent.)"""
    import subprocess
    import sys

    runs = 0
    while time.time() < deadline:
        r = subprocess.run(
            [sys.executable, "-c", "from runwatch.cli import main; main()", "status", "--json", "--root", root, "--no-slurm"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        runs += 1
        if r.returncode != 0:
            errors.put(f"cli exit {r.returncode}: {r.stderr[-2000:]}")
            continue
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            errors.put(f"cli printed invalid JSON ({e}): {r.stdout[:200]!r}")
            continue
        by_cfg = {
            os.path.relpath(os.path.join(root, x["config"]), root) if not os.path.isabs(x["config"]) else os.path.relpath(x["config"], root): x
            for x in doc["runs"]
        }
        for cfg, want in stable.items():
            x = by_cfg.get(cfg)
            if x is None:
                errors.put(f"cli: {cfg} missing from the listing")
            elif want[0] != "stuck" and (x["status"], x["completed_epochs"], x["total_epochs"]) != want[:3]:
                errors.put(f"cli: {cfg} answered {(x['status'], x['completed_epochs'], x['total_epochs'])}, want {want[:3]}")
    errors.count = runs
    errors.save()


def _checker(paths: list[str], deadline: float, errors) -> None:
    """progress.json files only runwatch writes: must parse at every instant they exist."""
    reads = 0
    while time.time() < deadline:
        for p in paths:
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
            reads += 1
            try:
                json.loads(data)
            except ValueError as e:
                errors.put(f"{p}: runwatch left a corrupt progress.json ({e}): {data[:80]!r}")
    errors.count = reads
    errors.save()


@pytest.mark.timeout(900)
def test_writers_and_readers(tmp_path, budget, tally):
    tree = small_tree(str(tmp_path / "p"))
    root = tree.root
    for rel in SCRATCH:
        path = os.path.join(root, "configs", rel + ".py")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(SCRATCH_CONFIG.format(e=E, rel=rel))
    churned = [pick(tree, "finished").rel, pick(tree, "evaluator_finished").rel, pick(tree, "outdated").rel]
    backup = str(tmp_path / "backup")
    for rel in churned:
        shutil.copytree(work_dir(tree, rel), os.path.join(backup, rel), symlinks=True)
    configs = [r.config_path for r in tree.runs] + [f"configs/{rel}.py" for rel in SCRATCH]
    from .helpers import expected

    stable = {r.config_path: expected(r) for r in tree.runs if r.rel not in churned}
    # Trainer dirs only runwatch writes progress.json to from now on (the generator's were atomic).
    # (not the churned ones: copytree restores their files non-atomically)
    own = [
        os.path.join(work_dir(tree, r.rel), "progress.json")
        for r in tree.runs
        if r.kind == "trainer" and r.scenario != "never_launched" and r.rel not in churned
    ]
    own.append(os.path.join(root, "logs", "scratch", "churn", "progress.json"))

    ctx = mp.get_context("fork")
    stop = ctx.Event()
    reports = tmp_path / "reports"
    reports.mkdir()
    rep = lambda name: Report(str(reports / f"{name}.json"))
    duration = budget(8, 180)
    deadline = time.time() + duration
    writers = [ctx.Process(target=_epoch_writer, args=(root, rel, mode, stop, rep(f"writer{i}"))) for i, (rel, mode) in enumerate(SCRATCH.items())]
    writers.append(ctx.Process(target=_churner, args=(root, churned, backup, stop, rep("churner"))))
    readers = [
        ctx.Process(target=_reader, args=(root, configs, stable, ProcessSnapshot(processes=list(tree.processes)), deadline, rep(f"reader{i}")))
        for i in range(2)
    ]
    checker = ctx.Process(target=_checker, args=(own, deadline, rep("checker")))
    if os.path.exists(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "runwatch", "cli.py")):
        readers.append(ctx.Process(target=_cli_reader, args=(root, stable, deadline, rep("cli"))))
    procs = writers + readers + [checker]
    for p in procs:
        p.start()
    try:
        for p in readers + [checker]:
            p.join(duration + 120)
        stop.set()
        for p in writers:
            p.join(60)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    seen = {f.stem: json.loads(f.read_text()) for f in reports.iterdir()}
    problems = [e for r in seen.values() for e in r["errors"]]
    tally["concurrency_scans"] += seen["reader0"]["count"] + seen["reader1"]["count"]
    tally["concurrency_progress_json_reads"] += seen["checker"]["count"]
    tally["concurrency_cli_scans"] += seen.get("cli", {}).get("count", 0)
    tally["failures"] += sum(r["n_errors"] for r in seen.values())
    tally["rm_rf_retries_caused_by_runwatch_writes"] += sum(r.get("retries", 0) for r in seen.values())
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert problems == [], "\n".join(problems[:20])
    assert seen["reader0"]["count"] >= 2 and seen["reader1"]["count"] >= 2, seen

    # Writers stopped: a fresh process reading the store the readers left is exact.
    result = scan(tree)
    assert mismatches(tree, result) == []
    fresh = get_all_run_status([f"configs/{rel}.py" for rel in SCRATCH], root=root, use_store=True)
    for rs in fresh.values():
        p = rs.progress
        # Complete and no process: finished, though its files are seconds old (issue 12: not "running" for sleep_time).
        assert (p.completed_epochs, p.total_epochs, p.progress_percentage, rs.status) == (E, E, 100.0, "finished"), (rs.config, p)
    assert all_progress_json_parse(root) == []

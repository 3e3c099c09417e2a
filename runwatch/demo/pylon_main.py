"""A stand-in for Pylon's ``main.py``, copied into demo projects as ``main.py``.

It is launched exactly as Pylon runs are (``python main.py --config-filepath
./configs/<rel>.py``) so runwatch's process sources find it like a real run, and it
writes what a Pylon trainer or evaluator writes: numbered logs, epoch dirs whose
files appear one by one as from background threads (some written in several
chunks, not atomically), scores files with ``aggregated`` and ``per_datapoint``,
its own 4-field progress.json after every epoch, progress lines inside each epoch
(``Training [Epoch e/N][Iteration i/M]``), early stopping one epoch after the rule
fires (the update runs in an after-validation thread the main loop does not wait
for) with Pylon's log lines, and crashes whose traceback goes to stderr only, never
into the log. Standard library only: the demo must run without torch.

Its behaviour per config comes from ``demo_plan.json`` at the project root.
It exits on its own when the demo that started it is gone (parent PID changes),
so not even a killed demo leaves these processes behind.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import sys
import time
import traceback
import zipfile

PLAN_FILE = "demo_plan.json"


def parent_alive(parent: int) -> bool:
    return parent == 0 or os.getppid() == parent


def nap(seconds: float, parent: int) -> None:
    """Sleep in small steps, exiting as soon as the demo that started us has gone."""
    end = time.time() + seconds
    while True:
        if not parent_alive(parent):
            sys.exit(0)
        left = end - time.time()
        if left <= 0:
            return
        time.sleep(min(0.25, left))


def pt_bytes(epoch: int) -> bytes:
    """A small zip archive: the container format of ``torch.save`` since torch 1.6."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00." + bytes([epoch % 256]))
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


def write_chunked(path: str, data: bytes, rng: random.Random, parent: int) -> None:
    """Write in a few chunks with pauses, as a slow background thread would (not atomic)."""
    with open(path, "wb") as f:
        n = rng.randint(1, 3)
        step = max(1, len(data) // n)
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            nap(rng.uniform(0.01, 0.08), parent)


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def scores_bytes(aggregated: dict, rng: random.Random, n_points: int = 24) -> bytes:
    per = {k: [round(v + rng.uniform(-0.05, 0.05), 4) for _ in range(n_points)] for k, v in aggregated.items() if isinstance(v, float)}
    return json.dumps({"aggregated": aggregated, "per_datapoint": per}).encode()


def epoch_finished(d: str) -> bool:
    names = ("training_losses.pt", "optimizer_buffer.json", "validation_scores.json")
    try:
        return all(os.path.getsize(os.path.join(d, n)) > 0 for n in names)
    except OSError:
        return False


def score_at(plan: dict, epoch: int, rng: random.Random) -> dict:
    """A noisy learning curve; after ``plateau_after`` it only gets worse (to trigger early stopping)."""
    plateau = plan.get("plateau_after")
    e = epoch if plateau is None else min(epoch, plateau)
    base = 1.0 - math.exp(-(e + 1) / max(3.0, plan["epochs"] / 4))
    worse = 0.0 if plateau is None or epoch <= plateau else 0.01 * (epoch - plateau)
    if plan.get("metric") == "mae":
        v = round(3.0 - 2.0 * base + worse + rng.uniform(0, 0.002), 6)
        return {"mae": v, "rmse": round(v * 1.3, 6)}
    v = round(0.2 + 0.6 * base - worse + rng.uniform(0, 0.002), 6)
    return {"mean_IoU": v, "loss": round(1.0 - v, 6), "class_IoU": [round(v, 4), round(v / 2, 4)]}


def improved(a: dict, b: dict | None, metric: str) -> bool:
    if b is None:
        return True
    return a[metric] < b[metric] if metric == "mae" else a[metric] > b[metric]


def new_log(work_dir: str, prefix: str):
    n = len([x for x in os.listdir(work_dir) if x.startswith(prefix) and x.endswith(".log")])
    return open(os.path.join(work_dir, f"{prefix}{n}.log"), "a", buffering=1)


def backward(step: int) -> None:
    raise RuntimeError(f"CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity) at step {step}")


def train_step(step: int, crash_at_step: int | None) -> float:
    if crash_at_step is not None and step >= crash_at_step:
        backward(step)
    return 1.0 / (1 + step)


def train(plan: dict, work_dir: str, parent: int, rng: random.Random) -> int:
    log = new_log(work_dir, "train_val_")
    log.write(f"[INFO] trainer started, config {plan['rel']}\n")
    with open(os.path.join(work_dir, "config.json"), "w") as f:
        f.write(repr({"epochs": plan["epochs"], "runner": "<class 'SupervisedSingleTaskTrainer'>"}))
    start = 0
    while epoch_finished(os.path.join(work_dir, f"epoch_{start}")):
        start += 1
    if start:
        log.write(f"[INFO] resuming from epoch {start}\n")
    metric = plan.get("metric", "mean_IoU")
    best, bad = None, 0
    for e in range(start):
        try:
            with open(os.path.join(work_dir, f"epoch_{e}", "validation_scores.json")) as f:
                s = json.load(f)["aggregated"]
        except (OSError, ValueError, KeyError):
            continue
        if improved(s, best, metric):
            best, bad = s, 0
        else:
            bad += 1
    patience = plan.get("patience")
    crash_epoch = plan.get("crash_at")
    step = 0
    steps = 4
    fired = False  # the rule fired after the previous epoch; this loop sees it one epoch late
    total = plan["epochs"]
    for epoch in range(start, total):
        if fired:  # should_stop() now sees what the after-validation thread decided last epoch
            done = epoch
            log.write(f"[INFO] Training stopped early at epoch {done}\n")
            write_progress(work_dir, done, total, done)
            return 0
        fired = patience is not None and bad >= patience
        for i in range(steps):
            crash_step = step if crash_epoch is not None and epoch >= crash_epoch and i == 2 else None
            train_step(step, crash_step)  # a crash: the traceback goes to stderr only (see main)
            log.write(f"[INFO] Training [Epoch {epoch}/{total}][Iteration {i}/{steps}]. loss={1.0 / (1 + step):.4f}\n")
            step += 1
            nap(plan["interval"] / (steps + 2), parent)
        for i in range(2):
            log.write(f"[INFO] Validation [Epoch {epoch}/{total}][Iteration {i}/2].\n")
            nap(plan["interval"] / (steps + 2), parent)
        d = os.path.join(work_dir, f"epoch_{epoch}")
        os.makedirs(d, exist_ok=True)
        scores = score_at(plan, epoch, rng)
        files = [
            ("training_losses.pt", pt_bytes(epoch)),
            ("optimizer_buffer.json", b"[]"),
            ("validation_scores.json", scores_bytes(scores, rng)),
        ]
        rng.shuffle(files)  # background threads finish in any order
        for name, data in files:
            if rng.random() < 0.5:
                write_chunked(os.path.join(d, name), data, rng, parent)
            else:
                write_atomic(os.path.join(d, name), data)
            nap(rng.uniform(0.02, 0.2), parent)
        write_progress(work_dir, epoch + 1, total, None)
        # The after-validation thread: the early-stopping update, too late for the next check.
        if improved(scores, best, metric):
            best, bad = scores, 0
        else:
            bad += 1
        if patience is not None and bad >= patience and not fired:
            log.write(f"[INFO] Early stopping triggered after {epoch + 1} epochs\n")
    log.write("[INFO] training finished\n")
    return 0


def write_progress(work_dir: str, done: int, total: int, early_at: int | None) -> None:
    """The trainer's own record, the 4 fields of every Pylon version (percentage not forced to 100)."""
    progress = {
        "completed_epochs": done,
        "progress_percentage": done * 100.0 / total,
        "early_stopped": early_at is not None,
        "early_stopped_at_epoch": early_at,
    }
    write_atomic(os.path.join(work_dir, "progress.json"), json.dumps(progress).encode())


def evaluate(plan: dict, work_dir: str, parent: int, rng: random.Random) -> int:
    log = new_log(work_dir, "eval_")
    log.write(f"[INFO] evaluator started, config {plan['rel']}\n")
    n = plan.get("steps", 10)
    for i in range(n):
        log.write(f"[INFO] Evaluation [Iteration {i}/{n}].\n")
        nap(plan["interval"], parent)
    scores = score_at({**plan, "epochs": 4}, 8, rng)
    write_atomic(os.path.join(work_dir, "evaluation_scores.json"), scores_bytes(scores, rng))
    log.write("[INFO] evaluation finished\n")
    return 0


def main(argv: list[str]) -> int:
    path = None
    for i, tok in enumerate(argv):
        if tok == "--config-filepath" and i + 1 < len(argv):
            path = argv[i + 1]
        elif tok.startswith("--config-filepath="):
            path = tok.split("=", 1)[1]
    if path is None:
        print("usage: main.py --config-filepath ./configs/<run>.py", file=sys.stderr)
        return 2
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath("configs"))[: -len(".py")].replace(os.sep, "/")
    with open(PLAN_FILE) as f:
        plan = json.load(f)[rel]
    plan["rel"] = rel
    parent = int(os.environ.get("RUNWATCH_DEMO_PARENT", "0"))
    rng = random.Random(plan.get("seed", 0) + os.getpid())
    work_dir = os.path.join("logs", *rel.split("/"))
    mode = plan["mode"]
    if mode == "stuck":
        # A hung run: alive, holding its config, writing nothing.
        while True:
            nap(3600, parent)
    os.makedirs(work_dir, exist_ok=True)
    if mode == "eval":
        return evaluate(plan, work_dir, parent, rng)
    try:
        if plan.get("stages"):
            # A list config, as Pylon's main.py runs it: each stage in turn, in the one work dir they
            # share; a stage resumes from the epochs already there and trains up to its own epochs.
            for epochs in plan["stages"]:
                code = train({**plan, "epochs": epochs}, work_dir, parent, rng)
                if code:
                    return code
            return 0
        return train(plan, work_dir, parent, rng)
    except Exception:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A stand-in for Pylon's ``main.py`` for the notification tests (standard library only).

Launched as Pylon runs are (``python main.py --config-filepath configs/<rel>.py``) from
the project root, it writes what a Pylon trainer writes (reference page, section 3):
``train_val_<i>.log``, ``epoch_<N>/`` with the three expected files, progress.json
after each epoch. Its plan comes from ``notify_plan.json``:
``{"<rel>": {"epochs": 5, "crash_at": 2 | null}}``. While a file ``hold`` exists at the
project root it keeps logging (alive and running) before its last step, so a test can
release many runs at once. A crash is an uncaught exception: its traceback goes to
stderr only, as Pylon's do.
"""

import json
import os
import sys
import time
import zipfile


def write_atomic(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def epoch(work_dir, n, epochs, log):
    d = os.path.join(work_dir, f"epoch_{n}")
    os.makedirs(d, exist_ok=True)
    with zipfile.ZipFile(os.path.join(d, "training_losses.pt"), "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    write_atomic(os.path.join(d, "optimizer_buffer.json"), b"[]")
    score = round(0.5 + 0.05 * n, 4)
    write_atomic(
        os.path.join(d, "validation_scores.json"),
        json.dumps({"aggregated": {"mean_IoU": score, "loss": 1 - score}, "per_datapoint": {"mean_IoU": [score]}}).encode(),
    )
    write_atomic(
        os.path.join(work_dir, "progress.json"),
        json.dumps(
            {"completed_epochs": n + 1, "progress_percentage": (n + 1) * 100.0 / epochs, "early_stopped": False, "early_stopped_at_epoch": None}
        ).encode(),
    )
    log.write(f"Validation [Epoch {n}/{epochs}] mean_IoU={score}\n")


def main(argv):
    path = argv[argv.index("--config-filepath") + 1]
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath("configs"))[:-3].replace(os.sep, "/")
    with open("notify_plan.json") as f:
        plan = json.load(f)[rel]
    work_dir = os.path.join("logs", *rel.split("/"))
    os.makedirs(work_dir, exist_ok=True)
    n_logs = len([x for x in os.listdir(work_dir) if x.startswith("train_val_")])
    log = open(os.path.join(work_dir, f"train_val_{n_logs}.log"), "a", buffering=1)
    epochs, crash_at = plan["epochs"], plan.get("crash_at")
    start = 0
    while os.path.exists(os.path.join(work_dir, f"epoch_{start}", "validation_scores.json")):
        start += 1
    last = crash_at if crash_at is not None else epochs - 1
    for n in range(start, last):
        log.write(f"Training [Epoch {n}/{epochs}][Iteration 1/1] loss=0.5\n")
        epoch(work_dir, n, epochs, log)
    while os.path.exists("hold"):
        log.write(f"Training [Epoch {last}/{epochs}][Iteration 1/2] loss=0.4\n")
        time.sleep(0.2)
    if crash_at is not None:
        log.write(f"Training [Epoch {last}/{epochs}][Iteration 2/2] loss=nan\n")
        raise RuntimeError(f"CUDA out of memory. Tried to allocate 2.00 GiB at epoch {crash_at}")
    epoch(work_dir, last, epochs, log)
    log.write("Training finished\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

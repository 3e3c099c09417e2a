"""A stdlib stand-in for Pylon's ``main.py`` + ``BaseTrainer``, for tests on real processes.

Launched exactly as Pylon is (``python main.py --config-filepath ./configs/<rel>.py``), it
loads the config by executing the file (as Pylon does, with importlib), and writes the
work dir the way the reference page describes: ``train_val_<i>.log`` (i = logs already
there), ``git_<i>.log``, ``config.json`` (a Python repr), and per epoch ``epoch_<N>/``
with ``training_losses.pt`` (a zip), ``optimizer_buffer.json`` and
``validation_scores.json``, then its own 4-field ``progress.json``. Progress lines
(``Training [Epoch e/N][Iteration i/M]``) are flushed as it goes. An uncaught exception
goes to stderr only, never to the log, as in Pylon.

Test behaviour comes from a ``toy`` dict in the config (never read by runwatch):
``epoch_seconds``, ``iterations``, ``crash_at`` (epoch), ``hang_at`` (epoch: sleep
silently forever), ``oom_at`` (epoch: allocate under an address-space limit),
``traceback_to_log`` (also log the traceback, as some frameworks do).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import io
import json
import os
import sys
import time
import traceback
import zipfile


def load_config(path: str) -> dict:
    spec = importlib.util.spec_from_file_location("config_module", path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.getcwd())
    spec.loader.exec_module(mod)
    return mod.config


def write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def pt_bytes(epoch: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00." + bytes([epoch % 256]))
    return buf.getvalue()


def finished(work_dir: str, n: int) -> bool:
    d = os.path.join(work_dir, f"epoch_{n}")
    return all(
        os.path.isfile(os.path.join(d, f)) and os.path.getsize(os.path.join(d, f)) > 0
        for f in ("training_losses.pt", "optimizer_buffer.json", "validation_scores.json")
    )


def run(config: dict) -> None:
    work_dir = config["work_dir"]
    toy = config.get("toy", {})
    epochs = config["epochs"]
    os.makedirs(work_dir, exist_ok=True)
    session = len(glob.glob(os.path.join(work_dir, "train_val*.log")))
    log = open(os.path.join(work_dir, f"train_val_{session}.log"), "a", buffering=1)
    with open(os.path.join(work_dir, f"git_{session}.log"), "w") as f:
        f.write("commit 1a2b3c4\n")
    with open(os.path.join(work_dir, "config.json"), "w") as f:
        f.write(repr({k: v for k, v in config.items() if k != "toy"}))
    start = 0
    while finished(work_dir, start):
        start += 1
    iterations = int(toy.get("iterations", 4))
    try:
        for e in range(start, epochs):
            if toy.get("hang_at") == e:
                time.sleep(10_000)
            for i in range(iterations):
                if toy.get("crash_at") == e and i == iterations // 2:
                    raise RuntimeError(f"CUDA out of memory. Tried to allocate 2.00 GiB (toy crash in epoch {e})")
                if toy.get("oom_at") == e and i == iterations // 2:
                    import resource

                    resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))
                    hog = [bytearray(64 * 2**20) for _ in range(64)]  # MemoryError well before 4 GiB
                    del hog
                log.write(f"Training [Epoch {e}/{epochs}][Iteration {i}/{iterations}] loss=0.5\n")
                time.sleep(float(toy.get("epoch_seconds", 0.2)) / iterations)
            d = os.path.join(work_dir, f"epoch_{e}")
            os.makedirs(d, exist_ok=True)
            write_atomic(os.path.join(d, "training_losses.pt"), pt_bytes(e))
            write_atomic(os.path.join(d, "optimizer_buffer.json"), b"[]")
            scores = {"aggregated": {"mean_IoU": 0.3 + 0.01 * e, "loss": 0.7 - 0.01 * e}, "per_datapoint": {"mean_IoU": [0.3], "loss": [0.7]}}
            write_atomic(os.path.join(d, "validation_scores.json"), json.dumps(scores).encode())
            progress = {"completed_epochs": e + 1, "progress_percentage": (e + 1) * 100.0 / epochs, "early_stopped": False, "early_stopped_at_epoch": None}
            write_atomic(os.path.join(work_dir, "progress.json"), json.dumps(progress).encode())
            log.write(f"Validation [Epoch {e}/{epochs}] mean_IoU={0.3 + 0.01 * e:.3f}\n")
    except BaseException:
        if toy.get("traceback_to_log"):
            log.write(traceback.format_exc())
            log.flush()
        raise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-filepath", required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    config = load_config(args.config_filepath)
    for c in config if isinstance(config, list) else [config]:
        run(c)


if __name__ == "__main__":
    main()

import io
import json
import os
import threading
import time
import zipfile


class Logger:
    """Pylon-like logger: lines flushed to <work_dir>/<prefix>_<i>.log as the run goes."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def info(self, msg):
        now = time.time()  # Python logging's default asctime: "2026-12-07 03:05:57,123"
        self.f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))},{int(now % 1 * 1000):03d} INFO {msg}\n")
        self.f.flush()

    def flush(self, prefix):
        self.info(f"{prefix} loss=0.5")


def session_index(work_dir, prefix):
    return len([n for n in os.listdir(work_dir) if n.startswith(prefix) and n.endswith(".log")])


def start_session(config, prefix):
    work_dir = config["work_dir"]
    os.makedirs(work_dir, exist_ok=True)
    i = session_index(work_dir, prefix)
    with open(os.path.join(work_dir, f"git_{i}.log"), "w") as f:
        f.write("commit 0123456789abcdef\n")
    with open(os.path.join(work_dir, "config.json"), "w") as f:
        f.write(repr(config))  # Pylon writes the repr: not valid JSON
    return Logger(os.path.join(work_dir, f"{prefix}_{i}.log"))


def pt_bytes(epoch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", bytes([epoch % 256]) * 16)
    return buf.getvalue()


def write_later(path, data, delay):
    """A file written by a background thread, in two chunks (not atomic)."""

    def run():
        time.sleep(delay)
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(delay)
            f.write(data[len(data) // 2 :])

    t = threading.Thread(target=run)
    t.start()
    return t


def scores_bytes(aggregated, n=4, sim=None, epoch=0):
    """A scores file as Pylon writes it (json.dump: NaN written as NaN); with ``sim["datapoints"]``,
    real-looking per-datapoint scores (see ``per_datapoint``), else ``n`` copies of the aggregated ones;
    ``sim["no_per_datapoint"]``: none at all."""
    sim = sim or {}
    if sim.get("no_per_datapoint"):  # an older trainer that writes the aggregated scores only
        return json.dumps({"aggregated": aggregated}).encode()
    if sim.get("datapoints"):
        per = per_datapoint(aggregated["acc"], sim, epoch)
        aggregated = dict(aggregated, class_IoU=[round(sum(c) / len(c), 6) for c in zip(*per["class_IoU"])])
    else:
        per = {k: [v] * n for k, v in aggregated.items()}
    return json.dumps({"aggregated": aggregated, "per_datapoint": per}).encode()


def per_datapoint(acc, sim, epoch):
    """``sim["datapoints"]`` scores around ``acc``: each datapoint has a fixed difficulty (the same in every
    run, so some fail everywhere), plus noise of the run (``sim["seed"]``) and epoch. ``sim["nan_at"]``: a
    datapoint whose scores are NaN; ``sim["short_metric"]``: a metric written with fewer datapoints;
    ``sim["datapoints_at"]``: ``{epoch: n}``, epochs validated on a different number of datapoints."""
    import random

    n = (sim.get("datapoints_at") or {}).get(epoch, sim["datapoints"])
    rng = random.Random(sim.get("seed", 0) * 100003 + epoch)
    accs, losses, ious = [], [], []
    for i in range(n):
        difficulty = ((i * 2654435761) % 4294967296) / 4294967296.0
        a = min(1.0, max(0.0, acc + 0.4 * (0.5 - difficulty) + rng.uniform(-0.05, 0.05)))
        if i == sim.get("nan_at"):
            a = float("nan")
        accs.append(round(a, 6) if a == a else a)
        losses.append(round(1.0 - a, 6) if a == a else a)
        ious.append([round(a * 0.9, 6) if a == a else a, round(min(1.0, a * 1.05), 6) if a == a else a])
    per = {"acc": accs, "loss": losses, "class_IoU": ious}
    if sim.get("short_metric"):
        per["loss"] = losses[: n // 2]
    return per


def nap(seconds):
    time.sleep(seconds)


def pause_point(what):
    """Block here while SIM_PAUSE_FILE names a file that exists and SIM_PAUSE_AT == what."""
    pause = os.environ.get("SIM_PAUSE_FILE")
    if pause and os.environ.get("SIM_PAUSE_AT") == what:
        open(pause + ".reached", "w").close()
        while os.path.exists(pause):
            time.sleep(0.02)

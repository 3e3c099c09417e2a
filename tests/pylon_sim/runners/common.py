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


def scores_bytes(aggregated, n=4):
    per = {k: [v] * n for k, v in aggregated.items()}
    return json.dumps({"aggregated": aggregated, "per_datapoint": per}).encode()


def nap(seconds):
    time.sleep(seconds)


def pause_point(what):
    """Block here while SIM_PAUSE_FILE names a file that exists and SIM_PAUSE_AT == what."""
    pause = os.environ.get("SIM_PAUSE_FILE")
    if pause and os.environ.get("SIM_PAUSE_AT") == what:
        open(pause + ".reached", "w").close()
        while os.path.exists(pause):
            time.sleep(0.02)

"""Hostile run folders, built the way an attacker or an accident would: each case is a file (or
link, or FIFO) where a Lightning, Hugging Face or Pylon run keeps one, or in runwatch's own
cache. Used by ``test_hostile_runs.py`` (one case at a time, and every case in one tree) and by
``python -m tests.torture.hostile_runs [PYTHONPATH]``, which prints the before/after table of
docs/RELIABILITY.md (run it with this tree and with an older one on PYTHONPATH).

Torch files are written byte by byte (pickle opcodes in a zip), never with torch: the point is
what a crafted file can do, not what torch writes.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from unittest import mock

SECRET = "TOPSECRET-a-file-outside-the-project"

# ------------------------------------------------------------------ torch files, by hand


class TensorRef:
    """A scalar float tensor in a hand-written pickle, stored in member ``data/<key>``."""

    def __init__(self, key: str = "0") -> None:
        self.key = key


def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _enc(v: object) -> bytes:
    if isinstance(v, TensorRef):
        pid = b"(" + _str("storage") + b"ctorch\nFloatStorage\n" + _str(v.key) + _str("cpu") + b"K\x01t" + b"Q"
        args = b"(" + pid + b"K\x00" + b"K\x01\x85" + b"K\x01\x85" + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"t"
        return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"
    if isinstance(v, bool):
        return b"\x88" if v else b"\x89"
    if isinstance(v, int):
        return b"J" + struct.pack("<i", v)
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)
    if isinstance(v, str):
        return _str(v)
    if v is None:
        return b"N"
    if isinstance(v, dict):
        return b"}(" + b"".join(_enc(k) + _enc(x) for k, x in v.items()) + b"u"
    if isinstance(v, list):
        return b"](" + b"".join(_enc(x) for x in v) + b"e"
    raise TypeError(v)


def torch_pickle(obj: object) -> bytes:
    """Protocol-2 pickle bytes of plain data and ``TensorRef``s, as ``torch.save`` lays them out."""
    return b"\x80\x02" + _enc(obj) + b"."


class _Repeat:
    """A deflate 'compressor' that emits one precomputed block per chunk written (zeros only)."""

    def __init__(self, block: bytes, tail: bytes) -> None:
        self.block, self.tail = block, tail

    def compress(self, data: bytes) -> bytes:
        return self.block

    def flush(self) -> bytes:
        return self.tail


def torch_zip(path: str, data_pkl: bytes, storages: dict[str, bytes] | None = None, bomb_gib: int = 0) -> None:
    """A torch.save-format zip: ``archive/data.pkl``, ``archive/data/<key>`` storages, and with
    ``bomb_gib`` a storage ``archive/data/0`` that inflates to that many GiB of zeros (about
    1 MB compressed per GiB; its CRC is not computed, as an attacker would not bother)."""
    storages = dict(storages or {})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", "3\n")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        if bomb_gib:
            chunk = bytes(64 << 20)
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
            tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
            info = zipfile.ZipInfo("archive/data/0")
            info.compress_type = zipfile.ZIP_DEFLATED
            with mock.patch.object(zipfile, "crc32", lambda data, crc=0: crc), z.open(info, "w", force_zip64=True) as m:
                m._compressor = _Repeat(block, tail)  # type: ignore[attr-defined]
                for _ in range(bomb_gib * 16):
                    m.write(chunk)


def memo_bomb_pickle(levels: int = 60) -> bytes:
    """``a = [a, a]`` ``levels`` times: a few hundred bytes, 2^levels paths for a walker without a memo."""
    a: list[object] = [0]
    for _ in range(levels):
        a = [a, a]
    return pickle.dumps({"epoch": 1, "global_step": 10, "callbacks": {"EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {"patience": a}}}, protocol=2)


CKPT_STATE = {
    "epoch": 1,
    "global_step": 20,
    "callbacks": {"EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {"best_score": TensorRef("0"), "patience": 3, "stopped_epoch": 0, "wait_count": 0}},
}

# ------------------------------------------------------------------ runs


def lightning_run(folder: str, *, epochs_done: int = 2, max_epochs: int = 3) -> str:
    """A plain Lightning CSVLogger run folder (hparams.yaml, metrics.csv, one checkpoint)."""
    os.makedirs(os.path.join(folder, "checkpoints"), exist_ok=True)
    with open(os.path.join(folder, "hparams.yaml"), "w") as f:
        f.write(f"max_epochs: {max_epochs}\nlr: 0.01\n")
    rows = ["epoch,step,train_loss,val_loss"]
    for e in range(epochs_done):
        rows.append(f"{e},{e * 10 + 9},{1.0 / (e + 1)},")
        rows.append(f"{e},{e * 10 + 9},,{0.9 / (e + 1)}")
    with open(os.path.join(folder, "metrics.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    torch_zip(
        os.path.join(folder, "checkpoints", f"epoch={epochs_done - 1}-step={epochs_done * 10}.ckpt"), torch_pickle(CKPT_STATE), {"0": struct.pack("<f", 0.45)}
    )
    return folder


def hf_run(folder: str, *, step: int = 4, max_steps: int = 8) -> str:
    os.makedirs(folder, exist_ok=True)
    state = {"global_step": step, "max_steps": max_steps, "epoch": step / 2, "num_train_epochs": max_steps // 2, "log_history": [{"loss": 1.0, "step": step}]}
    with open(os.path.join(folder, "trainer_state.json"), "w") as f:
        json.dump(state, f)
    torch_zip(os.path.join(folder, "training_args.bin"), torch_pickle({"num_train_epochs": max_steps // 2, "max_steps": max_steps}))
    return folder


def _swap(path: str, how: str) -> None:
    """Put ``how`` in ``path``'s place: 'fifo', or a link target."""
    if os.path.lexists(path):
        os.unlink(path)
    if how == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(how, path)


def _event_file(folder: str) -> str:
    return os.path.join(folder, "events.out.tfevents.1700000000.host.123.0")


def _ckpt(folder: str) -> str:
    d = os.path.join(folder, "checkpoints")
    return os.path.join(d, sorted(os.listdir(d))[-1])


# Each case: name -> (builder(root) -> (run name or None, the path it planted), what it is).
# Builders make their own run (a Lightning or HF run folder) so that cases never share one.
Case = Callable[[str], tuple[str | None, str]]


def _lt(root: str, name: str) -> str:
    return lightning_run(os.path.join(root, "lightning_logs", name, "version_0"))


def _fifo_in_lightning(which: str) -> Case:
    def build(root: str) -> tuple[str | None, str]:
        v = _lt(root, f"fifo_{which}")
        path = {
            "hparams.yaml": os.path.join(v, "hparams.yaml"),
            "metrics.csv": os.path.join(v, "metrics.csv"),
            "ckpt": _ckpt(v) if which == "ckpt" else "",
            "events": _event_file(v),
        }[which]
        _swap(path, "fifo")
        return f"lightning_logs/fifo_{which}/version_0", path

    return build


def _dev_zero_in_lightning(which: str) -> Case:
    def build(root: str) -> tuple[str | None, str]:
        v = _lt(root, f"zero_{which}")
        path = {"hparams.yaml": os.path.join(v, "hparams.yaml"), "metrics.csv": os.path.join(v, "metrics.csv"), "ckpt": _ckpt(v), "events": _event_file(v)}[
            which
        ]
        _swap(path, "/dev/zero")
        return f"lightning_logs/zero_{which}/version_0", path

    return build


def _hf_training_args(how: str) -> Case:
    def build(root: str) -> tuple[str | None, str]:
        d = hf_run(os.path.join(root, "hf", f"args_{how.strip('/').replace('/', '_')}"))
        path = os.path.join(d, "training_args.bin")
        if how == "memo":
            torch_zip(path, memo_bomb_pickle())
        else:
            _swap(path, how)
        return os.path.relpath(d, root), path

    return build


def _ckpt_memo_bomb(root: str) -> tuple[str | None, str]:
    v = _lt(root, "memo_bomb")
    path = _ckpt(v)
    torch_zip(path, memo_bomb_pickle())
    return "lightning_logs/memo_bomb/version_0", path


def _ckpt_zip_bomb(root: str) -> tuple[str | None, str]:
    v = _lt(root, "zip_bomb")
    path = _ckpt(v)
    torch_zip(path, torch_pickle(CKPT_STATE), bomb_gib=2)
    return "lightning_logs/zip_bomb/version_0", path


def _wide_csv(root: str) -> tuple[str | None, str]:
    v = _lt(root, "wide_csv")
    path = os.path.join(v, "metrics.csv")
    n = 2_000_000
    with open(path, "w") as f:
        f.write("epoch,step," + ",".join(f"m{i}" for i in range(n)) + "\n")
        f.write("0,9," + ",".join("1" for _ in range(n)) + "\n")
    return "lightning_logs/wide_csv/version_0", path


def _billion_laughs(root: str) -> tuple[str | None, str]:
    v = _lt(root, "laughs")
    path = os.path.join(v, "hparams.yaml")
    lines = ["max_epochs: 3", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return "lightning_logs/laughs/version_0", path


def _huge_event_record(root: str) -> tuple[str | None, str]:
    v = _lt(root, "event_record")
    path = _event_file(v)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 1 << 40) + b"\0" * 4 + b"x" * 64)  # a record that claims 1 TiB
    return "lightning_logs/event_record/version_0", path


def _project_events_fifo(root: str) -> tuple[str | None, str]:
    d = os.path.join(root, "agents", "launcher")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "collector_events.json")
    _swap(path, "fifo")
    return None, path


def _own_file(name: str, how: str) -> Case:
    def build(root: str) -> tuple[str | None, str]:
        d = os.path.join(root, ".runwatch-cache")
        os.makedirs(d, exist_ok=True)
        if name == "hot":
            from runwatch.configs.hot_file import HOT_FILE

            path = os.path.join(d, HOT_FILE)
        elif name == "store":
            path = os.path.join(d, _store_name())
        else:
            path = os.path.join(d, name)
        _swap(path, how)
        return None, path

    return build


def _store_name() -> str:
    from runwatch.layout import Project
    from runwatch.run_status.engine import store_path

    return os.path.basename(store_path(Project.at("/nonexistent-project-root")))


def _log_link_out(root: str) -> tuple[str | None, str]:
    """A Lightning run whose log (the newest file) links to a file outside the project."""
    outside = os.path.join(os.path.dirname(root.rstrip(os.sep)), "outside")
    os.makedirs(outside, exist_ok=True)
    secret = os.path.join(outside, "secret.log")
    with open(secret, "w") as f:
        f.write(f"{SECRET}\nTraceback (most recent call last):\nRuntimeError: {SECRET}\n")
    v = _lt(root, "log_link")
    path = os.path.join(v, "train_val.log")
    os.symlink(secret, path)
    later = os.stat(os.path.join(v, "metrics.csv")).st_mtime + 5
    os.utime(secret, (later, later))  # the newest log: its end is read, its tail shown
    return "lightning_logs/log_link/version_0", path


CASES: dict[str, tuple[Case, str]] = {
    "hparams.yaml FIFO": (_fifo_in_lightning("hparams.yaml"), "fifo"),
    "metrics.csv FIFO": (_fifo_in_lightning("metrics.csv"), "fifo"),
    "checkpoint FIFO": (_fifo_in_lightning("ckpt"), "fifo"),
    "event file FIFO": (_fifo_in_lightning("events"), "fifo"),
    "training_args.bin FIFO": (_hf_training_args("fifo"), "fifo"),
    "collector_events.json FIFO": (_project_events_fifo, "fifo"),
    "own collector-events.jsonl FIFO": (_own_file("collector-events.jsonl", "fifo"), "fifo"),
    "own hot config pickle FIFO": (_own_file("hot", "fifo"), "fifo"),
    "own progress store FIFO": (_own_file("store", "fifo"), "fifo"),
    "hparams.yaml -> /dev/zero": (_dev_zero_in_lightning("hparams.yaml"), "device"),
    "metrics.csv -> /dev/zero": (_dev_zero_in_lightning("metrics.csv"), "device"),
    "checkpoint -> /dev/zero": (_dev_zero_in_lightning("ckpt"), "device"),
    "event file -> /dev/zero": (_dev_zero_in_lightning("events"), "device"),
    "training_args.bin -> /dev/zero": (_hf_training_args("/dev/zero"), "device"),
    "own hot config pickle -> /dev/zero": (_own_file("hot", "/dev/zero"), "device"),
    "own progress store -> /dev/zero": (_own_file("store", "/dev/zero"), "device"),
    "checkpoint pickle a=[a,a] x60": (_ckpt_memo_bomb, "budget"),
    "training_args.bin a=[a,a] x60": (_hf_training_args("memo"), "budget"),
    "checkpoint storage inflating to 2 GiB": (_ckpt_zip_bomb, "budget"),
    "metrics.csv of 2,000,000 columns": (_wide_csv, "budget"),
    "hparams.yaml billion laughs": (_billion_laughs, "budget"),
    "event record claiming 1 TiB": (_huge_event_record, "budget"),
    "log linked outside the project": (_log_link_out, "outside"),
}

# ------------------------------------------------------------------ measuring one case (before/after)

_RUNNER = r"""
import json, os, resource, subprocess, sys, time
root, limit, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def lim():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
t = time.time()
try:
    r = subprocess.run([sys.executable, "-m", "runwatch.cli", "status", "--json", "--no-local", "--root", root], capture_output=True, text=True, timeout=timeout, preexec_fn=lim)
    took = time.time() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(json.dumps({"rc": r.returncode, "seconds": round(took, 2), "peak_mb": peak, "stdout": r.stdout[-200000:], "stderr": r.stderr[-2000:]}))
except subprocess.TimeoutExpired:
    print(json.dumps({"timeout": True, "seconds": timeout}))
"""


def measure(root: str, pythonpath: str, memory: int, timeout: float) -> dict[str, object]:
    """``runwatch status --json`` on ``root`` in a fresh process (RLIMIT_AS ``memory``), with its time and peak RSS."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=pythonpath, COLUMNS="200", NO_COLOR="1")
    # cwd: the project (``-m`` puts the working directory first on sys.path: never this checkout's code by accident).
    out = subprocess.run(
        [sys.executable, "-c", _RUNNER, root, str(memory), str(timeout)], capture_output=True, text=True, env=env, timeout=timeout + 30, check=True, cwd=root
    )
    return json.loads(out.stdout)


def _summary(got: dict[str, object], run: str | None, path: str) -> str:
    if got.get("timeout"):
        return f"> {got['seconds']:.0f} s (killed)"
    if got["rc"] != 0:
        last = str(got["stderr"]).strip().splitlines()[-1:] or ["?"]
        return f"{got['seconds']} s, {got['peak_mb']} MB, exit {got['rc']}, no table ({last[0][:60]})"
    try:
        rows = {r["run"]: r for r in json.loads(str(got["stdout"]))["runs"]}
    except ValueError:
        return f"{got['seconds']} s, {got['peak_mb']} MB, no JSON"
    said = ""
    if run is not None and run in rows:
        r = rows[run]
        said = "a warning naming the file" if any(path in w for w in (r.get("warnings") or []) + [r.get("error_message") or ""]) else "no warning"
        if SECRET in json.dumps(r):
            said = "the outside file's text in the run"
    return f"{got['seconds']} s, {got['peak_mb']} MB, table printed" + (f", {said}" if said else "")


def main() -> None:
    import tempfile

    pythonpath = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    memory = (int(sys.argv[3]) if len(sys.argv) > 3 else 4096) << 20
    print(f"| case | {pythonpath} |\n|---|---|")
    for name, (build, _) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "proj")
            os.makedirs(root)
            lightning_run(os.path.join(root, "lightning_logs", "control", "version_0"))
            run, path = build(root)
            got = measure(root, pythonpath, memory, timeout)
            print(f"| {name} | {_summary(got, run, path)} |", flush=True)


if __name__ == "__main__":
    main()

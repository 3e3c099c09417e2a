"""`runwatch serve` on a folder of Hugging Face and Lightning runs only (no configs/): real writers.

Two real runs (an HF Trainer and a Lightning Trainer on the CPU) pause mid-training; the
server lists them, then they are released and a third run is started. Each new epoch and
the new run must reach a WebSocket client within 2 s of the file that shows it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.test_layouts_real import ENV, NEEDED, WRITERS, _wait

pytestmark = [
    pytest.mark.slow,  # real framework runs (the slow tier, with tests/test_layouts_real.py)
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED), reason="needs the test extra: " + ", ".join(NEEDED)),
]

LATENCY_S = 2.0


class FirstSeen:
    """Polls the disk every 10 ms and records when each named condition first holds."""

    def __init__(self, checks: dict[str, object]) -> None:
        self.checks = checks
        self.at: dict[str, float] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.at) < len(self.checks):
            now = time.time()
            for name, check in self.checks.items():
                if name not in self.at and check():
                    self.at[name] = now
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def _csv_epochs(path: str) -> int:
    """The highest epoch index with a validation row in a CSVLogger metrics.csv (-1: none)."""
    try:
        with open(path) as f:
            rows = f.read().splitlines()
    except OSError:
        return -1
    if not rows:
        return -1
    head = rows[0].split(",")
    if "val_loss" not in head or "epoch" not in head:
        return -1
    vi, ei = head.index("val_loss"), head.index("epoch")
    best = -1
    for r in rows[1:]:
        cells = r.split(",")
        if len(cells) > max(vi, ei) and cells[vi] and cells[ei]:
            best = max(best, int(float(cells[ei])))
    return best


def test_serve_on_a_folder_of_hf_and_lightning_runs_is_live(tmp_path):
    from websockets.asyncio.client import connect

    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    from tests.ws_helpers import recv_until

    root = tmp_path
    hf, pl = root / "outputs", root / "lightning_logs"
    hf.mkdir()
    pl.mkdir()
    kw = dict(cwd=str(root), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    held = [
        subprocess.Popen([sys.executable, os.path.join(WRITERS, "hf_run.py"), str(hf), "hold"], **kw),
        subprocess.Popen([sys.executable, os.path.join(WRITERS, "lightning_run.py"), str(pl), "hold"], **kw),
    ]
    procs = list(held)
    try:
        _wait(lambda: (hf / "hold.held").exists() and (pl / "hold.held").exists(), 240, procs)
        with BackgroundServer(str(root), sweep_interval=5.0, monitor=ProcessSnapshot()) as srv:
            with urllib.request.urlopen(srv.base + "api/summary", timeout=30) as r:
                summary = json.loads(r.read())
            assert summary["root_missing"] is False and summary["total"] == 2
            assert summary["total_epochs"] >= summary["completed_epochs"] or summary["total_epochs"] == 0

            hf_new_state = hf / "hold" / "checkpoint-12" / "trainer_state.json"
            new_run_state = hf / "complete" / "checkpoint-4" / "trainer_state.json"
            seen = FirstSeen(
                {
                    "hf_epoch": hf_new_state.exists,
                    "pl_epoch": lambda: _csv_epochs(str(pl / "hold" / "version_0" / "metrics.csv")) >= 2,
                    "new_run": new_run_state.exists,
                }
            )

            async def main() -> dict[str, float]:
                got: dict[str, float] = {}
                async with connect(srv.ws_url) as ws:
                    snap = json.loads(await ws.recv())
                    assert snap["type"] == "snapshot"
                    names = {r["run"]: r for r in snap["runs"]}
                    assert set(names) == {"outputs/hold", "lightning_logs/hold/version_0"}, names
                    assert names["outputs/hold"]["completed_epochs"] == 2 and names["lightning_logs/hold/version_0"]["completed_epochs"] == 2
                    assert not snap["summary"]["root_missing"]
                    ids = {n: r["id"] for n, r in names.items()}
                    (hf / "hold.release").touch()
                    (pl / "hold.release").touch()

                    def epoch_of(m: dict, name: str, n: int) -> bool:
                        return m["type"] == "delta" and any(r["id"] == ids[name] and r["completed_epochs"] >= n for r in m["changed"])

                    want = {"hf_epoch": ("outputs/hold", 3), "pl_epoch": ("lightning_logs/hold/version_0", 3)}
                    while want:
                        m = await recv_until(ws, lambda m: any(epoch_of(m, n, k) for n, k in want.values()), timeout=120)
                        t = time.time()
                        for key, (n, k) in list(want.items()):
                            if epoch_of(m, n, k):
                                got[key] = t
                                del want[key]
                    procs.append(subprocess.Popen([sys.executable, os.path.join(WRITERS, "hf_run.py"), str(hf), "complete"], **kw))
                    await recv_until(ws, lambda m: m["type"] == "delta" and any(r["run"] == "outputs/complete" for r in m["added"]), timeout=180)
                    got["new_run"] = time.time()
                return got

            got = asyncio.run(main())
            seen.stop()
        latencies = {}
        for key in ("hf_epoch", "pl_epoch", "new_run"):
            assert key in seen.at, f"{key}: never seen on disk"
            latencies[key] = got[key] - seen.at[key]
        print("on disk -> WebSocket client: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in latencies.items()))
        assert all(v < LATENCY_S for v in latencies.values()), latencies
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()

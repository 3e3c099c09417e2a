"""The dashboard server over real sockets: REST, Prometheus text, and the WebSocket protocol.

Every test starts a real uvicorn server on a free loopback port and talks to it with
real clients (urllib, the ``websockets`` library, raw sockets for a client that never reads).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.asyncio.client import connect

from runwatch.process_info import ProcessSnapshot
from ws_helpers import recv_until
from runwatch.server import BackgroundServer
from runwatch.testing.generator import generate_tree
from tests.test_live import add_epoch, first


@pytest.fixture
def served(tree):
    with BackgroundServer(tree.root, sweep_interval=3600, monitor=ProcessSnapshot(processes=list(tree.processes))) as srv:
        yield tree, srv


def get(url: str, headers: dict | None = None) -> tuple[int, dict | str, dict]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
            ctype = r.headers.get("content-type", "")
            return r.status, json.loads(body) if "json" in ctype else body, dict(r.headers)
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        return e.code, json.loads(body) if body.startswith("{") else body, dict(e.headers)


# ---------------------------------------------------------------- REST


def test_runs_endpoint_filters_sorts_and_paginates(served):
    tree, srv = served
    code, data, headers = get(srv.base + "api/runs")
    assert code == 200 and data["total"] == len(tree.runs) and len(data["runs"]) == len(tree.runs)
    assert "default-src 'self'" in headers["content-security-policy"]
    rec = data["runs"][0]
    assert {"id", "run", "status", "progress_percentage", "completed_epochs", "best_score", "eta_seconds", "process_info", "main_score"} <= set(rec)
    want_failed = sum(1 for r in tree.runs if r.status == "failed")
    _, f, _ = get(srv.base + "api/runs?status=failed")
    assert f["total"] == want_failed and all(r["status"] == "failed" for r in f["runs"])
    _, two, _ = get(srv.base + "api/runs?status=failed,running")
    assert two["total"] == want_failed + sum(1 for r in tree.runs if r.status == "running")
    _, pre, _ = get(srv.base + "api/runs?prefix=evals/group_1")
    assert pre["total"] == sum(1 for r in tree.runs if r.rel.startswith("evals/group_1/")) > 0
    _, q, _ = get(srv.base + "api/runs?q=RUN_1")
    assert q["total"] == sum(1 for r in tree.runs if "run_1" in r.rel) > 0
    _, srt, _ = get(srv.base + "api/runs?sort=-progress_percentage&limit=5&offset=1")
    assert srt["total"] == len(tree.runs) and len(srt["runs"]) == 5
    _, allsorted, _ = get(srv.base + "api/runs?sort=-progress_percentage")
    pcts = [r["progress_percentage"] for r in allsorted["runs"]]
    assert pcts == sorted(pcts, reverse=True) and [r["id"] for r in srt["runs"]] == [r["id"] for r in allsorted["runs"][1:6]]
    _, best, _ = get(srv.base + "api/runs?sort=best")
    # Better first, whatever the metric's direction (runwatch.view_model.score_sort_value, as the page sorts).
    vals = [
        -r["main_score"]["best"] if (r["main_score"]["direction"] or 0) >= 0 else r["main_score"]["best"]
        for r in best["runs"]
        if r["main_score"] and r["main_score"]["best"] is not None
    ]
    assert vals == sorted(vals)
    has = [bool(r["main_score"] and r["main_score"]["best"] is not None) for r in best["runs"]]
    assert has == sorted(has, reverse=True)  # runs without a score come last
    for bad in ("status=bogus", "sort=work_dir", "limit=-1", "offset=x", "limit=100000"):
        code, err, _ = get(srv.base + "api/runs?" + bad)
        assert code == 400 and bad.split("=")[0] in err["error"]


def test_run_detail_has_series_timeline_facts_and_log(served):
    tree, srv = served
    exp = first(tree, "early_stopped")
    _, data, _ = get(srv.base + "api/runs?q=" + exp.rel)
    rid = data["runs"][0]["id"]
    code, d, _ = get(srv.base + f"api/runs/{rid}")
    assert code == 200 and d["run"] == exp.rel and d["early_stopped"]
    det = d["detail"]
    series = det["series"][exp.main_key]
    assert [p[0] for p in series] == list(range(exp.completed_epochs))
    assert d["best_epoch"] is not None and series[d["best_epoch"]][1] == exp.best_value
    assert len(det["timeline"]) >= exp.completed_epochs and all(t["finished"] for t in det["timeline"][: exp.completed_epochs])
    assert det["facts"]["early_stopping_patience"] is not None
    assert det["log_tail"]["name"].startswith("train_val") and det["log_tail"]["lines"]
    ev = first(tree, "evaluator_finished")
    _, data, _ = get(srv.base + "api/runs?q=" + ev.rel)
    _, d2, _ = get(srv.base + "api/runs/" + data["runs"][0]["id"])
    assert {r["key"]: r["value"] for r in d2["detail"]["scores_table"]}[ev.main_key] == ev.best_value
    failed = first(tree, "failed")
    _, data, _ = get(srv.base + "api/runs?q=" + failed.rel)
    _, d3, _ = get(srv.base + "api/runs/" + data["runs"][0]["id"])
    assert "OutOfMemoryError" in d3["error_message"]


@pytest.mark.parametrize("path", ["api/runs/0123456789ab", "api/runs/..%2F..%2Fetc%2Fpasswd", "api/runs/%2Fetc%2Fpasswd", "static/..%2F..%2Fsettings.py"])
def test_unknown_ids_and_paths_are_refused(served, path):
    _, srv = served
    code, body, _ = get(srv.base + path)
    assert code == 404
    assert "root:" not in str(body) and "class Settings" not in str(body)


def test_summary_healthz_and_metrics(served):
    tree, srv = served
    _, s, _ = get(srv.base + "api/summary")
    assert s["total"] == len(tree.runs) and s["by_status"]["failed"] == sum(1 for r in tree.runs if r.status == "failed")
    _, hz, _ = get(srv.base + "healthz")
    assert hz["ok"] and hz["runs"] == len(tree.runs) and hz["watcher"] in ("inotify", "polling")
    code, text, headers = get(srv.base + "metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = text.splitlines()
    c = s["cluster"]  # every series carries the agent's name (issue 18)
    assert c and c == srv.index.cluster
    for st, n in s["by_status"].items():
        assert f'runwatch_runs{{cluster="{c}",status="{st}"}} {n}' in lines
    # Per-run series only for active runs, so label cardinality stays bounded (issue 18).
    fin = first(tree, "finished")
    assert not any(f'run="{fin.rel}"' in line for line in lines)
    run = next(r for r in srv.index.records()[1] if r["status"] == "running")
    assert any(line.startswith(f'runwatch_run_progress{{cluster="{c}",run="{run["run"]}",status="running"}} ') for line in lines)
    assert "# TYPE runwatch_run_progress gauge" in lines and f'runwatch_ws_clients{{cluster="{c}"}} 0' in lines


# ---------------------------------------------------------------- WebSocket protocol


def test_snapshot_then_delta_after_an_epoch_is_written(served):
    tree, srv = served
    exp = first(tree, "running")

    async def main():
        async with connect(srv.ws_url) as ws:
            snap = json.loads(await ws.recv())
            assert snap["type"] == "snapshot" and len(snap["runs"]) == len(tree.runs)
            assert snap["summary"]["total"] == len(tree.runs)
            rec = next(r for r in snap["runs"] if r["run"] == exp.rel)
            seqs = [snap["seq"]]
            for _ in range(2):
                await asyncio.to_thread(add_epoch, tree, exp.rel)
                d = await recv_until(
                    ws, lambda m: m["type"] == "delta" and any(r["id"] == rec["id"] and r["completed_epochs"] == exp.completed_epochs for r in m["changed"])
                )
                seqs.append(d["seq"])
            return rec, seqs

    _, seqs = asyncio.run(main())
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_resync_and_subscriptions(served):
    tree, srv = served
    running = {r.rel for r in tree.runs if r.status == "running"}

    async def main():
        async with connect(srv.ws_url + "?status=running") as ws:
            snap = json.loads(await ws.recv())
            assert {r["run"] for r in snap["runs"]} == running and snap["filter"]["statuses"] == ["running"]
            await ws.send(json.dumps({"type": "subscribe", "prefix": "evals"}))
            snap2 = await recv_until(ws, lambda m: m["type"] == "snapshot")
            assert {r["run"] for r in snap2["runs"]} == {r.rel for r in tree.runs if r.rel.startswith("evals/")}
            await ws.send(json.dumps({"type": "subscribe", "statuses": ["nonsense"]}))
            err = await recv_until(ws, lambda m: m["type"] == "error")
            assert "nonsense" in err["message"]
            await ws.send("not json")
            await recv_until(ws, lambda m: m["type"] == "error")
            await ws.send(json.dumps({"type": "ping"}))
            await recv_until(ws, lambda m: m["type"] == "pong")
            exp = first(tree, "running")
            await asyncio.to_thread(add_epoch, tree, exp.rel)
            # A trainer outside the "evals" subscription changed: the delta still comes (for seq) but carries no record.
            d = await recv_until(ws, lambda m: m["type"] == "delta")
            assert all(r["run"].startswith("evals/") for r in d["changed"] + d["added"])
            await ws.send(json.dumps({"type": "resync"}))
            snap3 = await recv_until(ws, lambda m: m["type"] == "snapshot")
            assert snap3["seq"] >= d["seq"]
        async with connect(srv.ws_url + "?status=bogus") as ws2:
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws2.recv()
            assert e.value.rcvd.code == 1008

    asyncio.run(main())


def test_heartbeats_carry_the_sequence_number(tree):
    with BackgroundServer(tree.root, sweep_interval=3600, heartbeat_s=0.2) as srv:

        async def main():
            async with connect(srv.ws_url) as ws:
                snap = json.loads(await ws.recv())
                hb = await recv_until(ws, lambda m: m["type"] == "heartbeat", timeout=5)
                return snap, hb

        snap, hb = asyncio.run(main())
        assert hb["seq"] == snap["seq"] and hb["time"] > 0


def test_a_hundred_clients_all_get_the_delta(served):
    tree, srv = served
    exp = first(tree, "running")

    async def main():
        clients = []
        for _ in range(10):
            clients += await asyncio.gather(*(connect(srv.ws_url, max_size=None) for _ in range(10)))
        snaps = await asyncio.gather(*(c.recv() for c in clients))
        assert all(json.loads(s)["type"] == "snapshot" for s in snaps)
        await asyncio.to_thread(add_epoch, tree, exp.rel)
        got = await asyncio.gather(*(recv_until(c, lambda m: m["type"] == "delta" and any(r["run"] == exp.rel for r in m["changed"])) for c in clients))
        await asyncio.gather(*(c.close() for c in clients))
        return got

    got = asyncio.run(main())
    assert len(got) == 100 and len({g["seq"] for g in got}) == 1


def _raw_ws(host: str, port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(1)
    assert b" 101 " in buf.split(b"\r\n")[0]
    return s


def _masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_client_that_never_reads_does_not_slow_the_others(tmp_path):
    tree = generate_tree(str(tmp_path / "p"), n_runs=300, seed=5, n_seeds=5)
    with BackgroundServer(tree.root, sweep_interval=3600, queue_size=8, send_timeout_s=2.0) as srv:
        host, port = "127.0.0.1", int(srv.base.rsplit(":", 1)[1].strip("/"))
        slow = _raw_ws(host, port)
        stop = threading.Event()

        def ask_for_snapshots() -> None:
            # Ask for a snapshot every few ms and never read one: the server's sends to it soon block.
            while not stop.is_set():
                try:
                    slow.sendall(_masked_text(b'{"type":"resync"}'))
                except OSError:
                    return
                time.sleep(0.005)

        asker = threading.Thread(target=ask_for_snapshots, daemon=True)
        asker.start()
        running = [r.rel for r in tree.runs if r.status == "running" and r.kind == "trainer"][:6]

        async def main():
            latencies = []
            async with connect(srv.ws_url, max_size=None) as fast:
                json.loads(await fast.recv())
                for rel in running:
                    t0 = time.monotonic()
                    await asyncio.to_thread(add_epoch, tree, rel)
                    await recv_until(fast, lambda m, rel=rel: m["type"] == "delta" and any(r["run"] == rel for r in m["changed"]), timeout=10)
                    latencies.append(time.monotonic() - t0)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and srv.app_state.ws.drops == 0:
                    await asyncio.to_thread(add_epoch, tree, running[0])
                    await asyncio.sleep(0.3)
            return latencies

        try:
            lat = asyncio.run(main())
        finally:
            stop.set()
            asker.join(5)
        assert max(lat) < 5.0, lat
        assert srv.app_state.ws.drops >= 1
        assert len(srv.app_state.ws.clients) == 0
        slow.close()


# ---------------------------------------------------------------- safety


def test_token_is_required_everywhere(tree):
    with BackgroundServer(tree.root, sweep_interval=3600, token="s3cret-tok-0123456789") as srv:
        assert srv.url.endswith("?token=s3cret-tok-0123456789")
        for path in ("", "api/runs", "api/summary", "healthz", "metrics", "static/app.js"):
            assert get(srv.base + path)[0] == 401, path
        assert get(srv.base + "api/runs?token=wrong")[0] == 401
        assert get(srv.base + "api/runs", {"Authorization": "Bearer wrong"})[0] == 401
        code, _, headers = get(srv.base + "?token=s3cret-tok-0123456789")
        assert code == 200 and "runwatch_token=s3cret-tok-0123456789" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
        assert get(srv.base + "api/runs", {"Authorization": "Bearer s3cret-tok-0123456789"})[0] == 200
        assert get(srv.base + "api/runs", {"Cookie": "runwatch_token=s3cret-tok-0123456789"})[0] == 200

        async def main():
            with pytest.raises(websockets.InvalidStatus) as e:
                async with connect(srv.ws_url):
                    pass
            assert e.value.response.status_code == 403
            async with connect(srv.ws_url + "?token=s3cret-tok-0123456789") as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"
            async with connect(srv.ws_url, additional_headers={"Cookie": "runwatch_token=s3cret-tok-0123456789"}) as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"

        asyncio.run(main())


def test_cross_origin_websocket_and_foreign_host_are_refused(served):
    _, srv = served
    host = srv.base.split("://", 1)[1].strip("/")

    async def main():
        with pytest.raises(websockets.InvalidStatus) as e:
            async with connect(srv.ws_url, origin="http://evil.example"):
                pass
        assert e.value.response.status_code == 403
        async with connect(srv.ws_url, origin=f"http://{host}") as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"

    asyncio.run(main())
    # DNS rebinding: a page served as evil.example that resolves to 127.0.0.1 must get nothing.
    code, body, _ = get(srv.base + "api/runs", {"Host": "evil.example"})
    assert code == 403 and "host" in body["error"]
    assert get(srv.base + "api/runs", {"Host": f"localhost:{host.rsplit(':', 1)[1]}"})[0] == 200


def test_binding_a_non_loopback_host_generates_a_token(tree):
    with BackgroundServer(tree.root, host="0.0.0.0", sweep_interval=3600) as srv:
        assert srv.token and len(srv.token) >= 24 and srv.url.endswith("?token=" + srv.token)
        assert get(srv.base + "api/summary")[0] == 401
        assert get(srv.base + "api/summary?token=" + srv.token)[0] == 200


def test_run_server_shuts_down_cleanly_on_sigterm(tree):
    code = f"import sys; from runwatch.server import run_server; run_server({tree.root!r}, port=0, on_ready=lambda url: print('READY', url, flush=True))"
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__))
    )
    try:
        line = p.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), (line, p.stderr.read() if p.poll() is not None else "")
        url = line.split()[1]
        assert get(url + "healthz")[1]["ok"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert "Traceback" not in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()


# ---------------------------------------------------------------- measurement


@pytest.mark.slow
def test_measure_epoch_to_client_latency(tmp_path, capsys):
    """Reports p50/p95 from writing an epoch's last file to a WebSocket client holding the delta (inotify)."""
    tree = generate_tree(str(tmp_path / "p"), n_runs=200, seed=11, n_seeds=5, max_epochs=40)
    running = [r.rel for r in tree.runs if r.status == "running" and r.kind == "trainer"]
    with BackgroundServer(tree.root, sweep_interval=3600) as srv:

        async def main():
            out = []
            async with connect(srv.ws_url, max_size=None) as ws:
                json.loads(await ws.recv())
                for i in range(40):
                    rel = running[i % len(running)]
                    if tree.by_rel()[rel].completed_epochs >= tree.by_rel()[rel].total_epochs - 1:
                        continue
                    t0 = time.perf_counter()
                    await asyncio.to_thread(add_epoch, tree, rel)
                    await recv_until(ws, lambda m, rel=rel: m["type"] == "delta" and any(r["run"] == rel for r in m["changed"]))
                    out.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.05)
            return out

        lat = asyncio.run(main())
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p95 = lat[int(0.95 * (len(lat) - 1))] * 1000
    with capsys.disabled():
        print(f"\nepoch-to-client latency over {len(lat)} epochs: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    assert p95 < 3000


def test_background_first_scan_reaches_clients_as_deltas(tmp_path):
    tree = generate_tree(str(tmp_path / "p"), n_runs=120, seed=4, n_seeds=5)
    with BackgroundServer(tree.root, sweep_interval=3600, scan_in_background=True) as srv:

        async def main():
            async with connect(srv.ws_url, max_size=None) as ws:
                snap = json.loads(await ws.recv())
                ids = {r["id"] for r in snap["runs"]}
                last = snap
                while last["summary"]["scanning"] or len(ids) < len(tree.runs):
                    last = await recv_until(ws, lambda m: m["type"] == "delta", timeout=60)
                    ids |= {r["id"] for r in last["added"]}
                return ids, last

        ids, last = asyncio.run(main())
        assert len(ids) == len(tree.runs) and last["summary"]["total"] == len(tree.runs)
        assert get(srv.base + "healthz")[1]["scanning"] is False and get(srv.base + "healthz")[1]["ready"] is True

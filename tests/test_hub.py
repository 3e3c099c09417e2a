"""The hub over real agents: `runwatch serve` processes on loopback ports over generated trees.

Agents are real CLI subprocesses (killed with SIGKILL and restarted on the same port
where the test needs it); the hub is the real `runwatch hub` command or, where a test
needs short back-off, the same server in a thread. Clients are urllib, the
``websockets`` library and prometheus_client's text-format parser.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from runwatch.hub import AgentSpec, AgentSpecError, Backoff, build_hub, parse_agents
from runwatch.hub.index import HubIndex
from runwatch.hub.subscriber import Subscriber
from runwatch.server import BackgroundServer
from runwatch.testing.generator import generate_tree
from tests.test_live import add_epoch
from ws_helpers import recv_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
VOLATILE = ("checked_at",)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            body = r.read().decode()
            return r.status, json.loads(body) if "json" in r.headers.get("content-type", "") else body
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(pred: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


class Proc:
    """A `runwatch` CLI subprocess that prints its URL once listening."""

    def __init__(self, *args: str, prefix: str, timeout: float = 60.0) -> None:
        self.args = args
        self.p = subprocess.Popen([sys.executable, "-m", "runwatch.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        self.url = self._read_url(prefix, timeout)
        self.base = self.url.split("?", 1)[0]

    def _read_url(self, prefix: str, timeout: float) -> str:
        assert self.p.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.5):
                if self.p.poll() is not None:
                    break
                continue
            chunk = os.read(self.p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix) :].split()[0]
        self.stop()
        err = self.p.stderr.read().decode(errors="replace") if self.p.stderr else ""
        raise AssertionError(f"{' '.join(self.args)} did not print its URL: {buf.decode(errors='replace')} {err}")

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> str:
        """SIGTERM, wait; returns what it wrote to stderr."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.stderr.read().decode(errors="replace") if self.p.stderr else ""


def agent(root: str, name: str, port: int = 0, token: str | None = None) -> Proc:
    args = ["serve", root, "--name", name, "--port", str(port), "--no-local"]
    if token:
        args += ["--token", token]
    p = Proc(*args, prefix="runwatch dashboard: ")
    # It listens at once and scans in the background: wait for the scan (every tree has runs).
    auth = {"Authorization": f"Bearer {token}"} if token else None
    wait_for(lambda: (lambda s: s["total"] > 0 and not s["scanning"])(get(p.base + "api/summary", auth)[1]), timeout=60, what=f"agent {name}'s first scan")
    return p


def stable(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in VOLATILE}


def agent_records(a: Proc, token: str | None = None) -> dict[str, dict[str, Any]]:
    _, data = get(a.base + "api/runs?limit=10000", {"Authorization": f"Bearer {token}"} if token else None)
    return {r["id"]: stable(r) for r in data["runs"]}


def hub_records(base: str, token: str | None = None) -> list[dict[str, Any]]:
    _, data = get(base + "api/runs?limit=10000", {"Authorization": f"Bearer {token}"} if token else None)
    return data["runs"]


def merged_matches(hub_base: str, agents: dict[str, tuple[Proc, str | None]]) -> bool:
    """The hub holds exactly every agent's records (ids prefixed, cluster set, not stale)."""
    want = {}
    for name, (a, tok) in agents.items():
        for aid, r in agent_records(a, tok).items():
            want[f"{name}:{aid}"] = {**r, "id": f"{name}:{aid}", "cluster": name, "stale": False}
    got = {r["id"]: stable(r) for r in hub_records(hub_base)}
    return got == want


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two agents (one with a token) over their own trees, and `runwatch hub` over both."""
    d = tmp_path_factory.mktemp("fleet")
    ta = generate_tree(str(d / "a"), n_runs=24, seed=11)
    tb = generate_tree(str(d / "b"), n_runs=18, seed=12)
    a = agent(ta.root, "alpha-agent")
    b = agent(tb.root, "beta-agent", token="agent-b-secret-token")
    hub = None
    try:
        hub = Proc("hub", f"alpha={a.url}", f"beta={b.url}", "--port", "0", prefix="runwatch hub: ")
        wait_for(lambda: all(c["reachable"] for c in get(hub.base + "api/summary")[1]["clusters"].values()), what="both agents subscribed")
        yield {"a": a, "b": b, "hub": hub, "ta": ta, "tb": tb}
    finally:
        logs = hub.stop() if hub is not None else ""
        a.stop()
        b.stop()
        assert "agent-b-secret-token" not in logs, "an agent's token reached the hub's log"


# ---------------------------------------------------------------- merged index


def test_hub_merges_both_agents_keyed_by_cluster_and_run(fleet):
    a, b, hub = fleet["a"], fleet["b"], fleet["hub"]
    agents = {"alpha": (a, None), "beta": (b, "agent-b-secret-token")}
    wait_for(lambda: merged_matches(hub.base, agents), what="the hub to hold every agent record")
    runs = hub_records(hub.base)
    assert {r["cluster"] for r in runs} == {"alpha", "beta"}
    assert len(runs) == len(fleet["ta"].runs) + len(fleet["tb"].runs)
    # The same run name in two clusters is two runs.
    names = [(r["cluster"], r["run"]) for r in runs]
    assert len(set(names)) == len(names) and len({r["run"] for r in runs}) < len(runs)

    _, s = get(hub.base + "api/summary")
    _, sa = get(a.base + "api/summary")
    _, sb = get(b.base + "api/summary", {"Authorization": "Bearer agent-b-secret-token"})
    assert sa["cluster"] == "alpha-agent" and sb["cluster"] == "beta-agent"  # --name
    assert s["clusters"]["alpha"]["by_status"] == sa["by_status"] and s["clusters"]["beta"]["by_status"] == sb["by_status"]
    assert s["clusters"]["alpha"]["agent_name"] == "alpha-agent"
    assert s["by_status"] == {k: sa["by_status"][k] + sb["by_status"][k] for k in sa["by_status"]}
    assert s["total"] == sa["total"] + sb["total"] and s["unreachable"] == [] and s["stale"] == 0
    # Every record of an agent carries its name.
    assert {r["cluster"] for r in agent_records(a).values()} == {"alpha-agent"}

    # REST filters and sorts by cluster.
    _, only = get(hub.base + "api/runs?cluster=beta&limit=10000")
    assert only["total"] == len(fleet["tb"].runs) and {r["cluster"] for r in only["runs"]} == {"beta"}
    _, srt = get(hub.base + "api/runs?sort=-cluster&limit=10000")
    assert [r["cluster"] for r in srt["runs"]] == sorted((r["cluster"] for r in runs), reverse=True)

    # The detail of a run comes from its agent, with the hub's id.
    rec = next(r for r in runs if r["cluster"] == "beta")
    code, d = get(hub.base + "api/runs/" + rec["id"])
    assert code == 200 and d["id"] == rec["id"] and d["cluster"] == "beta" and d["run"] == rec["run"]
    assert isinstance(d["detail"], dict) and "timeline" in d["detail"]
    assert get(hub.base + "api/runs/beta:000000000000")[0] == 404
    assert get(hub.base + "api/runs/nope")[0] == 404
    code, page = get(hub.base)
    assert code == 200 and "agent-b-secret-token" not in page
    assert "agent-b-secret-token" not in json.dumps(s) and "agent-b-secret-token" not in json.dumps(get(hub.base + "healthz")[1])


def test_an_epoch_on_an_agents_disk_reaches_a_hub_websocket_client(fleet):
    ta, hub = fleet["ta"], fleet["hub"]
    rel = next(r.rel for r in ta.runs if r.scenario == "running" and r.kind == "trainer")

    async def go() -> dict[str, Any]:
        async with connect("ws://" + hub.base.split("://", 1)[1] + "ws", proxy=None) as ws:
            snap = await recv_until(ws, lambda m: m["type"] == "snapshot")
            before = next(r for r in snap["runs"] if r["cluster"] == "alpha" and r["run"] == rel)
            done = await asyncio.to_thread(add_epoch, ta, rel)
            t0 = time.monotonic()
            m = await recv_until(
                ws,
                lambda m: m["type"] == "delta" and any(r["run"] == rel and r["cluster"] == "alpha" and r["completed_epochs"] == done for r in m["changed"]),
                timeout=20,
            )
            rec = next(r for r in m["changed"] if r["run"] == rel)
            assert m["seq"] > snap["seq"] and rec["id"] == before["id"] and rec["stale"] is False
            assert m["summary"]["clusters"]["alpha"]["completed_epochs"] >= snap["summary"]["clusters"]["alpha"]["completed_epochs"] + 1
            return {"latency": time.monotonic() - t0}

    out = asyncio.run(go())
    assert out["latency"] < 20


def test_metrics_carry_cluster_on_every_series_with_per_run_series_only_for_active_runs(fleet):
    a, hub = fleet["a"], fleet["hub"]
    _, s = get(hub.base + "api/summary")
    _, text = get(hub.base + "metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for f in families.values():
        for sample in f.samples:
            assert sample.labels.get("cluster"), f"{sample.name} has no cluster label"
    runs = {(x.labels["cluster"], x.labels["status"]): x.value for x in families["runwatch_runs"].samples}
    for c in ("alpha", "beta"):
        for st, n in s["clusters"][c]["by_status"].items():
            assert runs[(c, st)] == n
    assert {x.labels["cluster"]: x.value for x in families["runwatch_agent_up"].samples} == {"alpha": 1, "beta": 1}
    records = hub_records(hub.base)
    active = {(r["cluster"], r["run"]) for r in records if r["status"] in ("running", "stuck", "queued")}
    per_run = {(x.labels["cluster"], x.labels["run"]) for x in families["runwatch_run_progress"].samples}
    assert per_run == active and len(active) < len(records)
    # An agent's own /metrics: its --name on every series.
    _, atext = get(a.base + "metrics")
    for f in text_string_to_metric_families(atext):
        for sample in f.samples:
            assert sample.labels.get("cluster") == "alpha-agent", sample


def test_hub_token_and_agent_token(fleet, tmp_path):
    a, b = fleet["a"], fleet["b"]
    # A hub with a token: its own clients need it; the agents' tokens stay theirs.
    srv = BackgroundServer([f"alpha={a.url}", f"beta={b.url}"], builder=build_hub, token="hub-secret-token-16", backoff=Backoff(0.1, 0.5))
    with srv:
        assert get(srv.base + "api/summary")[0] == 401
        wait_for(
            lambda: all(c["reachable"] for c in get(srv.base + "api/summary", {"Authorization": "Bearer hub-secret-token-16"})[1]["clusters"].values()),
            what="both agents",
        )
        code, data = get(srv.base + "api/runs", {"Authorization": "Bearer hub-secret-token-16"})
        assert code == 200 and {r["cluster"] for r in data["runs"]} == {"alpha", "beta"}
    # A wrong agent token: that agent is unreachable, and the summary says why, without the token.
    wrong = b.base + "?token=not-the-token"
    with BackgroundServer([f"alpha={a.url}", f"beta={wrong}"], builder=build_hub, backoff=Backoff(0.1, 0.5)) as srv2:
        s = wait_for(
            lambda: (lambda s: s if s["unreachable"] and s["clusters"]["alpha"]["reachable"] else None)(get(srv2.base + "api/summary")[1]), what="beta refused"
        )
        assert [u["cluster"] for u in s["unreachable"]] == ["beta"] and "token" in s["unreachable"][0]["error"]
        assert "not-the-token" not in json.dumps(s) and s["clusters"]["beta"]["url"] == b.base


# ---------------------------------------------------------------- an agent that goes away


def test_agent_killed_its_runs_stay_stale_with_last_status_and_a_restart_resyncs(tmp_path):
    ta = generate_tree(str(tmp_path / "a"), n_runs=16, seed=21)
    tb = generate_tree(str(tmp_path / "b"), n_runs=14, seed=22)
    port_b = free_port()
    a = agent(ta.root, "a")
    b = agent(tb.root, "b", port=port_b)
    try:
        with BackgroundServer([f"a={a.url}", f"b={b.url}"], builder=build_hub, backoff=Backoff(0.1, 0.4), ping_interval=1.0, ping_timeout=1.0) as hub:
            wait_for(lambda: merged_matches(hub.base, {"a": (a, None), "b": (b, None)}), what="merged")
            before = {r["id"]: r for r in hub_records(hub.base)}
            _, s0 = get(hub.base + "api/summary")

            async def watch_kill() -> dict[str, Any]:
                async with connect(hub.ws_url, proxy=None) as ws:
                    await recv_until(ws, lambda m: m["type"] == "snapshot")
                    t_kill = time.time()
                    await asyncio.to_thread(b.kill)
                    m = await recv_until(ws, lambda m: m["type"] == "delta" and any(r["cluster"] == "b" and r["stale"] for r in m["changed"]), timeout=15)
                    assert m["summary"]["unreachable"][0]["cluster"] == "b" and m["summary"]["unreachable"][0]["since"] >= t_kill - 1
                    return m

            m = asyncio.run(watch_kill())
            assert {r["id"] for r in m["changed"]} == {i for i, r in before.items() if r["cluster"] == "b"}
            after = {r["id"]: r for r in hub_records(hub.base)}
            assert after.keys() == before.keys()
            for i, r in after.items():
                assert r["status"] == before[i]["status"], f"{r['run']}: {before[i]['status']} -> {r['status']} while its agent was away"
                assert r["stale"] is (r["cluster"] == "b")
            _, s = get(hub.base + "api/summary")
            assert s["by_status"] == s0["by_status"]  # no wave of failures
            assert [u["cluster"] for u in s["unreachable"]] == ["b"] and s["stale"] == len(tb.runs)
            assert s["clusters"]["b"]["reachable"] is False and s["clusters"]["b"]["since"] is not None
            code, d = get(hub.base + "api/runs/" + next(i for i in after if i.startswith("b:")))
            assert code == 200 and d["stale"] is True and d["detail"] is None  # last record, no detail
            _, text = get(hub.base + "metrics")
            up = {x.labels["cluster"]: x.value for f in text_string_to_metric_families(text) if f.name == "runwatch_agent_up" for x in f.samples}
            assert up == {"a": 1, "b": 0}

            # Meanwhile a run on b finishes an epoch; b comes back on its port: the hub resyncs.
            rel = next(r.rel for r in tb.runs if r.scenario == "running" and r.kind == "trainer")
            done = add_epoch(tb, rel)
            b2 = agent(tb.root, "b", port=port_b)
            try:
                wait_for(lambda: merged_matches(hub.base, {"a": (a, None), "b": (b2, None)}), what="resynced after the restart")
                _, s = get(hub.base + "api/summary")
                assert s["unreachable"] == [] and s["stale"] == 0
                assert next(r for r in hub_records(hub.base) if r["cluster"] == "b" and r["run"] == rel)["completed_epochs"] == done
                assert hub.app_state.feed.subscribers["b"].connects == 2
            finally:
                b2.stop()
    finally:
        a.stop()
        b.stop()


def test_a_silent_agent_is_found_out_by_pings_and_resynced_when_it_answers_again(tmp_path):
    """SIGSTOP: the socket stays open but nothing answers, as in a network partition."""
    ta = generate_tree(str(tmp_path / "a"), n_runs=8, seed=51)
    a = agent(ta.root, "frozen")
    try:
        with BackgroundServer([f"f={a.url}"], builder=build_hub, backoff=Backoff(0.1, 0.5), ping_interval=0.5, ping_timeout=1.0, open_timeout=2.0) as hub:
            wait_for(lambda: merged_matches(hub.base, {"f": (a, None)}), what="merged")
            before = {r["id"]: r["status"] for r in hub_records(hub.base)}
            os.kill(a.p.pid, signal.SIGSTOP)
            try:
                s = wait_for(lambda: (lambda s: s if s["unreachable"] else None)(get(hub.base + "api/summary")[1]), timeout=15, what="the ping timeout")
                assert s["stale"] == len(before)
                assert {r["id"]: r["status"] for r in hub_records(hub.base)} == before and all(r["stale"] for r in hub_records(hub.base))
            finally:
                os.kill(a.p.pid, signal.SIGCONT)
            wait_for(lambda: merged_matches(hub.base, {"f": (a, None)}), timeout=30, what="resynced after SIGCONT")
    finally:
        a.stop()


def test_a_hub_started_before_its_agent_says_so_and_subscribes_once_it_is_up(tmp_path):
    ta = generate_tree(str(tmp_path / "a"), n_runs=8, seed=31)
    port = free_port()
    with BackgroundServer([f"late=http://127.0.0.1:{port}/"], builder=build_hub, backoff=Backoff(0.1, 0.3)) as hub:
        s = wait_for(lambda: (lambda s: s if s["unreachable"] else None)(get(hub.base + "api/summary")[1]), what="unreachable")
        assert s["unreachable"][0]["cluster"] == "late" and "refused" in s["unreachable"][0]["error"] and not s["scanning"]
        a = agent(ta.root, "late", port=port)
        try:
            wait_for(lambda: merged_matches(hub.base, {"late": (a, None)}), what="subscribed")
        finally:
            a.stop()


# ---------------------------------------------------------------- the protocol edges, without sockets


class _FakeWs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


def test_a_gap_in_agent_seqs_or_a_heartbeat_ahead_asks_for_a_resync():
    index = HubIndex([("c", "http://x/")])
    sub = Subscriber(AgentSpec.parse("c=http://x:1/"), index)
    ws = _FakeWs()
    rec = {"id": "aaaaaaaaaaaa", "run": "r", "status": "running", "completed_epochs": 1}

    async def go() -> None:
        assert await sub._on_message(ws, json.dumps({"type": "delta", "seq": 3, "added": [rec], "changed": [], "removed": []})) is False
        assert len(index) == 0  # nothing before a snapshot
        await sub._on_message(ws, json.dumps({"type": "snapshot", "seq": 5, "runs": [rec], "summary": {"total": 1, "by_status": {"running": 1}}}))
        assert index.record("c:aaaaaaaaaaaa")["cluster"] == "c"
        await sub._on_message(ws, json.dumps({"type": "delta", "seq": 5, "added": [], "changed": [{**rec, "completed_epochs": 9}], "removed": []}))
        assert index.record("c:aaaaaaaaaaaa")["completed_epochs"] == 1  # old: already in the snapshot
        await sub._on_message(ws, json.dumps({"type": "delta", "seq": 6, "added": [], "changed": [{**rec, "completed_epochs": 2}], "removed": []}))
        assert index.record("c:aaaaaaaaaaaa")["completed_epochs"] == 2
        await sub._on_message(ws, json.dumps({"type": "delta", "seq": 8, "added": [], "changed": [{**rec, "completed_epochs": 4}], "removed": []}))
        assert ws.sent == [{"type": "resync"}] and index.record("c:aaaaaaaaaaaa")["completed_epochs"] == 2
        await sub._on_message(ws, json.dumps({"type": "snapshot", "seq": 8, "runs": [{**rec, "completed_epochs": 4}], "summary": {}}))
        await sub._on_message(ws, json.dumps({"type": "heartbeat", "seq": 9}))
        assert ws.sent == [{"type": "resync"}] * 2
        await sub._on_message(ws, json.dumps({"type": "snapshot", "seq": 9, "runs": [], "summary": {}}))
        assert len(index) == 0  # a snapshot replaces all the hub held for that agent
        await sub._on_message(ws, "not json")
        await sub._on_message(ws, "[1]")

    asyncio.run(go())


@pytest.mark.parametrize(
    "arg, base, shown, token",
    [
        ("a=http://login-a:8765/?token=t0k", "http://login-a:8765/", "http://login-a:8765/", "t0k"),
        ("b=ws://10.0.0.2:9000/ws", "http://10.0.0.2:9000/", "http://10.0.0.2:9000/", None),
        ("c=https://[::1]:443/", "https://[::1]:443/", "https://[::1]:443/", None),
        ("d=ssh://me@login-d/8765", "http://127.0.0.1:8765/", "ssh://me@login-d/8765", None),
        ("e=ssh://login-e:2222/9000?token=x", "http://127.0.0.1:9000/", "ssh://login-e:2222/9000", "x"),
    ],
)
def test_agent_arguments(arg, base, shown, token):
    s = AgentSpec.parse(arg)
    assert (s.base, s.shown, s.token) == (base, shown, token)
    assert "token" not in repr(s) or token is None or token not in repr(s)


@pytest.mark.parametrize("arg", ["noequals", "=http://x/", "a b=http://x/", "a=ftp://x/", "a=ssh://login/notaport", "a=ssh://login/70000", "a=http://x:99999/"])
def test_bad_agent_arguments_are_refused_with_a_message(arg):
    with pytest.raises(AgentSpecError):
        AgentSpec.parse(arg)
    with pytest.raises(AgentSpecError, match="twice"):
        parse_agents(["a=http://x/", "a=http://y/"])


def test_a_hub_beyond_loopback_without_a_token_gets_one():
    _, _, token = build_hub(["a=http://127.0.0.1:1/"], host="0.0.0.0", port=0)
    assert token and len(token) >= 24
    _, _, token = build_hub(["a=http://127.0.0.1:1/"], host="127.0.0.1", port=0)
    assert token is None

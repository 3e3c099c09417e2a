"""The hub over several agents: epoch-to-hub-client latency, hub memory per run, an agent's death.

Agents are ``run_server`` processes (what ``runwatch serve`` runs) on generated trees,
one per cluster; the hub runs in this process (``build_hub`` in a thread) and is
listened to with a real WebSocket client:

    latency   an epoch's files written on agent 0's disk -> a client of the hub holds the
              delta naming that run (p50 / p95 / max over ``--samples`` epochs), and the
              same measured on the agent directly, so the hub's own share shows
    memory    tracemalloc growth of a HubIndex fed ``--mem-clusters`` snapshots of
              ``--mem-runs`` records each (the records of agent 0, replicated with their own
              ids and names: the record shapes of a real tree), per run. The hub keeps no
              score series: a record is all it holds per run
    death     agent 1 killed with SIGKILL: how many of its runs changed status at the hub
              (must be 0; they turn ``stale``), and seconds until the hub said so

    python benchmarks/hub_bench.py --agents 2 --runs 300
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from server_bench import EpochWriter, ServerProcess, measure_latency, pct, wait_scanned  # noqa: E402


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def latency_stats(seconds: list[float]) -> dict[str, Any]:
    ms = [x * 1000 for x in seconds]
    return {"n": len(ms), "p50": statistics.median(ms), "p95": pct(ms, 0.95), "max": max(ms)}


def measure_hub_memory(records: list[dict[str, Any]], summary: dict[str, Any], clusters: int, per_cluster: int) -> dict[str, Any]:
    from runwatch.hub.index import HubIndex

    texts = []
    for _c in range(clusters):
        runs = []
        for i in range(per_cluster):
            r = dict(records[i % len(records)])
            r["id"], r["run"] = f"{i:012x}", f"{r['run']}/{i}"
            runs.append(r)
        texts.append(json.dumps({"type": "snapshot", "seq": 1, "runs": runs, "summary": summary}))
    json_per_run = sum(len(t) for t in texts) / (clusters * per_cluster)
    index = HubIndex([(f"c{c}", "bench") for c in range(clusters)])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for c, text in enumerate(texts):
        m = json.loads(text)  # as the subscriber parses it
        index.apply_snapshot(f"c{c}", m["seq"], m["runs"], m["summary"])
        del m
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    t0 = time.perf_counter()
    index.records()
    return {"runs": len(index), "bytes_per_run": (after - before) / len(index), "json_bytes_per_run": json_per_run, "records_s": time.perf_counter() - t0}


async def measure_death(hub: Any, victim: ServerProcess, cluster: str) -> dict[str, Any]:
    before = {r["id"]: r["status"] for r in get(hub.base + "api/runs?limit=10000")["runs"] if r["cluster"] == cluster}
    t0 = time.perf_counter()
    victim.p.kill()
    victim.p.wait()
    while True:
        s = get(hub.base + "api/summary")
        if any(u["cluster"] == cluster for u in s["unreachable"]):
            break
        if time.perf_counter() - t0 > 60:
            raise SystemExit("the hub did not notice the agent's death within 60 s")
        await asyncio.sleep(0.05)
    noticed = time.perf_counter() - t0
    after = {r["id"]: r for r in get(hub.base + "api/runs?limit=10000")["runs"] if r["cluster"] == cluster}
    wrong = sum(1 for i, st in before.items() if i not in after or after[i]["status"] != st)
    return {"runs": len(before), "wrong_status": wrong, "stale": sum(1 for r in after.values() if r["stale"]), "noticed_s": noticed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=2, help="agents (clusters), each on its own generated tree")
    ap.add_argument("--runs", type=int, default=300, help="runs per agent's tree")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--samples", type=int, default=30, help="epochs timed for each latency figure")
    ap.add_argument("--mem-clusters", type=int, default=5)
    ap.add_argument("--mem-runs", type=int, default=10000)
    ap.add_argument("--json", help="write the raw results as JSON to this file")
    args = ap.parse_args(argv)

    from runwatch.hub import Backoff, build_hub
    from runwatch.server import BackgroundServer
    from runwatch.testing.generator import generate_tree

    work = tempfile.mkdtemp(prefix="runwatch-hub-bench-")
    res: dict[str, Any] = {
        "agents": args.agents,
        "runs_per_agent": args.runs,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    agents: list[ServerProcess] = []
    trees = []
    try:
        for k in range(args.agents):
            root = os.path.join(work, f"c{k}")
            tree = generate_tree(root, n_runs=args.runs, seed=args.seed + k, n_seeds=100, max_epochs=100)
            procs = os.path.join(work, f"procs{k}.pkl")
            with open(procs, "wb") as f:
                pickle.dump(list(tree.processes), f)
            trees.append(tree)
            agents.append(ServerProcess(root, procs, name=f"agent-{k}"))
        for srv, tree in zip(agents, trees, strict=True):
            wait_scanned(srv, len(tree.runs))
        print(f"{args.agents} agents scanned", file=sys.stderr)
        writer = EpochWriter(trees[0], args.seed)
        with BackgroundServer([f"c{k}={a.url}" for k, a in enumerate(agents)], builder=build_hub, backoff=Backoff(0.2, 2.0)) as hub:
            t0 = time.monotonic()
            while get(hub.base + "api/summary")["total"] < sum(len(t.runs) for t in trees):
                if time.monotonic() - t0 > 120:
                    raise SystemExit("the hub did not get every agent's runs within 120 s")
                time.sleep(0.1)
            res["hub_latency_ms"] = latency_stats(asyncio.run(measure_latency(hub, writer, args.samples)))
            print(f"via hub: {res['hub_latency_ms']}", file=sys.stderr)
            res["agent_latency_ms"] = latency_stats(asyncio.run(measure_latency(agents[0], writer, args.samples)))
            print(f"agent directly: {res['agent_latency_ms']}", file=sys.stderr)
            if args.agents > 1:
                res["death"] = asyncio.run(measure_death(hub, agents[1], "c1"))
                print(f"death: {res['death']}", file=sys.stderr)
        records = get(agents[0].url + "api/runs?limit=10000")["runs"]
        summary = get(agents[0].url + "api/summary")
        res["memory"] = measure_hub_memory(records, summary, args.mem_clusters, args.mem_runs)
        print(f"memory: {res['memory']}", file=sys.stderr)
    finally:
        for a in agents:
            if a.p.poll() is None:
                a.stop()
    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

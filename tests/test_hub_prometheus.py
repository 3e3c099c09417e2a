"""A real Prometheus (Debian's ``prometheus``) scraping two agents and the hub on loopback.

Its query API must show the per-cluster counts the agents report, the PromQL of
docs/hub.md must evaluate, and its /federate must hand on the ``cluster`` label.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from proc_helpers import stop

from tests.test_hub import ROOT, fleet, free_port, get, wait_for  # noqa: F401 (fleet is a fixture)

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def prometheus(fleet, tmp_path_factory) -> Iterator[str]:
    if not os.path.exists(PROMETHEUS):
        pytest.skip("prometheus missing: apt-get install -y prometheus")
    d = tmp_path_factory.mktemp("prom")
    (d / "b.token").write_text("agent-b-secret-token")
    target = lambda p: p.base.split("://", 1)[1].rstrip("/")
    (d / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agents
    static_configs: [{{targets: ["{target(fleet["a"])}"]}}]
  - job_name: agents-token
    authorization: {{credentials_file: {d / "b.token"}}}
    static_configs: [{{targets: ["{target(fleet["b"])}"]}}]
  - job_name: hub
    static_configs: [{{targets: ["{target(fleet["hub"])}"]}}]
"""
    )
    port = free_port()
    log = open(d / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=d,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: _ready(base, proc), timeout=60, what="prometheus ready")
        yield base
    finally:
        stop(proc)
        log.close()


def _ready(base: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "prometheus exited; see prometheus.log in the test's tmp dir"
    try:
        return get(base + "-/ready")[0] == 200
    except OSError:
        return False


def query(base: str, q: str) -> dict[str, Any]:
    code, data = get(base + "api/v1/query?" + urllib.parse.urlencode({"query": q}))
    if isinstance(data, str):
        data = json.loads(data)
    assert code == 200 and data["status"] == "success", (q, data)
    return data["data"]


def by_cluster_status(base: str, job: str) -> dict[tuple[str, str], int]:
    res = query(base, f'sum by (cluster, status) (runwatch_runs{{job=~"{job}"}})')["result"]
    return {(r["metric"]["cluster"], r["metric"]["status"]): int(float(r["value"][1])) for r in res}


def test_prometheus_shows_the_per_cluster_counts_of_agents_and_hub(fleet, prometheus):
    _, sa = get(fleet["a"].base + "api/summary")
    _, sb = get(fleet["b"].base + "api/summary", {"Authorization": "Bearer agent-b-secret-token"})
    want_agents = {**{("alpha-agent", s): n for s, n in sa["by_status"].items()}, **{("beta-agent", s): n for s, n in sb["by_status"].items()}}
    want_hub = {**{("alpha", s): n for s, n in sa["by_status"].items()}, **{("beta", s): n for s, n in sb["by_status"].items()}}
    wait_for(lambda: by_cluster_status(prometheus, "agents|agents-token") == want_agents, timeout=60, what="agents scraped")
    wait_for(lambda: by_cluster_status(prometheus, "hub") == want_hub, timeout=60, what="hub scraped")
    up = query(prometheus, 'runwatch_agent_up{job="hub"}')["result"]
    assert {r["metric"]["cluster"]: r["value"][1] for r in up} == {"alpha": "1", "beta": "1"}


def test_the_documented_promql_evaluates(fleet, prometheus):
    text = open(os.path.join(ROOT, "docs", "hub.md"), encoding="utf-8").read()
    block = re.search(r"```promql\n(.*?)```", text, re.S)
    assert block, "docs/hub.md has no promql block"
    queries = [q.strip() for q in block.group(1).splitlines() if q.strip()]
    assert len(queries) >= 3
    wait_for(lambda: query(prometheus, 'count(runwatch_runs{job="hub"})')["result"], timeout=60, what="a scrape")
    for q in queries:
        query(prometheus, q)  # status success, or the assertion names the query
    per = query(prometheus, queries[0])["result"]
    assert {r["metric"]["cluster"] for r in per} >= {"alpha", "beta", "alpha-agent", "beta-agent"}


def test_federation_hands_on_the_cluster_label(fleet, prometheus):
    wait_for(lambda: query(prometheus, 'count(runwatch_runs{job="hub"})')["result"], timeout=60, what="a scrape")
    code, text = get(prometheus + "federate?" + urllib.parse.urlencode({"match[]": '{__name__=~"runwatch_runs"}'}))
    assert code == 200
    clusters = set(re.findall(r'cluster="([^"]+)"', text))
    assert {"alpha", "beta", "alpha-agent", "beta-agent"} <= clusters

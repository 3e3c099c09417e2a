"""The hub reaching an agent through an SSH port forward it opens itself (the real sshd fixture).

The agent listens only on the "login node's" loopback port; the hub connects to sshd
with the test's keys and known_hosts and forwards a local port to it, so no inbound
port is needed on the cluster. A host key the hub does not know is refused.
"""

from __future__ import annotations

import pytest
from fixtures_sshd import sshd  # noqa: F401 (fixture)

from runwatch.hub import Backoff, SshOptions, build_hub
from runwatch.server import BackgroundServer
from runwatch.testing.generator import generate_tree
from tests.test_hub import agent, free_port, get, merged_matches, wait_for

pytestmark = pytest.mark.ssh


def _options(sshd, known_hosts=None) -> SshOptions:
    return SshOptions(config=[str(sshd.ssh_config)], known_hosts=str(known_hosts or sshd.known_hosts), client_keys=[str(sshd.client_key)], timeout=10)


def test_an_agent_through_an_ssh_forward(sshd, tmp_path):
    tree = generate_tree(str(tmp_path / "c"), n_runs=10, seed=41)
    port = free_port()
    a = agent(tree.root, "remote", port=port, token="tok-over-ssh-0123456")
    try:
        spec = f"far=ssh://root@127.0.0.1:{sshd.port}/{port}?token=tok-over-ssh-0123456"
        with BackgroundServer([spec], builder=build_hub, ssh=_options(sshd), backoff=Backoff(0.2, 1.0)) as hub:
            wait_for(lambda: merged_matches(hub.base, {"far": (a, "tok-over-ssh-0123456")}), timeout=30, what="the forwarded agent's runs")
            _, s = get(hub.base + "api/summary")
            far = s["clusters"]["far"]
            assert far["reachable"] and far["agent_name"] == "remote" and far["url"] == f"ssh://root@127.0.0.1:{sshd.port}/{port}"
            assert "tok-over-ssh-0123456" not in str(s)
            rid = next(r["id"] for r in get(hub.base + "api/runs")[1]["runs"])
            code, d = get(hub.base + "api/runs/" + rid)
            assert code == 200 and isinstance(d["detail"], dict) and d["cluster"] == "far"  # detail over the forward too
        # A login node whose host key is not the known one: refused, never trusted.
        with BackgroundServer([spec], builder=build_hub, ssh=_options(sshd, sshd.wrong_known_hosts), backoff=Backoff(0.2, 1.0)) as hub:
            s = wait_for(lambda: (lambda s: s if s["unreachable"] else None)(get(hub.base + "api/summary")[1]), timeout=30, what="refused host key")
            assert "host key" in s["unreachable"][0]["error"] and s["total"] == 0
        # sshd is fine but no agent listens on that port of the login node: said so.
        dead = free_port()
        with BackgroundServer([f"far=ssh://root@127.0.0.1:{sshd.port}/{dead}"], builder=build_hub, ssh=_options(sshd), backoff=Backoff(0.2, 1.0)) as hub:
            s = wait_for(lambda: (lambda s: s if s["unreachable"] else None)(get(hub.base + "api/summary")[1]), timeout=30, what="nothing on the port")
            assert f"nothing answers on its port {dead}" in s["unreachable"][0]["error"], s["unreachable"]
    finally:
        a.stop()

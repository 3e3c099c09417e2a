"""``runwatch hub``: one page, REST API, WebSocket and /metrics over many ``runwatch serve`` agents.

Each agent scans next to its files and serves its own runs; the hub subscribes to
every agent's WebSocket (directly, or through an SSH port forward it opens itself),
keeps the merged index (a run is ``(cluster, run)``) and serves it with the very app
``runwatch serve`` uses (``runwatch.server.app.create_app`` with a feed). An agent that
goes away leaves its runs with their last status and ``stale``: true, and the summary
names it under ``unreachable``; the hub reconnects with back-off and resyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from runwatch.hub.agents import AgentSpec, AgentSpecError
from runwatch.hub.index import HubIndex, split_id
from runwatch.hub.subscriber import Backoff, SshOptions, Subscriber
from runwatch.server import announcer, effective_token, uvicorn_server
from runwatch.server.app import create_app

__all__ = ["AgentSpec", "AgentSpecError", "Backoff", "HubFeed", "HubIndex", "SshOptions", "build_hub", "parse_agents", "run_hub"]


def parse_agents(args: Sequence[str | AgentSpec]) -> list[AgentSpec]:
    """``NAME=URL`` arguments (or specs already parsed); names must be unique."""
    specs = [a if isinstance(a, AgentSpec) else AgentSpec.parse(a) for a in args]
    if not specs:
        raise AgentSpecError("give at least one agent as NAME=URL")
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise AgentSpecError(f"agent name {s.name!r} given twice; each agent needs its own name")
        seen.add(s.name)
    return specs


class HubFeed:
    """Keeps a HubIndex current from its agents: the server app's feed (see ``create_app``)."""

    def __init__(self, index: HubIndex, subscribers: Sequence[Subscriber]) -> None:
        self.index = index
        self.subscribers = {s.name: s for s in subscribers}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(s.run(), name=f"runwatch-hub-{s.name}") for s in self.subscribers.values()]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def detail(self, run_id: str) -> dict[str, Any] | None:
        """The agent's detail of the run, as a hub record; an unreachable agent's run: its last record."""
        rec = self.index.record(run_id)
        where = split_id(run_id)
        if rec is None or where is None:
            return None
        cluster, agent_id = where
        d = await self.subscribers[cluster].detail(agent_id)
        if d is None or not isinstance(d.get("detail"), dict):
            return {**rec, "detail": None}
        latest = self.index.record(run_id) or rec
        return {**d, "id": run_id, "cluster": cluster, "stale": bool(latest.get("stale"))}

    def health(self) -> dict[str, Any]:
        return {
            "agents": {
                n: {"reachable": a.reachable, "connects": self.subscribers[n].connects, "resyncs": self.subscribers[n].resyncs}
                for n, a in self.index.agents.items()
            }
        }


def build_hub(
    agents: Sequence[str | AgentSpec],
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
    *,
    name: str = "hub",
    ssh: SshOptions | None = None,
    backoff: Backoff | None = None,
    ping_interval: float = 10.0,
    ping_timeout: float = 10.0,
    open_timeout: float = 10.0,
    heartbeat_s: float = 15.0,
    queue_size: int = 256,
    send_timeout_s: float = 10.0,
    log_level: str = "warning",
) -> tuple[Any, HubIndex, str | None]:
    """(uvicorn.Server, the merged index, effective token), as ``runwatch.server.build_server``.

    Binding anything but loopback without a token generates one, as for an agent.
    """
    specs = parse_agents(agents)
    token = effective_token(host, token)
    index = HubIndex([(s.name, s.shown) for s in specs], name=name)
    subs = [Subscriber(s, index, ssh=ssh, backoff=backoff, ping_interval=ping_interval, ping_timeout=ping_timeout, open_timeout=open_timeout) for s in specs]
    feed = HubFeed(index, subs)
    app = create_app(index, token=token, bind_host=host, heartbeat_s=heartbeat_s, queue_size=queue_size, send_timeout_s=send_timeout_s, feed=feed)
    app.state.feed = feed
    return uvicorn_server(app, host, port, token, on_ready, log_level), index, token


def run_hub(
    agents: Sequence[str | AgentSpec],
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    open_browser: bool = False,
    on_ready: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> None:
    """Serve the hub until SIGINT/SIGTERM."""
    specs = parse_agents(agents)
    ready = announcer(f"hub over {', '.join(f'{s.name}={s.shown}' for s in specs)}", host, token, open_browser, on_ready)
    server, _, _ = build_hub(specs, host, port, token, ready, **kwargs)
    server.run()

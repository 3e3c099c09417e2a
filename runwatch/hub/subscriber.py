"""One agent's subscription: its WebSocket (snapshot, then numbered deltas) into the HubIndex.

The protocol is the one every client of ``runwatch serve`` speaks (docs/server.md):
a delta that skips a seq, or a heartbeat ahead of the last delta, asks for a fresh
snapshot. A socket that closes, a connection refused, an SSH forward that fails:
the agent is marked unreachable (its runs stay, ``stale``: true) and the hub tries
again with jittered exponential back-off; the next snapshot replaces whatever the
hub held for that agent, so an agent that restarted (its seq begun anew) is resynced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from runwatch.hub.agents import AgentSpec, ws_url
from runwatch.hub.index import HubIndex

log = logging.getLogger("runwatch.hub")

# A snapshot of 10,000 runs is ~12 MB of JSON; far above that is not an agent's message
# (websockets closes the connection with 1009 before buffering more).
MAX_MESSAGE = 64 * 1024 * 1024
# A run's detail (``/api/runs/{id}``: scores, log tail, chart series) is read up to this much.
MAX_DETAIL = 32 * 1024 * 1024
# Messages this large are parsed off the event loop.
BIG_MESSAGE = 1024 * 1024


@dataclass(frozen=True)
class SshOptions:
    """How the hub opens SSH forwards: () means the user's own ssh config, keys and known_hosts."""

    config: Sequence[str] = ()
    known_hosts: str | Sequence[str] = ()
    client_keys: Sequence[str] = ()
    timeout: float = 10.0


@dataclass(frozen=True)
class Backoff:
    """Seconds between reconnection attempts: doubling from ``first`` up to ``most``, jittered ±50 %."""

    first: float = 0.5
    most: float = 15.0


class Subscriber:
    """Keeps one agent's runs current in the index for as long as ``run()`` runs."""

    def __init__(
        self,
        spec: AgentSpec,
        index: HubIndex,
        *,
        ssh: SshOptions | None = None,
        backoff: Backoff | None = None,
        ping_interval: float = 10.0,
        ping_timeout: float = 10.0,
        open_timeout: float = 10.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.spec = spec
        self.index = index
        self.ssh = ssh or SshOptions()
        self.backoff = backoff or Backoff()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.rng = rng
        self.base: str | None = None  # the agent's http base while subscribed (a local port for ssh)
        self.connects = 0
        self.resyncs = 0
        self._last: int | None = None  # the agent seq of the last snapshot or delta applied

    @property
    def name(self) -> str:
        return self.spec.name

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.spec.token}"} if self.spec.token else {}

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        delay = self.backoff.first
        while True:
            synced = False
            try:
                async with self._endpoint() as base:
                    async with connect(
                        ws_url(base),
                        additional_headers=self.headers(),
                        max_size=MAX_MESSAGE,
                        open_timeout=self.open_timeout,
                        ping_interval=self.ping_interval,
                        ping_timeout=self.ping_timeout,
                        close_timeout=2,
                        proxy=None,
                    ) as ws:
                        self.base = base
                        self.connects += 1
                        self._last = None
                        async for text in ws:
                            if await self._on_message(ws, text) and not synced:
                                synced = True
                                delay = self.backoff.first
                                log.info("runwatch hub: subscribed to agent %s (%s)", self.name, self.spec.shown)
                error = "the agent shut down" if ws.close_code in (1001, 1012) else f"the agent closed the connection (code {ws.close_code})"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # every way an agent can be unreachable
                error = describe(e, self.open_timeout)
                if self.spec.ssh is not None and isinstance(e, InvalidHandshake) and not isinstance(e, InvalidStatus):
                    # The forward's channel could not be opened: sshd is fine, the port is not.
                    error = f"SSH to {self.spec.ssh.host} works, but nothing answers on its port {self.spec.remote_port} (is `runwatch serve` running there?)"
            finally:
                self.base = None
            state = self.index.agents[self.name]
            news = state.reachable or state.error is None  # it went away, or the first try failed
            self.index.mark_unreachable(self.name, error)
            if news:
                log.warning("runwatch hub: agent %s (%s) unreachable: %s", self.name, self.spec.shown, error)
            await asyncio.sleep(delay * (0.5 + self.rng()))
            delay = min(delay * 2, self.backoff.most)

    @contextlib.asynccontextmanager
    async def _endpoint(self) -> AsyncIterator[str]:
        """The agent's http base URL: its own, or a local port forwarded over SSH to it."""
        if self.spec.ssh is None:
            yield self.spec.base
            return
        from runwatch.processes.ssh import connect as ssh_connect

        o = self.ssh
        conn = await asyncio.wait_for(
            ssh_connect(self.spec.ssh, config=o.config, known_hosts=o.known_hosts, client_keys=o.client_keys, timeout=o.timeout),
            timeout=o.timeout * 2,
        )
        try:
            listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", int(self.spec.remote_port or 0))
            try:
                yield f"http://127.0.0.1:{listener.get_port()}/"
            finally:
                listener.close()
        finally:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), timeout=2)

    async def _on_message(self, ws: Any, text: str | bytes) -> bool:
        """Apply one message; True once a snapshot has been applied."""
        try:
            msg = await asyncio.to_thread(json.loads, text) if len(text) > BIG_MESSAGE else json.loads(text)
        except (ValueError, RecursionError) as e:  # the agent's fault: logged, never the hub's
            log.warning("runwatch hub: agent %s sent a message that is not JSON (%s)", self.name, type(e).__name__)
            return False
        if not isinstance(msg, dict):
            return False
        try:
            return await self._apply(ws, msg)
        except ConnectionClosed:
            raise
        except Exception as e:  # a message the agent got wrong (RecursionError included): its fault, logged, never the hub's
            log.warning("runwatch hub: agent %s sent a message that cannot be applied (%s: %s)", self.name, type(e).__name__, str(e)[:200])
            return False

    async def _apply(self, ws: Any, msg: dict[str, Any]) -> bool:
        kind, seq = msg.get("type"), msg.get("seq")
        if kind == "snapshot" and isinstance(seq, int) and isinstance(msg.get("runs"), list):
            given = msg.get("summary")
            summary = given if isinstance(given, dict) else {}
            await asyncio.to_thread(self.index.apply_snapshot, self.name, seq, msg["runs"], summary)
            self._last = seq
            return True
        if not isinstance(seq, int) or self._last is None:
            return False  # waiting for a snapshot
        if kind == "delta":
            if seq <= self._last:
                return False  # already in the snapshot
            if seq != self._last + 1:
                await self._resync(ws)
                return False
            self.index.apply_delta(self.name, msg)
            self._last = seq
        elif kind == "heartbeat" and seq > self._last:
            await self._resync(ws)
        return False

    async def _resync(self, ws: Any) -> None:
        self.resyncs += 1
        self._last = None  # ignore deltas until the snapshot arrives
        await ws.send(json.dumps({"type": "resync"}))

    # ------------------------------------------------------------------ detail

    async def detail(self, agent_id: str, timeout: float = 10.0) -> dict[str, Any] | None:
        """The agent's ``/api/runs/{id}``; None when it is unreachable or does not know the run."""
        base = self.base
        if base is None:
            return None
        url = f"{base}api/runs/{quote(agent_id, safe='')}"
        return await asyncio.to_thread(_get_json, url, self.headers(), timeout)


def _get_json(url: str, headers: dict[str, str], timeout: float) -> dict[str, Any] | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            body = r.read(MAX_DETAIL + 1)  # never more than the cap, whatever Content-Length says
        if len(body) > MAX_DETAIL:
            log.warning("runwatch hub: an agent's answer to %s is larger than %d bytes; not read", url.split("?")[0], MAX_DETAIL)
            return None
        data = json.loads(body)
    except (OSError, ValueError, RecursionError):  # urllib.error.URLError and HTTPError are OSErrors
        return None
    return data if isinstance(data, dict) else None


def describe(exc: BaseException, timeout: float) -> str:
    """Why an agent cannot be reached, in words a person can act on (never the token)."""
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        if code in (401, 403):
            return f"the agent refused the hub (HTTP {code}): check the token in its URL"
        return f"the agent answered HTTP {code} instead of a WebSocket"
    if isinstance(exc, ConnectionClosed):
        if exc.sent is not None and exc.sent.code == 1009:  # the hub closed it: the agent's message was over the cap
            return f"the agent sent a message larger than {MAX_MESSAGE // (1024 * 1024)} MiB; the hub closed the connection (1009)"
        close_code = exc.rcvd.code if exc.rcvd is not None else None
        if close_code in (1001, 1012):  # going away; uvicorn's service restart
            return "the agent shut down"
        return "the connection dropped" if close_code is None else f"the agent closed the connection (code {close_code})"
    if isinstance(exc, InvalidHandshake):
        return f"WebSocket handshake failed: {type(exc).__name__}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is `runwatch serve` running on that port?)"
    if isinstance(exc, urllib.error.URLError | OSError):
        return f"cannot connect: {getattr(exc, 'strerror', None) or exc}"
    try:
        import asyncssh

        from runwatch.processes.ssh import describe_error

        if isinstance(exc, asyncssh.Error | asyncssh.ChannelOpenError):
            return describe_error("ssh", exc, timeout)
    except ImportError:  # pragma: no cover
        pass
    return f"{type(exc).__name__}: {exc}"

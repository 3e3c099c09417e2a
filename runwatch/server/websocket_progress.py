"""ProgressWebSocketServer: the plan's real-time updates, as a snapshot followed by deltas.

Each client gets one snapshot (with the index's sequence number) and then only
deltas, each numbered; a client that sees a gap, or asks with ``{"type":"resync"}``,
gets a fresh snapshot. Every client has its own bounded queue and its own sender
task, so one that stops reading only fills its own queue: it is then resynced
(queue dropped, one snapshot queued) and, if it keeps falling behind, disconnected;
the others never wait for it.

Messages (server -> client), all JSON objects with a ``type``:
  snapshot  {seq, runs: [record...], summary, filter, status_order, status_labels, reason_labels, sort_keys, ...}
            (runwatch.view_model: records, summary, order, the words shown and the one sort: view_model.labels())
  delta     {seq, added: [record...], changed: [record...], removed: [id...], summary}
  heartbeat {seq, time}          seq = the newest delta sent to anyone
  pong, error {message}
Client -> server: {"type":"resync"}, {"type":"ping"},
  {"type":"subscribe", "prefix": "a/b", "statuses": ["running", ...]} (answered by a snapshot).
With a filter, a run that stops matching arrives in ``removed``; clients upsert on added/changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from runwatch import json_out
from runwatch.live.index import Delta
from runwatch.run_status.rules import STATUSES
from runwatch.view_model import labels

log = logging.getLogger("runwatch.server")

_RESYNC = object()
# Client messages are a few dozen bytes; anything near this is abuse, refused with 1009.
# uvicorn is given the same limit (``ws_max_size``) so a large frame is never even buffered.
MAX_CLIENT_MESSAGE = 64 * 1024


class FilterError(ValueError):
    """A subscription filter that names an unknown status or is not of the right shape."""


@dataclass(frozen=True)
class RunFilter:
    """A subtree of run names and/or a set of statuses; empty means everything."""

    prefix: str | None = None
    statuses: frozenset[str] | None = None

    @classmethod
    def parse(cls, prefix: Any = None, statuses: Any = None) -> RunFilter:
        if prefix is not None and not isinstance(prefix, str):
            raise FilterError(f"prefix must be a string, got {type(prefix).__name__}")
        p = (prefix or "").strip().strip("/") or None
        st: frozenset[str] | None = None
        if statuses:
            items = statuses.split(",") if isinstance(statuses, str) else statuses
            if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
                raise FilterError("statuses must be a list of strings or a comma-separated string")
            clean = {s.strip() for s in items if s.strip()}
            unknown = sorted(clean - set(STATUSES))
            if unknown:
                raise FilterError(f"unknown status {', '.join(unknown)}; known: {', '.join(STATUSES)}")
            st = frozenset(clean) or None
        return cls(p, st)

    @property
    def is_empty(self) -> bool:
        return self.prefix is None and self.statuses is None

    def matches(self, rec: dict[str, Any]) -> bool:
        if self.statuses is not None and rec.get("status") not in self.statuses:
            return False
        if self.prefix is not None:
            run = rec.get("run") or ""
            if not (run == self.prefix or run.startswith(self.prefix + "/")):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "statuses": sorted(self.statuses) if self.statuses else None}


@dataclass
class _DeltaItem:
    seq: int
    message: dict[str, Any]
    encoded: dict[RunFilter, str]  # shared by all clients of one delta: encode once per filter


@dataclass(eq=False)
class Client:
    ws: WebSocket
    queue: asyncio.Queue[Any]
    filter: RunFilter = field(default_factory=RunFilter)
    last_seq: int = -1
    overflows: int = 0
    sent: int = 0
    dropped: bool = False
    sender: asyncio.Task[None] | None = None


def _encode(obj: Any) -> str:
    return json_out.dumps(obj, default=str)


def _filtered(message: dict[str, Any], flt: RunFilter) -> dict[str, Any]:
    if flt.is_empty:
        return message
    out = dict(message)
    removed = list(message["removed"])
    for key in ("added", "changed"):
        keep = []
        for rec in message[key]:
            if flt.matches(rec):
                keep.append(rec)
            else:
                removed.append(rec["id"])
        out[key] = keep
    out["removed"] = removed
    return out


class ServedIndex(Protocol):
    """What the server reads of an index: a LiveIndex, or the hub's merged index (``runwatch.hub.index``)."""

    seq: int
    on_delta: Callable[[Delta], None] | None

    @property
    def scanning(self) -> bool: ...

    def records(self) -> tuple[int, list[dict[str, Any]]]: ...

    def summary(self) -> dict[str, Any]: ...

    def __len__(self) -> int: ...


class ProgressWebSocketServer:
    """Fans deltas from an index out to many WebSocket clients without letting one slow the rest."""

    def __init__(
        self,
        index: ServedIndex,
        *,
        queue_size: int = 256,
        heartbeat_s: float = 15.0,
        send_timeout_s: float = 10.0,
        max_overflows: int = 3,
        on_big: Callable[[int], None] | None = None,
    ) -> None:
        self.index = index
        self.on_big = on_big  # told the size of every snapshot built (runwatch.server.memory_trim)
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.send_timeout_s = send_timeout_s
        self.max_overflows = max_overflows
        self.clients: set[Client] = set()
        self.published_seq = 0
        self.resyncs = 0
        self.drops = 0
        self._snap_cache: OrderedDict[tuple[int, RunFilter], str] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ feeding

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Route the index's deltas (made in a worker thread) into this loop, in seq order."""
        self._loop = loop
        self.published_seq = self.index.seq

        def on_delta(delta: Delta) -> None:
            loop.call_soon_threadsafe(self.publish, delta)

        self.index.on_delta = on_delta

    def publish(self, delta: Delta) -> None:
        """Queue a delta for every client (event loop only); never waits for any of them."""
        self.published_seq = max(self.published_seq, delta.seq)
        item = _DeltaItem(delta.seq, delta.to_message(), {})
        for c in list(self.clients):
            try:
                c.queue.put_nowait(item)
            except asyncio.QueueFull:
                self._overflow(c)

    def _overflow(self, c: Client) -> None:
        c.overflows += 1
        if c.overflows > self.max_overflows:
            self._drop(c, "too slow: fell behind repeatedly")
            return
        self.resyncs += 1
        _drain(c.queue)
        c.queue.put_nowait(_RESYNC)

    def _drop(self, c: Client, reason: str) -> None:
        if c.dropped:
            return
        c.dropped = True
        self.drops += 1
        self.clients.discard(c)
        _drain(c.queue)
        if c.sender is not None and c.sender is not asyncio.current_task():
            c.sender.cancel()
        log.info("runwatch: dropping WebSocket client: %s", reason)
        asyncio.ensure_future(_close_quietly(c.ws, 1013, reason))

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.send_heartbeats()

    def send_heartbeats(self) -> None:
        msg = {"type": "heartbeat", "seq": self.published_seq, "time": time.time()}
        for c in list(self.clients):
            try:
                c.queue.put_nowait(msg)
            except asyncio.QueueFull:
                pass  # the client is behind anyway; its overflow handling resyncs it

    async def close_all(self) -> None:
        for c in list(self.clients):
            self.clients.discard(c)
            await _stop_task(c.sender, timeout=0.5)
            await _close_quietly(c.ws, 1001, "server shutting down")

    # ------------------------------------------------------------------ one client

    async def handle(self, ws: WebSocket, flt: RunFilter | None = None) -> None:
        """Serve one accepted-to-be connection until it closes."""
        await ws.accept()
        c = Client(ws=ws, queue=asyncio.Queue(maxsize=self.queue_size), filter=flt or RunFilter())
        self.clients.add(c)
        c.queue.put_nowait(_RESYNC)
        c.sender = asyncio.create_task(self._sender(c))
        try:
            while not c.dropped:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text, raw = msg.get("text"), msg.get("bytes")
                if (raw is not None and len(raw) > MAX_CLIENT_MESSAGE) or (text is not None and len(text) > MAX_CLIENT_MESSAGE):
                    # Behind a server without a frame limit of its own: still refuse it here.
                    self.clients.discard(c)
                    await _close_quietly(ws, 1009, f"message larger than {MAX_CLIENT_MESSAGE} bytes")
                    break
                if text is None and raw is not None:
                    text = raw.decode("utf-8", errors="replace")
                self._on_message(c, text or "")
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.clients.discard(c)
            await _stop_task(c.sender)

    def _on_message(self, c: Client, text: str) -> None:
        try:
            data = json.loads(text)
            kind = data.get("type") if isinstance(data, dict) else None
        except (ValueError, RecursionError):  # RecursionError: '[[[[…' nested deeper than the parser goes
            kind, data = None, None
        if kind == "resync":
            self.resyncs += 1
            _drain(c.queue)
            c.queue.put_nowait(_RESYNC)
        elif kind == "subscribe":
            try:
                c.filter = RunFilter.parse(data.get("prefix"), data.get("statuses"))
            except FilterError as e:
                self._control(c, {"type": "error", "message": str(e)})
                return
            _drain(c.queue)
            c.queue.put_nowait(_RESYNC)
        elif kind == "ping":
            self._control(c, {"type": "pong", "seq": self.published_seq, "time": time.time()})
        else:
            self._control(c, {"type": "error", "message": "expected a JSON object with type resync, subscribe or ping"})

    def _control(self, c: Client, msg: dict[str, Any]) -> None:
        try:
            c.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self._overflow(c)

    async def _sender(self, c: Client) -> None:
        try:
            while True:
                item = await c.queue.get()
                if item is _RESYNC:
                    seq, text = await self._snapshot_text(c.filter)
                    c.last_seq = seq
                elif isinstance(item, _DeltaItem):
                    if item.seq <= c.last_seq:
                        continue  # already contained in the snapshot this client got
                    cached = item.encoded.get(c.filter)
                    if cached is None:
                        cached = item.encoded[c.filter] = _encode(_filtered(item.message, c.filter))
                    text = cached
                    c.last_seq = item.seq
                else:
                    text = _encode(item)
                try:
                    # asyncio.timeout, not wait_for: no inner task that could outlive this one.
                    async with asyncio.timeout(self.send_timeout_s):
                        await c.ws.send_text(text)
                except TimeoutError:
                    self._drop(c, f"a send took more than {self.send_timeout_s:g} s")
                    return
                c.sent += 1
                if c.queue.empty():
                    c.overflows = 0  # caught up: past slowness is forgiven
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away: the receive side ends the client
            self.clients.discard(c)

    async def _snapshot_text(self, flt: RunFilter) -> tuple[int, str]:
        seq = self.index.seq
        cached = self._snap_cache.get((seq, flt))
        if cached is not None:
            return seq, cached
        # The index keeps no records: they are built (and encoded) off the event loop,
        # once per seq and filter however many clients ask.
        seq, text = await asyncio.to_thread(self._build_snapshot, flt)
        if self.on_big is not None:
            self.on_big(len(text))
        # A snapshot of an older seq is never sent again: only the newest seq's are kept (at
        # 50,000 runs each is tens of MB).
        for key in [k for k in self._snap_cache if k[0] != seq]:
            del self._snap_cache[key]
        self._snap_cache[(seq, flt)] = text
        while len(self._snap_cache) > 4:
            self._snap_cache.popitem(last=False)
        return seq, text

    def _build_snapshot(self, flt: RunFilter) -> tuple[int, str]:
        seq, records = self.index.records()
        summary = self.index.summary()
        runs = [r for r in records if flt.matches(r)] if not flt.is_empty else records
        return seq, _encode({"type": "snapshot", "seq": seq, "runs": runs, "summary": summary, "filter": flt.to_dict(), **labels()})


async def _stop_task(task: asyncio.Task[None] | None, timeout: float = 2.0) -> None:
    """Cancel a client's sender and wait until it has really ended.

    A cancelled task that is merely dropped can be garbage-collected while still pending
    (asyncio then logs "Task was destroyed but it is pending"), because once its client is
    gone nothing else refers to it; awaiting it lets it unwind before the client goes.
    """
    if task is None or task is asyncio.current_task():
        return
    task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait({task}, timeout=timeout)


def _drain(q: asyncio.Queue[Any]) -> None:
    while True:
        try:
            q.get_nowait()
        except asyncio.QueueEmpty:
            return


async def _close_quietly(ws: WebSocket, code: int, reason: str) -> None:
    try:
        if ws.application_state != WebSocketState.DISCONNECTED:
            await asyncio.wait_for(ws.close(code=code, reason=reason[:120]), timeout=2.0)
    except Exception:
        pass

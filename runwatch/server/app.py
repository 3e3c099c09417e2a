"""The starlette application: the JSON API, the WebSocket and the static page.

Everything the page shows comes from these endpoints, so anything a person sees in
the browser a script can get too. No endpoint takes a file path: runs are addressed
by the index's opaque ids, and all endpoints are read-only GETs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from runwatch import json_out
from runwatch.compare.query import QueryError, filter_records, index_params, parse_query
from runwatch.live.index import LiveIndex
from runwatch.live.watcher import Watcher
from runwatch.run_status.rules import REASONS
from runwatch.server import collector
from runwatch.server.detail import run_detail
from runwatch.server.memory_trim import Trimmer
from runwatch.server.metrics import render_metrics
from runwatch.server.security import Guard, default_allowed_hosts
from runwatch.server.websocket_progress import FilterError, ProgressWebSocketServer, RunFilter, ServedIndex
from runwatch.view_model import SORT_ALIASES, SORT_KEYS, sort_records

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
MAX_LIMIT = 10000
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class Feed(Protocol):
    """What keeps an index-like object current in place of the scan and the watcher (the hub's agents)."""

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Feeds the index while the server runs."""

    async def detail(self, run_id: str) -> dict[str, Any] | None:
        """The detail record of one run (``/api/runs/{id}``), None for an unknown id."""

    def health(self) -> dict[str, Any]:
        """Extra ``/healthz`` fields."""


class BadRequest(ValueError):
    """A query parameter that cannot be used; the message names it."""


def _json(data: Any, status: int = 200) -> Response:
    return Response(json_out.dumps_bytes(data), status_code=status, media_type="application/json", headers={"cache-control": "no-store"})


async def _trim_loop(trimmer: Trimmer) -> None:
    while True:
        await asyncio.sleep(trimmer.interval_s)
        if trimmer.pending >= trimmer.threshold:
            await asyncio.to_thread(trimmer.maybe_trim)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= v <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {v}")
    return v


def select_runs(records: list[dict[str, Any]], request: Request, params: Any = None) -> tuple[list[dict[str, Any]], int]:
    """Filter (status, q, prefix, cluster), sort (``sort=key`` or ``-key``; None last) and paginate.

    ``q`` is the one search of every surface (runwatch.compare.query: name, reason, metric name,
    ``key=value``); ``params(record)`` gives a run's hyperparameters when a word tests one."""
    try:
        flt = RunFilter.parse(request.query_params.get("prefix"), request.query_params.get("status"))
        query = parse_query(request.query_params.get("q"))
    except (FilterError, QueryError) as e:
        raise BadRequest(str(e)) from None
    clusters = {c.strip() for c in (request.query_params.get("cluster") or "").split(",") if c.strip()}
    rows = [r for r in records if flt.matches(r) and (not clusters or r.get("cluster") in clusters)]
    rows = filter_records(rows, query, params or (lambda r: {}))
    reasons = {x.strip() for x in (request.query_params.get("reason") or "").split(",") if x.strip()}
    if reasons:  # ?reason=crashed,never_started ("not started" and "crashed" apart)
        unknown = sorted(reasons - set(REASONS))
        if unknown:
            raise BadRequest(f"unknown reason {', '.join(unknown)}; known: {', '.join(REASONS)}")
        rows = [r for r in rows if r.get("reason") in reasons]
    # The one sort of every surface (view_model.sort_records): ``key`` ascending, ``-key`` descending.
    sort = request.query_params.get("sort") or "run"
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_KEYS and key not in SORT_ALIASES:
        raise BadRequest(f"sort must be one of {', '.join(SORT_KEYS)} (prefix '-' for descending), got {sort!r}")
    rows = sort_records(rows, key, desc)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    limit = _int_param(request, "limit", 1000, 0, MAX_LIMIT)
    return rows[offset : offset + limit], len(rows)


def create_app(
    index: ServedIndex,
    token: str | None = None,
    allowed_origins: Iterable[str] = (),
    *,
    bind_host: str | None = "127.0.0.1",
    allowed_hosts: Iterable[str] | None = None,
    watch: bool = True,
    polling: bool | None = None,
    sweep_interval: float = 5.0,
    heartbeat_s: float = 15.0,
    queue_size: int = 256,
    send_timeout_s: float = 10.0,
    scan_in_background: bool = False,
    scan_batch: int = 500,
    feed: Feed | None = None,
    notifier: Any = None,
    agent_answer: Any = None,
) -> Guard:
    """The dashboard app over a LiveIndex; its lifespan scans (if the index is empty) and watches.

    With ``scan_in_background`` the server answers at once and runs arrive as deltas
    in batches of ``scan_batch`` (``summary.scanning`` is true until the scan is done).

    With a ``feed`` the index is any index-like object (``seq``, ``records()``,
    ``summary()``, ``len()``, ``on_delta``) kept current by the feed instead of by a
    scan and a file watcher: that is how ``runwatch hub`` serves the merged index of
    its agents with this same app.

    A ``notifier`` (runwatch.live.notify.Notifier) is fed the same deltas and started and stopped with the app.

    With ``agent_answer`` (``runwatch.cli_agent.answer``) the app also listens on the project's agent
    socket (runwatch.live.agent_socket), so that a one-shot ``runwatch status`` asks it instead of scanning.
    """
    live: LiveIndex | None = None  # the index the app scans and watches itself (no feed)
    if feed is None:
        if not isinstance(index, LiveIndex):
            raise TypeError(f"create_app: an index without a feed must be a LiveIndex, not {type(index).__name__}")
        live = index
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runwatch-index")
    trimmer = Trimmer()  # gives back what the big answers freed (glibc keeps it otherwise)
    ws_server = ProgressWebSocketServer(index, heartbeat_s=heartbeat_s, queue_size=queue_size, send_timeout_s=send_timeout_s, on_big=trimmer.note)
    watcher = Watcher(live, polling=polling, sweep_interval=sweep_interval, executor=executor) if watch and live is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        ws_server.attach(loop)
        if notifier is not None:
            notifier.attach(index)  # after the WebSocket server: both get every delta
            notifier.start()
        agent = None
        if agent_answer is not None and live is not None:
            from runwatch.live.agent_socket import AgentSocket

            agent = AgentSocket(live, agent_answer)
            if not agent.start():
                agent = None
        if live is not None and len(live) == 0 and live.seq == 0:
            scan = loop.run_in_executor(executor, live.full_scan, scan_batch if scan_in_background else 0)
            if not scan_in_background:
                await scan
        tasks = [asyncio.create_task(ws_server.heartbeat_loop())]
        if trimmer.active:
            tasks.append(asyncio.create_task(_trim_loop(trimmer)))
        if watcher is not None:
            tasks.append(asyncio.create_task(watcher.run()))
        try:
            async with feed.running() if feed is not None else contextlib.nullcontext():
                yield
        finally:
            if agent is not None:
                await asyncio.to_thread(agent.close)
            if watcher is not None:
                watcher.stop()
            await ws_server.close_all()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            store = getattr(index, "store", None)
            if store is not None:
                # The index's worker may be blocked (a reader on a hung file system): shutting
                # down must not wait for it forever.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(loop.run_in_executor(executor, store.save), timeout=3.0)
            executor.shutdown(wait=False, cancel_futures=True)
            if notifier is not None:
                # Briefly: what is waiting gets one try, but a shutdown is never held up by a target.
                await asyncio.to_thread(notifier.stop, 2.0)

    async def api_runs(request: Request) -> Response:
        # Records are built per request (the index keeps none): off the event loop.
        seq, records = await asyncio.to_thread(index.records)
        try:
            rows, total = await asyncio.to_thread(select_runs, records, request, index_params(index))
        except BadRequest as e:
            return _json({"error": str(e)}, 400)
        response = _json({"runs": rows, "total": total, "seq": seq})
        trimmer.note(len(response.body))
        return response

    async def api_run(request: Request) -> Response:
        if feed is not None:
            detail = await feed.detail(request.path_params["run_id"])
        else:
            assert live is not None  # no feed: a LiveIndex (checked above)
            entry = live.get(request.path_params["run_id"])
            detail = await asyncio.to_thread(run_detail, entry, cluster=live.cluster, project=live.project) if entry is not None else None
        if detail is None:
            return _json({"error": "no run with this id (ids come from /api/runs)"}, 404)
        detail["seq"] = index.seq
        return _json(detail)

    async def api_summary(request: Request) -> Response:
        return _json(index.summary())

    async def healthz(request: Request) -> Response:
        ok = not getattr(index, "root_missing", False)  # the project gone (renamed, unmounted): not healthy, 503
        body = {
            "ok": ok,
            "runs": len(index),
            "seq": index.seq,
            "scanning": index.scanning,
            # False until the first full scan is committed: a client waiting for the scan waits for this.
            "ready": getattr(index, "ready", True),
            "watcher": watcher.mode if watcher else None,
            # Watched and polled folders and the kernel's watch budget: "degraded" when some are polled.
            "watch": watcher.health() if watcher else None,
            "clients": len(ws_server.clients),
            **(feed.health() if feed is not None else {}),
        }
        if notifier is not None:
            body["notify"] = notifier.health()
        if not ok:
            body["root_missing"] = True
        return _json(body, 200 if ok else 503)

    async def metrics(request: Request) -> Response:
        text = await asyncio.to_thread(render_metrics, index, ws_server, notifier)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def page(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), headers={"cache-control": "no-store"})

    async def ws_endpoint(websocket: WebSocket) -> None:
        try:
            flt = RunFilter.parse(websocket.query_params.get("prefix"), websocket.query_params.get("status"))
        except FilterError as e:
            await websocket.accept()  # accepted first so the client can read why
            await websocket.close(code=1008, reason=str(e)[:120])
            return
        await ws_server.handle(websocket, flt)

    routes = [
        Route("/", page),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run_id}", api_run),
        Route("/api/summary", api_summary),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        WebSocketRoute("/ws", ws_endpoint),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if live is not None:  # the launcher's failure reports go to the agent beside the runs, not to a hub
        routes.append(Route(collector.PATH, collector.endpoint(live, executor), methods=["POST"]))
        from runwatch.server.compare_api import routes as compare_routes

        routes += compare_routes(live)  # /api/compare/...: over the agent's own runs (docs/compare.md)
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.index = index
    app.state.ws = ws_server
    app.state.watcher = watcher
    app.state.notifier = notifier

    async def headers_mw(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                hdrs = list(message.get("headers", []))
                hdrs += [(b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": hdrs}
            await send(message)

        await app(scope, receive, send_with_headers)

    hosts = allowed_hosts if allowed_hosts is not None else default_allowed_hosts(token, bind_host)
    guarded = Guard(headers_mw, token=token, allowed_hosts=hosts, allowed_origins=allowed_origins, own_token_paths=(collector.PATH,))
    # Expose the inner app's state on the outer callable for callers and tests.
    guarded.state = app.state
    return guarded

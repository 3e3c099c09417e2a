"""``runwatch serve`` as the launcher's failure collector: ``POST /api/collector``.

Pylon's ``agents/launcher/remote_command.py`` POSTs ``{host, timestamp, command,
output_lines, work_dir}`` with ``Authorization: Bearer <token>`` when a job exits non-zero.
Point it at this endpoint and each report arrives as an event: it is appended (one JSON
line) to runwatch's own store, ``<cache_dir>/collector-events.jsonl``, never to the
project's ``collector_events.json`` (that file belongs to Pylon's own collector), and the
run whose work dir it names is re-evaluated at once, so the page shows it failed, with
its exception line and last output lines, within the same second.

The token is the ``collector_token`` setting; without one the endpoint answers 404. The
endpoint checks it itself (the server's own token, if any, is not asked of the launcher).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runwatch.live.index import LiveIndex
from runwatch.readers.run_output import OWN_EVENTS
from runwatch.readers.safe_open import append_own
from runwatch.settings import MIN_TOKEN_LENGTH

log = logging.getLogger("runwatch")

PATH = "/api/collector"
MAX_BODY = 4 * 1024 * 1024
MAX_LINES = 2000
_WRITE_LOCK = threading.Lock()


class BadEvent(ValueError):
    pass


def validate(data: Any) -> dict[str, Any]:
    """The event to store, or BadEvent naming the field that is wrong."""
    if not isinstance(data, dict):
        raise BadEvent("the body must be a JSON object")
    for key in ("host", "command", "work_dir"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise BadEvent(f"{key} must be a string")
    if not isinstance(data.get("work_dir"), str) and not isinstance(data.get("command"), str):
        raise BadEvent("work_dir or command is required (they say which run failed)")
    ts = data.get("timestamp")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, str | int | float)):
        raise BadEvent("timestamp must be a number or an ISO date string")
    lines = data.get("output_lines", [])
    if isinstance(lines, str):
        lines = lines.splitlines()
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise BadEvent("output_lines must be a list of strings")
    return {
        "host": data.get("host"),
        "timestamp": ts if ts is not None else time.time(),
        "command": data.get("command"),
        "output_lines": lines[-MAX_LINES:],
        "work_dir": data.get("work_dir"),
        "received_at": time.time(),
    }


def append_event(cache_dir: str, event: dict[str, Any]) -> str:
    """Append one event line to runwatch's own store (never through a link; mode 0600 when made)."""
    path = os.path.join(cache_dir, OWN_EVENTS)
    line = json.dumps(event, ensure_ascii=True) + "\n"
    with _WRITE_LOCK:
        append_own(path, line.encode("ascii"))  # one write of one line: readers skip a line caught mid-write
    return path


def _work_dir_path(index: LiveIndex, event: dict[str, Any]) -> str | None:
    wd = event.get("work_dir")
    if not isinstance(wd, str) or not wd:
        return None
    return os.path.normpath(wd if os.path.isabs(wd) else os.path.join(index.project.root, wd))


def foreign_work_dir(index: LiveIndex, wd: str) -> str | None:
    """Why ``wd`` is not the work dir of a run of this project (None when it is one).

    A caller with the token must not make runwatch look at (or record) any other folder:
    ``../../..``, ``/etc``, or a link out of the project are refused.
    """
    root = os.path.normpath(index.project.root)
    if "\x00" in wd or not (wd == root or wd.startswith(root.rstrip(os.sep) + os.sep)):
        return "work_dir is not inside this project"
    real_root = os.path.realpath(root)
    real = os.path.realpath(wd)
    if not (real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)):
        return "work_dir leads outside this project"
    with index._lock:
        known = {os.path.normpath(e.status.work_dir) for e in index.entries.values() if e.status is not None and e.status.work_dir}
    if known and wd not in known:
        return "work_dir is not the work dir of a run of this project"
    return None


async def read_body_capped(request: Request, cap: int) -> bytes | None:
    """The request body, or None as soon as it is over ``cap`` bytes (Content-Length or not).

    Streamed: a chunked body without Content-Length is counted as it arrives, never
    buffered past the cap.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > cap:
                return None
        except ValueError:
            return None
    chunks: list[bytes] = []
    got = 0
    async for chunk in request.stream():
        got += len(chunk)
        if got > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def endpoint(index: LiveIndex, executor: Any) -> Any:
    settings = index.project.settings
    cache_dir = str(settings.resolve_cache_dir(index.project.root))

    async def collect(request: Request) -> Response:
        token = settings.collector_token
        if not token:
            return JSONResponse({"error": "the collector is off: set collector_token in the project settings"}, 404)
        if len(token) < MIN_TOKEN_LENGTH:
            return JSONResponse({"error": f"the collector is off: collector_token must be at least {MIN_TOKEN_LENGTH} characters"}, 404)
        auth = request.headers.get("authorization", "")
        presented = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not presented or not hmac.compare_digest(presented.encode(), token.encode()):
            return JSONResponse({"error": "a valid collector token is required (Authorization: Bearer)"}, 401)
        body = await read_body_capped(request, MAX_BODY)
        if body is None:
            return JSONResponse({"error": f"the body is larger than {MAX_BODY} bytes"}, 413)
        try:
            event = validate(json.loads(body))
        except RecursionError:
            return JSONResponse({"error": "bad collector event: JSON nested too deeply"}, 400)
        except (ValueError, BadEvent) as e:
            return JSONResponse({"error": f"bad collector event: {e}"}, 400)
        wd = _work_dir_path(index, event)
        if wd is not None and (why := foreign_work_dir(index, wd)) is not None:
            return JSONResponse({"error": f"bad collector event: {why}"}, 400)
        try:
            await asyncio.to_thread(append_event, cache_dir, event)
        except OSError as e:  # a link planted in runwatch's cache, a full disk: refused, logged, nothing written
            log.warning("runwatch collector: event not stored: %s: %s", e.filename or cache_dir, e.strerror or e)
            return JSONResponse({"error": f"the event could not be stored ({e.strerror or e})"}, 503)
        if wd is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, index.apply_changes, [wd])
        else:  # a command only: every run may be the one
            await asyncio.get_running_loop().run_in_executor(executor, index.sweep)
        return JSONResponse({"ok": True}, 201)

    return collect

"""WebSocket helpers shared by the server's protocol tests and its torture tests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


async def recv_until(ws: Any, pred: Any, timeout: float = 15.0) -> dict[str, Any]:
    """The first message (parsed) for which ``pred`` is true; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no matching message")
        m = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
        if pred(m):
            return m

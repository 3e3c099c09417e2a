"""Who may talk to the server: a token, the Host header and the WebSocket Origin.

The dashboard is read-only, but it shows paths, scores and log tails that a lab may
not want public. Without a token only loopback Host names are served (a page on
another site that rebinds its DNS name to 127.0.0.1 is refused); with a token every
HTTP and WebSocket request must carry it (query ``token``, ``Authorization: Bearer``
or the cookie set from the query parameter, as Jupyter does). A browser's WebSocket
from another origin is refused either way, because browsers send cookies along.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "runwatch_token"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    h = host.strip("[]").lower()
    return h in LOOPBACK_HOSTS or h.startswith("127.")


def _hostname(host_header: str) -> str:
    """``example.org`` from ``example.org:8765``, ``::1`` from ``[::1]:8765``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _presented_token(scope: Scope, headers: Headers) -> tuple[str | None, bool]:
    """(token, came from the query string)."""
    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if qs.get("token"):
        return qs["token"][0], True
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    cookie = headers.get("cookie")
    if cookie:
        jar = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:
            return None, False
        if COOKIE in jar:
            return jar[COOKIE].value, False
    return None, False


def origin_allowed(origin: str | None, host_header: str | None, allowed_origins: Iterable[str] = ()) -> bool:
    """No Origin (not a browser), the page's own origin, or one listed explicitly."""
    if not origin:
        return True
    if origin in set(allowed_origins):
        return True
    if origin == "null" or not host_header:
        return False
    return urlsplit(origin).netloc.lower() == host_header.strip().lower()


class Guard:
    """ASGI middleware enforcing the token, the Host allow-list and the WebSocket Origin."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: Iterable[str] | None,
        allowed_origins: Iterable[str] = (),
        own_token_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.token = token
        # HTTP paths that check a token of their own (the launcher's collector POST).
        self.own_token_paths = frozenset(own_token_paths)
        self.allowed_hosts = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        self.allowed_origins = tuple(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            await self._deny(scope, receive, send, 403, f"host {host!r} is not allowed; use a loopback address or start the server with a token")
            return
        from_query = False
        if self.token is not None and not (kind == "http" and scope.get("path") in self.own_token_paths):
            presented, from_query = _presented_token(scope, headers)
            if presented is None or not hmac.compare_digest(presented.encode(), self.token.encode()):
                await self._deny(scope, receive, send, 401, "a valid token is required (?token=..., Authorization: Bearer or cookie)")
                return
        if kind == "websocket" and not origin_allowed(headers.get("origin"), host, self.allowed_origins):
            await self._deny(scope, receive, send, 403, "cross-origin WebSocket refused")
            return
        if kind == "http" and from_query:
            await self.app(scope, receive, self._with_cookie(send))
        else:
            await self.app(scope, receive, send)

    def _with_cookie(self, send: Send) -> Send:
        token = self.token or ""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                hdrs = list(message.get("headers", []))
                hdrs.append((b"set-cookie", f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode()))
                message = {**message, "headers": hdrs}
            await send(message)

        return wrapped

    async def _deny(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            # Closing before accept makes the server answer the handshake with HTTP 403.
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def default_allowed_hosts(token: str | None, bind_host: str | None, extra: Iterable[str] = ()) -> Any:
    """Without a token: loopback names (plus the bound host); with one: any host."""
    if token is not None:
        return None
    hosts = set(LOOPBACK_HOSTS) | set(extra)
    if bind_host and bind_host not in ("0.0.0.0", "::"):
        hosts.add(bind_host.strip("[]"))
    return hosts

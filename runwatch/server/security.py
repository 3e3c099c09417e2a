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
import ipaddress
import json
import re
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runwatch.settings import MIN_TOKEN_LENGTH as settings_min_token_length

COOKIE = "runwatch_token"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# A token guards paths, scores and log tails: at least this many characters (a generated
# one has 32). An empty token would let an empty cookie in.
MIN_TOKEN_LENGTH = settings_min_token_length


class TokenError(ValueError):
    """A token that is empty, too short or not printable ASCII; the message says which."""


def check_token(token: str | None) -> None:
    """Raise ``TokenError`` unless ``token`` is None (no token) or a usable one."""
    if token is None:
        return
    if not token:
        raise TokenError("--token is empty: give a token of at least 16 characters, or leave the option out")
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"--token is {len(token)} characters long: use at least {MIN_TOKEN_LENGTH} (a random one: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    if not all("!" <= c <= "~" for c in token):
        raise TokenError("--token must be printable ASCII without spaces (it travels in URLs, headers and cookies)")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z); never a name like ``127.evil.com``."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


# RFC 9110 7.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ]; uri-host = IP-literal /
# IPv4address / reg-name. No userinfo ('@'), no path, no spaces.
_REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]*")
_PORT = re.compile(r"[0-9]*")


def parse_host_header(value: str) -> str | None:
    """The lower-case host of a Host header (``::1`` from ``[::1]:8765``), None when it is not
    a valid RFC 9110 Host (``localhost:8765@evil.com``, a path, spaces, a bad port)."""
    h = value.strip(" \t")
    if not h:
        return None
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            return None
        literal, rest = h[1:end], h[end + 1 :]
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return None
        host = literal
    else:
        host, sep, port = h.partition(":")
        rest = sep + port
        if not host or _REG_NAME.fullmatch(host) is None:
            return None
    if rest and (not rest.startswith(":") or _PORT.fullmatch(rest[1:]) is None or len(rest) > 6):
        return None
    return host.lower()


def _hostname(host_header: str) -> str | None:
    """``example.org`` from ``example.org:8765``, ``::1`` from ``[::1]:8765``; None when invalid."""
    return parse_host_header(host_header)


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

    state: State  # the wrapped app's state, exposed by ``create_app`` for callers and tests

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: Iterable[str] | None,
        allowed_origins: Iterable[str] = (),
        own_token_paths: Iterable[str] = (),
    ) -> None:
        check_token(token)
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
        if headers.getlist("host")[1:] or (host and _hostname(host) is None):
            await self._deny(scope, receive, send, 400, "invalid Host header (RFC 9110: host[:port], no userinfo)")
            return
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
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
        )
        await send({"type": "http.response.body", "body": body})


def default_allowed_hosts(token: str | None, bind_host: str | None, extra: Iterable[str] = ()) -> Any:
    """Without a token: loopback names (plus the bound host); with one: any host."""
    if token is not None:
        return None
    hosts = set(LOOPBACK_HOSTS) | set(extra)
    if bind_host and bind_host not in ("0.0.0.0", "::"):
        hosts.add(bind_host.strip("[]"))
    return hosts

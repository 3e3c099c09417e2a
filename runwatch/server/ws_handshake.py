"""The WebSocket handshake under a size limit: an oversized one is answered and closed.

uvicorn's websockets protocol hands the upgrade request to the websockets parser, which
refuses a request line or a header line over 8 KiB (or more than 128 headers), but uvicorn
never answers that refusal: the socket stays open with nothing sent, and a client can hold
sockets that way. This protocol is uvicorn's, plus: a request line over ``MAX_LINE`` gets
``414 URI Too Long``, a header line over it, too many headers or a handshake over
``MAX_HANDSHAKE_BYTES`` in all gets ``431 Request Header Fields Too Large``, and the
connection is closed at once.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import MAX_LINE_LENGTH

MAX_LINE = MAX_LINE_LENGTH  # 8 KiB, websockets' own limit (and most HTTP servers')
MAX_HANDSHAKE_BYTES = 16 * 1024

_REASONS = {414: "URI Too Long", 431: "Request Header Fields Too Large"}


def rejection(status: int, message: str) -> bytes:
    """The raw HTTP response sent for a refused handshake."""
    body = (message + "\n").encode()
    head = f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode("ascii") + body


def oversized_status(head: bytes) -> int | None:
    """414 or 431 when the handshake bytes seen so far are over a limit, else None."""
    end = head.find(b"\r\n")
    if (end < 0 and len(head) > MAX_LINE) or end > MAX_LINE:
        return 414
    if len(head) > MAX_HANDSHAKE_BYTES:
        return 431
    return None


class LimitedHandshakeProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol that answers an oversized handshake (414/431)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = b""

    def data_received(self, data: bytes) -> None:
        if not self.handshake_initiated and not self.close_sent:
            if len(self._head) <= MAX_HANDSHAKE_BYTES:
                self._head += data[: MAX_HANDSHAKE_BYTES + 1 - len(self._head)]
            status = oversized_status(self._head)
            if status is None:
                if self.conn.handshake_exc is None:
                    super().data_received(data)
                    if self.handshake_initiated or self.conn.handshake_exc is None:
                        return
                status = oversized_status(self._head) or 431  # refused by the parser: a line or header count over its limit
            self._reject(status)
            return
        super().data_received(data)

    def _reject(self, status: int) -> None:
        self.handshake_complete = True
        self.close_sent = True
        what = "request line" if status == 414 else "handshake headers"
        self.logger.warning("WebSocket handshake refused with %d: %s too large", status, what)
        if not self.transport.is_closing():
            self.transport.write(rejection(status, f"{what} too large"))
            self.transport.close()

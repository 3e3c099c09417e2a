"""The dashboard server under hostile clients: bad frames, huge frames, crowds that vanish,
clients that never read, path traversal, missing tokens, foreign origins, markup in names.

Everything runs over real loopback sockets against a real uvicorn server: the ``websockets``
client for well-behaved peers, hand-built frames on raw sockets for the malformed ones
(no library will send those), and real Chromium for the cross-origin and XSS checks.
After every attack the server must still serve a fresh client its snapshot and deltas,
and nothing may have been logged as an unhandled exception.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import shutil
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from runwatch.process_info import ProcessSnapshot
from ws_helpers import recv_until
from runwatch.server import BackgroundServer
from runwatch.server.websocket_progress import MAX_CLIENT_MESSAGE
from runwatch.testing.generator import GeneratedTree, generate_tree
from tests.test_live import add_epoch

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "runwatch", "static")
CHROMIUM = "/usr/bin/chromium"
XSS_KEY = "<img src=x onerror=window.__xss=1>"
XSS_FOLDER = "<svg onload=window.__xss=3>"
XSS_FILE = "<img src=x onerror=alert(1)>"


# ---------------------------------------------------------------- plumbing


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@contextlib.contextmanager
def serving(root: str, **kw: Any) -> Iterator[tuple[BackgroundServer, list[str]]]:
    """A started server plus every ERROR logged by uvicorn or runwatch while it runs.

    The handler is attached after uvicorn's Config has applied its logging dictConfig,
    which would otherwise replace it. "Exception in ASGI application" lands here, and so
    does asyncio's "Task was destroyed but it is pending" (a sender task never awaited).
    """
    kw.setdefault("sweep_interval", 3600)
    srv = BackgroundServer(root, **kw)
    handler = _Collect()
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.asgi", "runwatch", "asyncio")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        with srv:
            yield srv, handler.records
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def hostport(srv: BackgroundServer) -> tuple[str, int]:
    netloc = srv.base.split("://", 1)[1].strip("/")
    host, port = netloc.rsplit(":", 1)
    return host, int(port)


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0, length: int | None = None) -> bytes:
    """One WebSocket frame as a client sends it (masked), or deliberately wrong."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 1 << 16:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def raw_ws(host: str, port: int, path: str = "/ws", extra: str = "", rcvbuf: int | None = None) -> socket.socket:
    """A raw socket that has completed the WebSocket handshake (and asserts it did)."""
    s = socket.create_connection((host, port), timeout=10)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(1)
        assert chunk, f"connection closed during handshake: {buf!r}"
        buf += chunk
    assert b" 101 " in buf.split(b"\r\n")[0], buf
    return s


def read_frames(s: socket.socket, timeout: float = 10.0) -> tuple[list[tuple[int, bytes]], int | None]:
    """Server frames until the server closes: ([(opcode, payload)], close code or None if it just hung up)."""
    s.settimeout(timeout)
    buf = b""
    frames: list[tuple[int, bytes]] = []

    def need(n: int) -> bool:
        nonlocal buf
        while len(buf) < n:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return False
            if not chunk:
                return False
            buf += chunk
        return True

    while True:
        if not need(2):
            return frames, None
        op, n = buf[0] & 0x0F, buf[1] & 0x7F
        off = 2
        if n == 126:
            if not need(4):
                return frames, None
            n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if not need(10):
                return frames, None
            n, off = int.from_bytes(buf[2:10], "big"), 10
        if not need(off + n):
            return frames, None
        payload, buf = buf[off : off + n], buf[off + n :]
        frames.append((op, payload))
        if op == 0x8:
            return frames, int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005


def raw_http(host: str, port: int, target: str, headers: str = "") -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation of ``..`` or ``%2e``)."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n{headers}\r\n".encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


async def assert_healthy(srv: BackgroundServer, tree: GeneratedTree, rel: str) -> None:
    """A fresh client gets a full snapshot and then the delta for an epoch written now."""
    async with connect(srv.ws_url + (f"?token={srv.token}" if srv.token else ""), max_size=None) as ws:
        snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert snap["type"] == "snapshot" and len(snap["runs"]) == len(srv.index)
        await asyncio.to_thread(add_epoch, tree, rel)
        await recv_until(ws, lambda m: m["type"] == "delta" and any(r["run"] == rel for r in m["changed"]))


def wait_for(cond: Any, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.05)


def running_trainers(tree: GeneratedTree, room: int = 1) -> list[str]:
    """Running trainers that can take ``room`` more epochs and stay running."""
    return [r.rel for r in tree.runs if r.status == "running" and r.kind == "trainer" and r.total_epochs - r.completed_epochs > room]


@pytest.fixture
def ptree(tmp_path) -> GeneratedTree:
    return generate_tree(str(tmp_path / "proj"), n_runs=40, seed=31, n_seeds=5, max_epochs=40)


# ---------------------------------------------------------------- malformed and oversized frames


def test_malformed_messages_get_an_error_and_the_socket_stays_usable(ptree, tally):
    """Wrong JSON is answered with an error message; the same connection then works normally."""
    bad: list[str | bytes] = [
        "not json{",
        "",
        " ",
        "[]",
        '"resync"',
        "42",
        "null",
        '{"type": "hack"}',
        '{"type": ["resync"]}',
        '{"type": "subscribe", "prefix": 5}',
        '{"type": "subscribe", "statuses": 5}',
        '{"type": "subscribe", "statuses": {"running": 1}}',
        '{"type": "subscribe", "statuses": ["running", 1]}',
        '{"type": "subscribe", "statuses": ["nonsense"]}',
        "[" * 50_000,  # deeper than the JSON parser recurses: RecursionError, not ValueError
        '{"a":' * 9_000 + "1" + "}" * 9_000,
        "1" * 20_000,  # longer than Python's int digit limit: ValueError
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        b"\x00\xff\xfe garbage",
        bytes(range(256)),
    ]

    async def main(srv: BackgroundServer) -> None:
        async with connect(srv.ws_url, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            for msg in bad:
                await ws.send(msg)
                err = await recv_until(ws, lambda m: m["type"] in ("error", "snapshot"), timeout=10)
                assert err["type"] == "error", (msg[:40], err)
                await ws.send(json.dumps({"type": "ping"}))
                await recv_until(ws, lambda m: m["type"] == "pong", timeout=10)
                tally["ws_malformed_messages"] += 1
            # Binary frames carrying a valid command are accepted like text.
            await ws.send(json.dumps({"type": "resync"}).encode())
            assert (await recv_until(ws, lambda m: m["type"] == "snapshot"))["type"] == "snapshot"

    with serving(ptree.root) as (srv, errors):
        asyncio.run(main(srv))
        asyncio.run(assert_healthy(srv, ptree, running_trainers(ptree)[0]))
        wait_for(lambda: len(srv.app_state.ws.clients) == 0, what="clients released")
    assert errors == []


VIOLATIONS = [
    ("unmasked client frame", frame(0x1, b'{"type":"ping"}', mask=False), {1002}),
    ("reserved opcode 0x3", frame(0x3, b"x"), {1002}),
    ("reserved control opcode 0xB", frame(0xB, b"x"), {1002}),
    ("RSV1 set without an extension", frame(0x1, b'{"type":"ping"}', rsv=4), {1002}),
    ("invalid UTF-8 in a text frame", frame(0x1, b"\xc3\x28\xa0\xa1"), {1007}),
    ("fragmented ping", frame(0x9, b"x", fin=False), {1002}),
    ("continuation without a start", frame(0x0, b"x"), {1002}),
    ("ping payload over 125 bytes", frame(0x9, b"x" * 200), {1002}),
    ("close payload of one byte", frame(0x8, b"\x03"), {1002}),
    ("close with a reserved code", frame(0x8, (999).to_bytes(2, "big")), {1002}),
    ("length claims 2**62 bytes", frame(0x1, b"", length=1 << 62), {1009}),
    ("text frame over the limit", frame(0x1, b"x" * (MAX_CLIENT_MESSAGE + 1)), {1009}),
    ("binary frame over the limit", frame(0x2, os.urandom(MAX_CLIENT_MESSAGE + 1)), {1009}),
    ("fragmented message over the limit", b"".join(frame(0x1 if i == 0 else 0x0, b"y" * 16384, fin=(i == 127)) for i in range(128)), {1009}),
    ("new message inside a fragmented one", frame(0x1, b"{", fin=False) + frame(0x1, b"}"), {1002}),
]


@pytest.mark.parametrize("name,data,codes", [pytest.param(*v, id=v[0].replace(" ", "-")) for v in VIOLATIONS])
def test_protocol_violations_close_that_socket_only(ptree, tally, name, data, codes):
    """Each violation gets its RFC 6455 close code; a bystander keeps its connection and deltas."""
    with serving(ptree.root) as (srv, errors):
        host, port = hostport(srv)

        async def main() -> None:
            async with connect(srv.ws_url, max_size=None) as bystander:
                snap = json.loads(await bystander.recv())
                s = await asyncio.to_thread(raw_ws, host, port)
                try:
                    await asyncio.to_thread(s.sendall, data)
                except OSError:
                    pass  # the server may hang up before reading it all (the 2**62 and 2 MB cases)
                frames, code = await asyncio.to_thread(read_frames, s)
                s.close()
                assert code in codes, (name, code, [(op, p[:60]) for op, p in frames])
                rel = running_trainers(ptree)[0]
                await asyncio.to_thread(add_epoch, ptree, rel)
                d = await recv_until(bystander, lambda m: m["type"] == "delta" and any(r["run"] == rel for r in m["changed"]))
                assert d["seq"] == snap["seq"] + 1

        asyncio.run(main())
        wait_for(lambda: len(srv.app_state.ws.clients) == 0, what="clients released")
        assert json.loads(raw_http(host, port, "/healthz")[1])["ok"]
        tally["ws_protocol_violations"] += 1
    assert errors == [], errors


def test_a_2mb_message_is_refused_and_the_server_stays_healthy(ptree, tally):
    """The frame limit is enforced before the message is buffered: close 1009, nothing else."""
    with serving(ptree.root) as (srv, errors):

        async def main() -> None:
            for payload in ("x" * (2 << 20), json.dumps({"type": "subscribe", "prefix": "a" * (2 << 20)}), os.urandom(2 << 20)):
                async with connect(srv.ws_url, max_size=None) as ws:
                    assert json.loads(await ws.recv())["type"] == "snapshot"
                    with pytest.raises(websockets.ConnectionClosed) as e:
                        await ws.send(payload)
                        while True:
                            await asyncio.wait_for(ws.recv(), 10)
                    assert e.value.rcvd is not None and e.value.rcvd.code == 1009, e.value
                tally["ws_oversized_messages"] += 1
            await assert_healthy(srv, ptree, running_trainers(ptree)[0])

        asyncio.run(main())
        wait_for(lambda: len(srv.app_state.ws.clients) == 0, what="clients released")
    assert errors == []


def test_half_sent_frames_and_handshakes_are_forgotten(ptree, tally):
    """Peers that hang up mid-frame or mid-handshake leave no client, task or error behind."""
    with serving(ptree.root) as (srv, errors):
        host, port = hostport(srv)
        for i in range(30):
            if i % 3 == 0:
                s = socket.create_connection((host, port))
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
            else:
                s = raw_ws(host, port)
                s.sendall(frame(0x1, b'{"type":"resync"}' * 20)[: 10 + i])  # a frame header promising more
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST
            tally["ws_half_sent"] += 1
        for extra, want in (("", {400}), ("Sec-WebSocket-Version: 8\r\n", {400, 426})):
            with socket.create_connection((host, port), timeout=10) as s:
                hdr = "Sec-WebSocket-Version: 13\r\n" if not extra else extra
                key = "" if not extra else f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                s.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}{hdr}\r\n".encode())
                status = s.recv(1024).split(b" ", 2)[1]
            assert int(status) in want, (extra, status)
        wait_for(lambda: len(srv.app_state.ws.clients) == 0, what="clients released")
        asyncio.run(assert_healthy(srv, ptree, running_trainers(ptree)[0]))
    assert errors == []


# ---------------------------------------------------------------- crowds and slow readers


def test_500_clients_vanish_while_others_get_every_delta(ptree, tally, budget):
    """Half-open handshakes, unread snapshots and RSTs by the hundred; steady clients miss nothing."""
    n_vanish = int(budget(500, 3000))
    rng = random.Random(8)
    rels = running_trainers(ptree, room=6)[:4]
    assert rels

    with serving(ptree.root) as (srv, errors):
        host, port = hostport(srv)
        fds_before = len(os.listdir("/proc/self/fd"))

        async def vanish(mode: int) -> None:
            reader, writer = await asyncio.open_connection(host, port)
            key = base64.b64encode(os.urandom(16)).decode()
            req = f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            if mode == 0:
                writer.write(req[: rng.randrange(1, len(req))])  # gone mid-handshake
            else:
                writer.write(req)
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
                if mode >= 2:
                    await asyncio.wait_for(reader.read(rng.randrange(1, 4096)), 20)  # part of the snapshot
                if mode == 3:
                    writer.write(frame(0x1, b'{"type":"resync"}')[:9])  # gone mid-frame
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # RST, no close handshake

        async def steady(ws: Any, stop: asyncio.Event) -> list[int]:
            seqs = [json.loads(await ws.recv())["seq"]]
            while not (stop.is_set() and seqs[-1] >= srv.index.seq):
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                assert m["type"] in ("delta", "heartbeat"), m["type"]  # never resynced: it kept up
                if m["type"] == "delta":
                    seqs.append(m["seq"])
            return seqs

        async def writer_loop(stop: asyncio.Event) -> int:
            n = 0
            while not stop.is_set():
                await asyncio.to_thread(add_epoch, ptree, rels[n % len(rels)])
                n += 1
                await asyncio.sleep(0.25)
            return n

        async def main() -> tuple[list[list[int]], int]:
            clients = [await connect(srv.ws_url, max_size=None) for _ in range(5)]
            stop = asyncio.Event()
            watchers = [asyncio.create_task(steady(c, stop)) for c in clients]
            writes = asyncio.create_task(writer_loop(stop))
            done = 0
            while done < n_vanish:
                wave = min(50, n_vanish - done)
                await asyncio.gather(*(vanish(rng.randrange(4)) for _ in range(wave)))
                done += wave
                tally["ws_clients_vanished"] += wave
            await asyncio.sleep(1.0)
            stop.set()
            n_writes = await writes
            seqs = await asyncio.wait_for(asyncio.gather(*watchers), 30)
            assert len(srv.app_state.ws.clients) == 5
            for c in clients:
                await c.close()
            return seqs, n_writes

        seqs, n_writes = asyncio.run(main())
        for s in seqs:
            assert s == list(range(s[0], s[0] + len(s))), s  # every delta, in order, none missed
            assert s[-1] == srv.index.seq and len(s) - 1 >= min(n_writes, 2)
        wait_for(lambda: len(srv.app_state.ws.clients) == 0, what="clients released")
        wait_for(lambda: len(os.listdir("/proc/self/fd")) <= fds_before + 10, what="sockets released")
        assert json.loads(raw_http(host, port, "/healthz")[1])["clients"] == 0
    assert errors == [], errors[:3]


def test_clients_that_never_read_do_not_delay_the_others(tmp_path, tally):
    """Twenty sockets that never read and keep asking for snapshots: a reader's deltas stay prompt."""
    tree = generate_tree(str(tmp_path / "p"), n_runs=300, seed=5, n_seeds=5, max_epochs=40)
    rels = running_trainers(tree, room=2)[:8]
    with serving(tree.root, queue_size=8, send_timeout_s=2.0) as (srv, errors):
        host, port = hostport(srv)

        async def latencies(n: int) -> list[float]:
            out = []
            async with connect(srv.ws_url, max_size=None) as fast:
                json.loads(await fast.recv())
                for rel in rels[:n]:
                    t0 = time.monotonic()
                    await asyncio.to_thread(add_epoch, tree, rel)
                    await recv_until(fast, lambda m, rel=rel: m["type"] == "delta" and any(r["run"] == rel for r in m["changed"]), timeout=10)
                    out.append(time.monotonic() - t0)
            return out

        base = asyncio.run(latencies(3))
        slow = [raw_ws(host, port, rcvbuf=4096) for _ in range(20)]
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set():
                for s in slow:
                    try:
                        s.sendall(frame(0x1, b'{"type":"resync"}'))
                    except OSError:
                        pass
                time.sleep(0.01)

        t = threading.Thread(target=ask, daemon=True)
        t.start()
        try:
            time.sleep(0.5)
            lat = asyncio.run(latencies(len(rels)))[3:]
            # The drop happens once a send has been stuck for send_timeout_s; deltas keep flowing meanwhile.
            wait_for(lambda: srv.app_state.ws.drops >= 20, timeout=30, what=f"slow clients dropped ({srv.app_state.ws.drops})")
        finally:
            stop.set()
            t.join(5)
            for s in slow:
                s.close()
        tally["ws_never_reading_clients"] += 20
        # inotify + debounce is ~0.1-0.5 s here; a fast client that waited on a slow one would take >= 2 s.
        assert max(lat) < max(1.5, 3 * max(base)), (base, lat)
        wait_for(lambda: len(srv.app_state.ws.clients) == 0, what="clients released")
    assert errors == []


# ---------------------------------------------------------------- HTTP path traversal


TRAVERSALS = [
    "/static/../../etc/passwd",
    "/static/../../../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2fserver%2fsecurity.py",
    "/static/../server/security.py",
    "/static/../__init__.py",
    "/static/%2e%2e/__init__.py",
    "/static/..%5c..%5cserver%5csecurity.py",
    "/static/..\\..\\server\\security.py",
    "/static/%252e%252e/%252e%252e/etc/passwd",
    "/static/....//....//etc/passwd",
    "/static/..;/..;/etc/passwd",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/app.js%00../../etc/passwd",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/static/.%2e/.%2e/server/security.py",
    "/api/runs/..%2f..%2fetc",
    "/api/runs/../../etc/passwd",
    "/api/runs/%2e%2e",
    "/api/runs/%2fetc%2fpasswd",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "//etc/passwd",
    "/etc/passwd",
    "/proc/self/environ",
    "/static/../../../../proc/self/environ",
    "http://127.0.0.1/static/../../etc/passwd",
    "http://127.0.0.1/../runwatch/server/security.py",
]


@pytest.fixture(scope="module")
def traversal_server(tmp_path_factory):
    tree = generate_tree(str(tmp_path_factory.mktemp("trav") / "proj"), n_runs=13, seed=2, n_seeds=3)
    with serving(tree.root) as (srv, errors):
        yield srv, errors


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_never_leaves_the_static_folder(traversal_server, tally, target):
    """A 200 may only ever carry one of runwatch/static's own files or a JSON answer of the API."""
    srv, errors = traversal_server
    host, port = hostport(srv)
    allowed = set()
    for name in os.listdir(STATIC_DIR):
        with open(os.path.join(STATIC_DIR, name), "rb") as f:
            allowed.add(f.read())
    status, body = raw_http(host, port, target)
    tally["http_traversal_attempts"] += 1
    assert b"root:x:0:0" not in body and b"class Guard" not in body and b"PATH=" not in body
    if status == 200:
        assert body in allowed or body.startswith(b"{"), (target, body[:200])
    else:
        assert status in (400, 404, 405), (target, status, body[:200])
    assert errors == []


# ---------------------------------------------------------------- token and Origin from real clients


def test_token_and_origin_from_real_clients(ptree, tally):
    token = "tok-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
    with serving(ptree.root, token=token) as (srv, errors):
        host, port = hostport(srv)
        me = f"http://{host}:{port}"
        for path in ("/", "/api/runs", "/api/summary", "/healthz", "/metrics", "/static/app.js", "/api/runs/0123456789ab"):
            for hdr in ("", f"Authorization: Bearer {token[:-1]}\r\n", f"Cookie: runwatch_token={token}x\r\n", "Authorization: Basic Zm9vOmJhcg==\r\n"):
                assert raw_http(host, port, path, hdr)[0] == 401, (path, hdr)
                tally["auth_refusals"] += 1
            for q in ("?token=", f"?token={token[:8]}", f"?token={token}%00", f"?token={token.upper()}", "?token=%C3%A9"):
                assert raw_http(host, port, path + q)[0] == 401, (path, q)
                tally["auth_refusals"] += 1
            ok = raw_http(host, port, path, f"Authorization: Bearer {token}\r\n")[0]
            assert ok in (200, 404) and (ok == 404) == path.endswith("0123456789ab"), (path, ok)

        async def main() -> None:
            refused = [
                (srv.ws_url, None, {}),
                (srv.ws_url + "?token=wrong", None, {}),
                (srv.ws_url, None, {"Authorization": "Bearer wrong"}),
                (srv.ws_url, None, {"Cookie": "runwatch_token=wrong"}),
                # A valid token does not let another site's page in: browsers attach the cookie.
                (srv.ws_url + f"?token={token}", "http://evil.example", {}),
                (srv.ws_url, "http://evil.example", {"Cookie": f"runwatch_token={token}"}),
                (srv.ws_url, f"http://{host}:{port + 1}", {"Cookie": f"runwatch_token={token}"}),
                (srv.ws_url, f"http://{host}:{port}.evil.example", {"Cookie": f"runwatch_token={token}"}),
                (srv.ws_url, f"http://localhost:{port}", {"Cookie": f"runwatch_token={token}"}),
                (srv.ws_url, "null", {"Cookie": f"runwatch_token={token}"}),
            ]
            for url, origin, hdrs in refused:
                with pytest.raises(websockets.InvalidStatus) as e:
                    async with connect(url, origin=origin, additional_headers=hdrs):
                        pass
                assert e.value.response.status_code in (401, 403), (url, origin, hdrs)
                tally["auth_refusals"] += 1
            for url, origin, hdrs in (
                (srv.ws_url + f"?token={token}", me, {}),
                (srv.ws_url, me, {"Cookie": f"runwatch_token={token}"}),
                (srv.ws_url, None, {"Authorization": f"Bearer {token}"}),
            ):
                async with connect(url, origin=origin, additional_headers=hdrs, max_size=None) as ws:
                    assert json.loads(await ws.recv())["type"] == "snapshot"

        asyncio.run(main())
    assert errors == []


def test_without_a_token_foreign_hosts_and_origins_are_refused(ptree, tally):
    with serving(ptree.root) as (srv, errors):
        host, port = hostport(srv)

        async def main() -> None:
            for origin, hdrs in (
                ("http://evil.example", {}),
                ("null", {}),
                (f"http://{host}:{port + 1}", {}),
            ):
                with pytest.raises(websockets.InvalidStatus) as e:
                    async with connect(srv.ws_url, origin=origin, additional_headers=hdrs):
                        pass
                assert e.value.response.status_code == 403, (origin, hdrs)
                tally["auth_refusals"] += 1
            async with connect(srv.ws_url, origin=f"http://{host}:{port}") as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"

        asyncio.run(main())
        assert raw_http(host, port, "/api/runs", "")[0] == 200
        # DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1.
        for origin in ("", f"Origin: http://evil.example:{port}\r\n"):
            with socket.create_connection((host, port), timeout=10) as s:
                key = base64.b64encode(os.urandom(16)).decode()
                s.sendall(
                    f"GET /ws HTTP/1.1\r\nHost: evil.example:{port}\r\n{origin}Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                assert s.recv(64).split(b" ", 2)[1] == b"403", origin
            tally["auth_refusals"] += 1
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(f"GET /api/runs HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n".encode())
            assert s.recv(64).split(b" ", 2)[1] == b"403"
    assert errors == []


# ---------------------------------------------------------------- real Chromium: other sites, markup in names

EVIL_PAGE = """<!doctype html><html><body><script>
window.result = {ws: "pending", fetch: "pending"};
const ws = new WebSocket(%(ws)s);
ws.onmessage = (e) => { window.result.ws = "message"; };
ws.onerror = () => { if (window.result.ws === "pending") window.result.ws = "error"; };
ws.onclose = (e) => { if (window.result.ws === "pending") window.result.ws = "closed " + e.code; };
fetch(%(api)s, {credentials: "include"}).then(r => r.text()).then(t => { window.result.fetch = "read " + t.length; },
  e => { window.result.fetch = "blocked"; });
</script></body></html>"""


def _evil_server(html: str) -> tuple[ThreadingHTTPServer, str]:
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def _xss_run(tree: GeneratedTree) -> str:
    """A finished trainer copied under a markup folder/file name, with a markup score key."""
    src = next(r for r in tree.runs if r.scenario == "finished" and r.kind == "trainer")
    rel = f"{XSS_FOLDER}/{XSS_FILE}"
    cfg_dir = os.path.join(tree.root, "configs", XSS_FOLDER)
    os.makedirs(cfg_dir)
    with open(os.path.join(tree.root, "configs", *src.rel.split("/")) + ".py") as f:
        text = f.read().replace(f"'./logs/{src.rel}'", repr(f"./logs/{rel}"))
    with open(os.path.join(cfg_dir, XSS_FILE + ".py"), "w") as f:
        f.write(text)
    wd = os.path.join(tree.root, "logs", XSS_FOLDER, XSS_FILE)
    shutil.copytree(os.path.join(tree.root, "logs", *src.rel.split("/")), wd)
    for d in sorted(os.listdir(wd)):
        p = os.path.join(wd, d, "validation_scores.json")
        if d.startswith("epoch_") and os.path.isfile(p):
            with open(p) as f:
                data = json.load(f)
            data["aggregated"][XSS_KEY] = 0.5
            with open(p, "w") as f:
                json.dump(data, f)
            os.utime(p, (os.stat(os.path.dirname(p)).st_mtime,) * 2)
    return rel


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed (apt-get install chromium)")
def test_markup_in_names_and_score_keys_is_text_and_other_sites_are_refused(tmp_path, tally):
    pw = pytest.importorskip("playwright.sync_api")
    tree = generate_tree(str(tmp_path / "proj"), n_runs=26, seed=1, n_seeds=5)
    rel = _xss_run(tree)
    token = "t" + base64.urlsafe_b64encode(os.urandom(12)).decode()
    with serving(tree.root, token=token, monitor=ProcessSnapshot(processes=list(tree.processes))) as (srv, errors), pw.sync_playwright() as p:
        api = srv.base + "api/runs?q=onerror"
        httpd, evil_url = _evil_server(EVIL_PAGE % {"ws": json.dumps(srv.ws_url), "api": json.dumps(api)})
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            ctx = browser.new_context(viewport={"width": 1500, "height": 950})
            page = ctx.new_page()
            dialogs: list[str] = []
            page_errors: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(srv.url)  # ?token=: sets the HttpOnly cookie
            page.wait_for_selector("#conn.conn-live")
            _wait_js(page, "() => window.runwatch.runs.size > 0")
            # The run whose folder and file names are markup.
            page.fill("#search", "onerror")
            _wait_js(page, "() => document.querySelectorAll('.row.run').length === 1")
            row = page.locator(".row.run").first
            assert rel == row.get_attribute("data-run") and XSS_FILE in row.inner_text()
            assert XSS_FOLDER in page.locator("#rows").inner_text()  # the folder header, as text
            row.click()
            page.wait_for_selector("#d-body .facts")
            assert page.locator("#d-title").inner_text() == rel
            page.wait_for_selector("svg.chart")
            body = page.locator("#d-body").inner_text()
            assert XSS_KEY in body  # the score key, in the scores table and the chart caption
            assert page.locator("svg.chart").evaluate_all("(els, k) => els.some(e => e.dataset.metric === k)", XSS_KEY)
            time.sleep(0.5)  # give any injected handler time to fire
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("main img, main svg[onload], header img").count() == 0
            assert page.evaluate("document.querySelectorAll('[onerror],[onload]').length") == 0
            assert dialogs == [] and page_errors == []
            tally["xss_payloads_rendered_as_text"] += 3
            # Another site (same host, other port: the same *site*, so the cookie goes along).
            evil = ctx.new_page()
            evil.goto(evil_url)
            _wait_js(evil, "() => window.result.ws !== 'pending' && window.result.fetch !== 'pending'")
            res = evil.evaluate("window.result")
            assert res["ws"] != "message", res  # the Origin check refused the socket despite the cookie
            assert res["fetch"] == "blocked", res  # no CORS headers: the page cannot read the API
            tally["cross_site_attempts_refused"] += 2
        finally:
            browser.close()
            httpd.shutdown()
    assert errors == []


def _wait_js(page: Any, expr: str, timeout: float = 15.0) -> None:
    """Poll through CDP (wait_for_function uses eval, which the dashboard's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expr):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expr}")
        time.sleep(0.05)

"""``runwatch serve``: the live dashboard (REST + WebSocket + page) over one project.

``run_server`` blocks until SIGINT/SIGTERM; ``BackgroundServer`` runs the same server
in a thread (tests, the demo, notebooks). Binding anything but loopback without a
token generates one and prints the URL carrying it, like Jupyter does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from runwatch.project import Project
from runwatch.live.index import LiveIndex
from runwatch.server.app import create_app
from runwatch.server.security import check_token, is_loopback
from runwatch.server.websocket_progress import MAX_CLIENT_MESSAGE
from runwatch.server.ws_handshake import LimitedHandshakeProtocol
from runwatch.settings import Settings

__all__ = ["BackgroundServer", "build_server", "run_server", "uvicorn_server"]

# After SIGINT/SIGTERM the server shuts down cleanly (clients closed, store saved); if that
# has not ended the process this many seconds later, something is blocked (a reader on a
# hung file system, a process source that never answers) and the process leaves without it.
FORCE_EXIT_AFTER_S = 5.0


def _force_exit(sig: int) -> None:
    print(
        f"runwatch: still stopping {FORCE_EXIT_AFTER_S:.0f} s after signal {sig}: something is blocked; exiting without waiting for it",
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(0)


def _url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else (f"[{host}]" if ":" in host else host))
    base = f"http://{shown}:{port}/"
    return base + (f"?token={quote(token)}" if token else "")


class _ClientFaultsAreWarnings(logging.Filter):
    """uvicorn logs a full traceback at ERROR for a client's invalid UTF-8 text frame, which
    it has already answered correctly (close 1007): any peer could fill the log with them.
    One warning line says the same thing."""

    MESSAGES = frozenset({"Invalid UTF-8 sequence received from client."})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self.MESSAGES:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_client_faults() -> None:
    lg = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _ClientFaultsAreWarnings) for f in lg.filters):
        lg.addFilter(_ClientFaultsAreWarnings())


def build_server(
    root: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    settings: Settings | None = None,
    monitor: Any = None,
    polling: bool | None = None,
    on_ready: Callable[[str], None] | None = None,
    *,
    sweep_interval: float = 5.0,
    heartbeat_s: float = 15.0,
    queue_size: int = 256,
    send_timeout_s: float = 10.0,
    log_level: str = "warning",
    scan_in_background: bool = False,
    name: str | None = None,
    on_signal: Callable[[], None] | None = None,
    agent_answer: Any = None,
) -> tuple[Any, LiveIndex, str | None]:
    """(uvicorn.Server, index, effective token); ``on_ready(url)`` is called once listening.

    ``name`` is the agent's stable name (default: the host name), carried in every
    record and the summary as ``cluster`` so that a hub can tell its agents apart.
    """
    token = effective_token(host, token)  # before anything is scanned: a bad --token is a clear error at once
    project = Project.at(root, settings)
    index = LiveIndex(project, monitor=monitor, cluster=name or default_name())
    notifier = None
    if project.settings.notify.enabled:
        from runwatch.live.notify import Notifier

        notifier = Notifier(project, project.settings.notify)
    app = create_app(
        index,
        token=token,
        bind_host=host,
        polling=polling,
        sweep_interval=sweep_interval,
        heartbeat_s=heartbeat_s,
        queue_size=queue_size,
        send_timeout_s=send_timeout_s,
        scan_in_background=scan_in_background,
        notifier=notifier,
        agent_answer=agent_answer,
    )
    return uvicorn_server(app, host, port, token, on_ready, log_level, notifier, on_signal), index, token


def default_name() -> str:
    """An agent's name when not given: this machine's host name."""
    return socket.gethostname() or "localhost"


def effective_token(host: str, token: str | None) -> str | None:
    """The token to require: the given one (checked: non-empty, long enough), or a generated one when binding beyond loopback."""
    check_token(token)
    if not is_loopback(host) and token is None:
        return secrets.token_urlsafe(24)
    return token


def uvicorn_server(
    app: Any,
    host: str,
    port: int,
    token: str | None,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
    notifier: Any = None,
    on_signal: Callable[[], None] | None = None,
) -> Any:
    """The uvicorn server for a dashboard app (an agent's or a hub's); ``on_ready(url)`` once listening.

    ``on_signal()`` is called (once, from the signal handler: it must return at once) when
    SIGINT/SIGTERM asks the server to stop, so that a caller stops its own work meanwhile.

    A ``notifier`` without a dashboard URL of its own links its messages to this server's address.
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=3,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        ws_max_size=MAX_CLIENT_MESSAGE,
        ws=LimitedHandshakeProtocol,
    )
    the_token = token
    _quiet_client_faults()  # after uvicorn.Config, whose logging dictConfig would drop it

    class _Server(uvicorn.Server):
        _exit_timer: threading.Timer | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            """uvicorn's signal handler, plus a deadline: stopped within FORCE_EXIT_AFTER_S whatever is blocked."""
            super().handle_exit(sig, frame)
            if self._exit_timer is None and on_signal is not None:
                on_signal()
            if self._exit_timer is None:
                self._exit_timer = threading.Timer(FORCE_EXIT_AFTER_S, _force_exit, args=(sig,))
                self._exit_timer.daemon = True
                self._exit_timer.start()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown (a traceback or a
            killed-by-signal exit for a CLI); the shutdown is already clean, so return normally."""
            with super().capture_signals():
                try:
                    yield
                finally:
                    captured = getattr(self, "_captured_signals", None)
                    if isinstance(captured, list):
                        self.stopped_by_signals = list(captured)
                        captured.clear()

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_ready is not None:
                bound = port
                for srv in self.servers:
                    for sock in srv.sockets:
                        bound = sock.getsockname()[1]
                        break
                if notifier is not None and notifier.dashboard_url is None:
                    # Links never carry the token; a wildcard bind is linked by this machine's name.
                    notifier.dashboard_url = _url(socket.getfqdn() if host in ("0.0.0.0", "", "::") else host, bound, None)
                on_ready(_url(host, bound, the_token))

    return _Server(config)


def run_server(
    root: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    open_browser: bool = False,
    settings: Settings | None = None,
    monitor: Any = None,
    polling: bool | None = None,
    on_ready: Callable[[str], None] | None = None,
    name: str | None = None,
    on_signal: Callable[[], None] | None = None,
    agent_answer: Any = None,
) -> None:
    """Serve the dashboard until SIGINT/SIGTERM (uvicorn's handlers give a clean shutdown).

    ``on_signal()`` is called from the signal handler as the shutdown begins (see ``uvicorn_server``);
    ``agent_answer``: answer one-shot commands over the project's agent socket (see ``create_app``)."""
    ready = announcer(f"serving {root}", host, token, open_browser, on_ready)
    # Listen at once; on a large tree the first scan fills the page in batches.
    server, _, _ = build_server(
        root, host, port, token, settings, monitor, polling, ready, scan_in_background=True, name=name, on_signal=on_signal, agent_answer=agent_answer
    )
    server.run()


def announcer(what: str, host: str, token: str | None, open_browser: bool, on_ready: Callable[[str], None] | None) -> Callable[[str], None]:
    """The ``on_ready`` of a foreground server: says a token was generated, prints or hands on the URL."""
    generated = token is None and not is_loopback(host)

    def ready(url: str) -> None:
        if generated:
            print(f"runwatch: {host} is not a loopback address, so a token was generated; it is in the URL.", file=sys.stderr, flush=True)
        if on_ready is None:  # a caller with on_ready prints the URL itself
            print(f"runwatch: {what} at {url}", file=sys.stderr, flush=True)
        if open_browser:
            webbrowser.open(url)
        if on_ready is not None:
            on_ready(url)

    return ready


class BackgroundServer:
    """The server in a daemon thread, on a free port unless given: ``with BackgroundServer(root) as s: s.url``."""

    def __init__(
        self,
        root: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        ready_timeout: float = 120.0,
        builder: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``builder`` (default ``build_server``) makes the server from ``root``: ``runwatch.hub.build_hub`` takes agents."""
        self.host = host
        self._ready = threading.Event()
        self.url: str = ""
        self._timeout = ready_timeout

        def ready(url: str) -> None:
            self.url = url
            self._ready.set()

        self.server, self.index, self.token = (builder or build_server)(root, host, port, token, on_ready=ready, **kwargs)
        self._thread = threading.Thread(target=self._run, name="runwatch-server", daemon=True)
        self._error: BaseException | None = None

    @property
    def base(self) -> str:
        """The URL without the token query."""
        return self.url.split("?", 1)[0]

    @property
    def ws_url(self) -> str:
        return "ws://" + self.base.split("://", 1)[1] + "ws"

    @property
    def app_state(self) -> Any:
        return self.server.config.app.state

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as e:  # surfaced by start()
            self._error = e
            self._ready.set()

    def start(self) -> BackgroundServer:
        self._thread.start()
        if not self._ready.wait(self._timeout) or self._error is not None or not self.url:
            self.stop()
            raise RuntimeError(f"runwatch server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

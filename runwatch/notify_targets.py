"""Where notifications go: Apprise URLs (Slack, e-mail, ntfy, webhooks, ...) and command hooks.

Apprise is imported only when a message is first sent or a URL checked, so neither
``import runwatch`` nor a dashboard without ``[notify]`` pays for it. Nothing here
retries or decides what to send; ``runwatch.live.notify`` does that.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("runwatch.notify")

# Output of a hook kept for the log (the rest is cut): hooks may print a lot.
HOOK_OUTPUT_LIMIT = 4000


class DeliveryError(Exception):
    """A message that did not reach its target; the text says why (never the URL's secrets)."""


def redact(url: str) -> str:
    """The URL without credentials, path or query (``slack://``, ``mailto://host``): safe to log and show.

    Apprise URLs carry tokens and passwords in every part but the scheme and host.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    scheme = parts.scheme or "?"
    return f"{scheme}://{host}{port}" if host else f"{scheme}://"


class _ThreadLog(logging.Handler):
    """Collects what Apprise logs on the calling thread only (targets send from their own threads)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


class AppriseTarget:
    """One Apprise URL. ``send`` blocks (Apprise is synchronous) and raises DeliveryError."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = redact(url)
        self._apprise: Any = None

    def _instance(self) -> Any:
        if self._apprise is None:
            import apprise

            ap = apprise.Apprise()
            if not ap.add(self.url):
                raise DeliveryError(f"{self.label}: not a URL Apprise can send to (see https://github.com/caronc/apprise/wiki)")
            self._apprise = ap
        return self._apprise

    def check(self) -> str | None:
        """Why this URL cannot be used (unknown scheme, malformed), or None when Apprise accepts it."""
        try:
            self._instance()
        except DeliveryError as e:
            return str(e)
        return None

    def send(self, title: str, body: str) -> None:
        ap = self._instance()
        handler = _ThreadLog()
        alog = logging.getLogger("apprise")
        alog.addHandler(handler)
        try:
            ok = ap.notify(title=title, body=body)
        except Exception as e:  # a plugin that raises instead of reporting
            raise DeliveryError(f"{self.label}: {type(e).__name__}: {e}") from e
        finally:
            alog.removeHandler(handler)
        if not ok:
            why = "; ".join(dict.fromkeys(handler.lines)) or "Apprise reported a failure"
            raise DeliveryError(f"{self.label}: {why[:500]}")


@dataclass
class HookResult:
    """What one command hook did: its exit code (None when it could not start or was killed)."""

    argv: tuple[str, ...]
    returncode: int | None
    output: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0


def run_hook(argv: tuple[str, ...], event: dict[str, Any], *, timeout: float, cwd: str) -> HookResult:
    """Run one command with the event as JSON on stdin: no shell, a time limit, output captured.

    The command runs in its own session so that a timeout kills it and everything it
    started (a relaunch script's children), not just the first process.
    """
    data = json.dumps(event, allow_nan=False, default=str).encode()
    env = dict(os.environ)
    env.update({
        "RUNWATCH_RUN": str(event.get("run") or ""),
        "RUNWATCH_STATUS": str(event.get("to") or ""),
        "RUNWATCH_OLD_STATUS": str(event.get("from") or ""),
        "RUNWATCH_CONFIG": str(event.get("config") or ""),
        "RUNWATCH_REASON": str(event.get("reason") or ""),
    })
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=cwd, env=env, start_new_session=True,
        )
    except OSError as e:
        return HookResult(argv, None, "", f"cannot start: {e.strerror or e}")
    try:
        out, _ = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild outside the group holds the pipe
            out = b""
        return HookResult(argv, None, _text(out), f"killed after {timeout:g} s")
    except OSError as e:  # stdin closed early (the command did not read it): not an error of the command
        out = proc.stdout.read() if proc.stdout else b""
        proc.wait()
        log.debug("hook %s did not read its stdin: %s", argv[0], e)
    return HookResult(argv, proc.returncode, _text(out), None if proc.returncode == 0 else f"exit code {proc.returncode}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def _text(out: bytes | None) -> str:
    text = (out or b"").decode("utf-8", "replace")
    if len(text) > HOOK_OUTPUT_LIMIT:
        text = text[:HOOK_OUTPUT_LIMIT] + f"... ({len(text) - HOOK_OUTPUT_LIMIT} more characters)"
    return text

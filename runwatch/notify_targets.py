"""Where notifications go: Apprise URLs (Slack, e-mail, ntfy, webhooks, ...) and command hooks.

Apprise is imported only when a message is first sent or a URL checked, so neither
``import runwatch`` nor a dashboard without ``[notify]`` pays for it. Nothing here
retries or decides what to send; ``runwatch.live.notify`` does that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("runwatch.notify")

# Output of a hook kept for the log (the rest is cut): hooks may print a lot.
HOOK_OUTPUT_LIMIT = 4000


class DeliveryError(Exception):
    """A message that did not reach its target; the text says why (never the URL's secrets)."""


def redact(url: str) -> str:
    """A name for a target that is safe to log and show: ``mailto://smtp.lab.org:587``, ``slack://#3f2a1c``.

    Apprise URLs carry tokens and passwords in every part but the scheme, and for many
    services (Slack, Discord, Telegram, ntfy) even the "host" is a token: a host is shown
    only when it looks like one (a dot, a port, ``localhost``), else a short hash of the URL.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    scheme = parts.scheme or "?"
    if host and ("." in host or ":" in host or port or host == "localhost"):
        return f"{scheme}://{host}{port}"
    return f"{scheme}://#{hashlib.sha1(url.encode('utf-8', 'replace')).hexdigest()[:6]}"


class _Capture(logging.Handler):
    """What Apprise logs at WARNING and above while one message is sent (Apprise before 2.0)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _problems(result: Any, captured: list[str]) -> list[str]:
    """Apprise's own words on why a send failed: the result's log (Apprise 2) or what was captured."""
    logs = getattr(result, "logs", None)
    if callable(logs):
        try:
            return [e.message for e in logs() if str(getattr(e, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL")]
        except Exception:  # an older or newer result type: fall back to the captured lines
            pass
    return captured


class AppriseTarget:
    """One Apprise URL. ``send`` blocks (Apprise is synchronous) and raises DeliveryError."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = redact(url)
        self._apprise: Any = None

    def _instance(self) -> Any:
        if self._apprise is None:
            try:
                import apprise
            except ImportError:
                raise DeliveryError("Apprise is not installed (pip install apprise): runwatch sends notifications through it") from None

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
        import apprise

        handler = _Capture()
        alog = logging.getLogger("apprise")
        alog.addHandler(handler)
        try:
            # Plain text: plugins that send HTML (e-mail) escape it, so a run name is never markup.
            result = ap.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        except Exception as e:  # a plugin that raises instead of reporting
            raise DeliveryError(f"{self.label}: {type(e).__name__}: {e}") from e
        finally:
            alog.removeHandler(handler)
        if not result:
            why = "; ".join(dict.fromkeys(_problems(result, handler.lines))) or "Apprise reported a failure"
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
    env.update(
        {
            "RUNWATCH_RUN": str(event.get("run") or ""),
            "RUNWATCH_STATUS": str(event.get("to") or ""),
            "RUNWATCH_OLD_STATUS": str(event.get("from") or ""),
            "RUNWATCH_CONFIG": str(event.get("config") or ""),
            "RUNWATCH_REASON": str(event.get("reason") or ""),
        }
    )
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
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

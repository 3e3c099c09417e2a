"""Delivery to one target: its own queue and thread, retried with exponential back-off.

A target that fails keeps what it could not send (up to ``MAX_PENDING`` transitions)
and tries again after 2 s, 4 s, 8 s, ... up to 5 min, sending everything it missed as
one message once it answers. Its counters are what ``/healthz`` and ``/metrics`` show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from runwatch.live.notify_message import Transition, plain
from runwatch.notify_targets import AppriseTarget, DeliveryError

log = logging.getLogger("runwatch.notify")

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0
# Transitions a target keeps while it is failing; the oldest are dropped beyond this.
MAX_PENDING = 1000


def backoff_delay(failures: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_MAX_S) -> float:
    """Seconds before retry number ``failures`` (1, 2, ...): base, 2 base, 4 base, ... up to cap."""
    return min(cap, base * (2 ** max(0, failures - 1)))


class TargetWorker:
    """One Apprise target: a queue of transitions, a thread that sends them, back-off on failure."""

    def __init__(self, url: str, render: Callable[[list[Transition]], tuple[str, str]], *, backoff_base: float, clock: Callable[[], float]) -> None:
        self.target = AppriseTarget(url)
        self.label = self.target.label
        self._render = render
        self._backoff_base = backoff_base
        self._clock = clock
        self._pending: list[Transition] = []
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.messages_sent = 0
        self.transitions_sent = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None
        self.next_try_at = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"runwatch-notify-{self.label}", daemon=True)
        self._thread.start()

    def put(self, items: list[Transition]) -> None:
        with self._cond:
            self._pending.extend(items)
            over = len(self._pending) - MAX_PENDING
            if over > 0:
                del self._pending[:over]
                self.dropped += over
                log.warning("runwatch notify: %s keeps failing; dropped the %d oldest unsent transitions", self.label, over)
            self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = self._clock()
                    if self._pending and now >= self.next_try_at:
                        break
                    if self._stop:
                        return
                    self._cond.wait(None if not self._pending else max(0.05, self.next_try_at - now))
                batch, self._pending = self._pending, []
                stopping = self._stop
            self._deliver(batch)
            if stopping:
                return  # one last try on stop; what failed is reported, not retried

    def _deliver(self, batch: list[Transition]) -> None:
        try:
            title, body = self._render(batch)
            self.target.send(title, body)
        except Exception as e:  # DeliveryError, or a bug in rendering: never kill the thread
            msg = str(e) if isinstance(e, DeliveryError) else f"{self.label}: {type(e).__name__}: {e}"
            with self._cond:
                self._pending[:0] = batch
                self.failures += 1
                self.consecutive_failures += 1
                self.last_error = plain(msg, 500)
                self.last_failure_at = self._clock()
                delay = backoff_delay(self.consecutive_failures, self._backoff_base)
                self.next_try_at = self.last_failure_at + delay
            log.warning(
                "runwatch notify: sending %d transition(s) to %s failed (%d in a row); retrying in %g s: %s",
                len(batch),
                self.label,
                self.consecutive_failures,
                delay,
                self.last_error,
            )
            return
        with self._cond:
            self.messages_sent += 1
            self.transitions_sent += len(batch)
            self.consecutive_failures = 0
            self.last_success_at = self._clock()
            self.next_try_at = 0.0
        log.info("runwatch notify: sent %d transition(s) to %s", len(batch), self.label)

    def health(self) -> dict[str, Any]:
        with self._cond:
            now = self._clock()
            return {
                "target": self.label,
                "ok": self.consecutive_failures == 0,
                "messages_sent": self.messages_sent,
                "transitions_sent": self.transitions_sent,
                "failures": self.failures,
                "consecutive_failures": self.consecutive_failures,
                "pending": len(self._pending),
                "dropped": self.dropped,
                "last_error": self.last_error,
                "last_success_at": self.last_success_at,
                "last_failure_at": self.last_failure_at,
                "retry_in_s": round(max(0.0, self.next_try_at - now), 1) if self._pending and self.next_try_at else None,
            }

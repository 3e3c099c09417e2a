"""Telling people when a run changes: transitions from the live index to Apprise targets and hooks.

The index reports every batch of changes as a delta; the notifier turns the status
changes in them into transitions (claimed once per project on disk, see
``notify_memory``), keeps those a ``[notify]`` section asks for, and delivers them:

- transitions that arrive within ``digest_seconds`` of each other go out as one digest
  per target (a node dies, 40 runs fail: one message, not 40);
- a run that triggered ``flap_limit`` messages within ``flap_window`` is held back,
  and its latest state is sent once the window allows (if it still differs);
- each target has its own thread and queue (``notify_delivery``): one that fails is
  retried with exponential back-off, its failures logged and counted (``health()``),
  and never holds up the other targets or the watcher;
- command hooks run once per transition, without a shell, with a time limit, the
  event as JSON on stdin, their output logged.

Nothing here raises into the index: a notifier that cannot deliver must never stop
the dashboard or the watcher that feeds it.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from runwatch.project import Project
from runwatch.live.index import Delta, LiveIndex
from runwatch.live.notify_delivery import BACKOFF_BASE_S, TargetWorker
from runwatch.live.notify_memory import TransitionMemory, setup_key
from runwatch.live.notify_message import Transition, event_of, message_text, plain, probe_message
from runwatch.notify_targets import DeliveryError, run_hook
from runwatch.settings import NotifyRoute, NotifySettings

log = logging.getLogger("runwatch.notify")
_LOG_DETAIL = 240  # characters of a transition's reason detail in the log line

# Statuses whose reason makes a transition noise: a config that was never launched.
_SILENT_REASONS = frozenset({"never_started"})


def route_matches(route: NotifyRoute, run: str) -> bool:
    """A glob (``*``, ``?``, ``[``) matches the whole run name; anything else is a name prefix."""
    if any(c in route.match for c in "*?["):
        return fnmatch.fnmatchcase(run, route.match)
    return run.startswith(route.match)


class Notifier:
    """Turns the index's deltas into messages and hook runs per a ``[notify]`` section.

    ``attach(index)`` chains onto the index's ``on_delta`` (after any listener already
    there, e.g. the WebSocket server); ``start()`` starts the threads; ``stop()`` sends
    what is waiting, once, and ends them.
    """

    def __init__(
        self,
        project: Project,
        settings: NotifySettings,
        *,
        extra_urls: tuple[str, ...] = (),
        dashboard_url: str | None = None,
        memory_path: str | None = None,
        backoff_base: float = BACKOFF_BASE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = project
        self.settings = settings
        self.clock = clock
        self.dashboard_url = dashboard_url or settings.dashboard_url
        urls = list(dict.fromkeys([*settings.urls, *extra_urls]))
        self._global_urls = tuple(urls)
        all_urls = list(dict.fromkeys([*urls, *(u for r in settings.routes for u in r.urls)]))
        self.targets: dict[str, TargetWorker] = {u: TargetWorker(u, self._render, backoff_base=backoff_base, clock=clock) for u in all_urls}
        # The project is part of the key: a cache dir may be shared by several projects.
        key = setup_key((project.root, self._global_urls, settings.on, settings.commands, settings.routes))
        path = memory_path or os.path.join(str(project.settings.resolve_cache_dir(project.root)), "notify", f"sent-{key}.json")
        self.memory = TransitionMemory(path)
        self._names: dict[str, str] = {}  # run id -> run name, to forget removed runs
        self._intake: list[Transition] = []
        self._cond = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._hooks: collections.deque[tuple[tuple[str, ...], dict[str, Any]]] = collections.deque()
        self._hook_cond = threading.Condition()
        # Flap limiter: per run, when its recent messages went out; held transitions; last told status.
        self._sent_times: dict[str, collections.deque[float]] = {}
        self._held: dict[str, Transition] = {}
        self._told: dict[str, str] = {}
        self.transitions_seen = 0
        self.transitions_notified = 0
        self.held_back = 0
        self.hooks_run = 0
        self.hook_failures = 0
        self.errors = 0

    # ------------------------------------------------------------------ wiring

    @property
    def enabled(self) -> bool:
        return bool(self.targets or self.settings.commands or any(r.commands for r in self.settings.routes))

    def attach(self, index: LiveIndex) -> None:
        """Listen to the index's deltas, after whatever listener it already has."""
        before = index.on_delta

        def on_delta(delta: Delta) -> None:
            if before is not None:
                before(delta)
            self.on_delta(delta)

        index.on_delta = on_delta

    def start(self) -> Notifier:
        for w in self.targets.values():
            w.start()
        for fn, name in ((self._dispatch_loop, "runwatch-notify"), (self._hook_loop, "runwatch-notify-hooks")):
            t = threading.Thread(target=fn, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is waiting (one try per target), then end every thread within ``timeout``."""
        end = time.monotonic() + timeout
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._threads:
            self._threads[0].join(max(0.0, end - time.monotonic()))
        for w in self.targets.values():
            w.stop()
        with self._hook_cond:
            self._hook_cond.notify_all()
        for w in self.targets.values():
            w.join(max(0.0, end - time.monotonic()))
        for t in self._threads[1:]:
            t.join(max(0.0, end - time.monotonic()))

    # ------------------------------------------------------------------ intake

    def on_delta(self, delta: Delta) -> None:
        """Called by the index under its lock: claim status changes, queue those that trigger. Never raises."""
        try:
            self._take(delta)
        except Exception:  # a bug here must cost a notification, not the index
            self.errors += 1
            log.exception("runwatch notify: handling a change of the index failed")

    def _take(self, delta: Delta) -> None:
        records: dict[str, dict[str, Any]] = {}
        for rec in (*delta.added, *delta.changed):
            name, status = rec.get("run"), rec.get("status")
            if isinstance(name, str) and isinstance(status, str):
                records[name] = rec
                self._names[str(rec.get("id"))] = name
        gone = [self._names.pop(i) for i in delta.removed if i in self._names]
        if gone:
            self.memory.forget(gone)
        if not records:
            return
        now = self.clock()
        changes = self.memory.settle(((n, r["status"]) for n, r in records.items()), now)
        fresh = []
        for name, old, new in changes:
            rec = records[name]
            self.transitions_seen += 1
            # Why, in the log too (one line, bounded): which evidence decided is what a reader of the log asks next.
            why = plain(rec.get("reason_detail") or "", _LOG_DETAIL)
            log.info("runwatch notify: %s: %s -> %s%s%s", plain(name), old, new, f" ({rec['reason']})" if rec.get("reason") else "", f": {why}" if why else "")
            if rec.get("reason") in _SILENT_REASONS:
                continue
            t = Transition(name, str(rec.get("id") or ""), old, new, now, rec)
            # Only what goes somewhere: a transition no target or hook asks for must not open a digest's window.
            if self._targets_for(t) or self._commands_for(t):
                fresh.append(t)
        if fresh:
            with self._cond:
                self._intake.extend(fresh)
                self._cond.notify()

    # ------------------------------------------------------------------ routing

    def _targets_for(self, t: Transition) -> list[TargetWorker]:
        urls: list[str] = []
        if t.new in self.settings.on:
            urls.extend(self._global_urls)
        for r in self.settings.routes:
            if route_matches(r, t.run) and t.new in (r.on if r.on is not None else self.settings.on):
                urls.extend(r.urls)
        return [self.targets[u] for u in dict.fromkeys(urls)]

    def _commands_for(self, t: Transition) -> list[tuple[str, ...]]:
        cmds: list[tuple[str, ...]] = []
        if t.new in self.settings.on:
            cmds.extend(self.settings.commands)
        for r in self.settings.routes:
            if route_matches(r, t.run) and t.new in (r.on if r.on is not None else self.settings.on):
                cmds.extend(r.commands)
        return list(dict.fromkeys(cmds))

    def _allowed(self, run: str, now: float) -> bool:
        """The flap limiter: at most ``flap_limit`` messages per run within ``flap_window``."""
        limit, window = self.settings.flap_limit, self.settings.flap_window
        if limit <= 0 or window <= 0:
            return True
        times = self._sent_times.setdefault(run, collections.deque())
        while times and now - times[0] >= window:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True

    # ------------------------------------------------------------------ dispatch

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                while not self._intake and not self._stop:
                    self._cond.wait(1.0 if self._held else None)
                    if self._held and not self._intake:
                        break
                if self._intake and not self._stop:
                    # Gather what arrives within the digest window into the same messages.
                    end = time.monotonic() + self.settings.digest_seconds
                    while not self._stop and (left := end - time.monotonic()) > 0:
                        self._cond.wait(left)
                batch, self._intake = self._intake, []
                stopping = self._stop
            try:
                self._route(batch, self.clock())
            except Exception:
                self.errors += 1
                log.exception("runwatch notify: routing %d transition(s) failed", len(batch))
            if stopping:
                return

    def _route(self, batch: list[Transition], now: float) -> None:
        per_target: dict[str, list[Transition]] = {}
        for t in batch:
            for argv in self._commands_for(t):
                self._queue_hook(argv, t)
            targets = self._targets_for(t)
            if not targets:
                continue
            if not self._allowed(t.run, now):
                prev = self._held.get(t.run)
                self._held[t.run] = Transition(t.run, t.id, prev.old if prev else t.old, t.new, t.at, t.record, (prev.held + 1) if prev else 1)
                self.held_back += 1
                log.info("runwatch notify: %s is flapping; holding back %s -> %s", plain(t.run), t.old, t.new)
                continue
            self._told[t.run] = t.new
            self.transitions_notified += 1
            for w in targets:
                per_target.setdefault(w.target.url, []).append(t)
        for run, t in list(self._held.items()):
            if self._told.get(run) == t.new:
                del self._held[run]  # it flapped back to what people were last told
                continue
            if self._allowed(run, now):
                del self._held[run]
                # Said as a change from what people were last told, not from the last flap.
                t.old = self._told.get(run, t.old)
                self._told[run] = t.new
                self.transitions_notified += 1
                for w in self._targets_for(t):
                    per_target.setdefault(w.target.url, []).append(t)
        for url, items in per_target.items():
            self.targets[url].put(items)

    def _render(self, batch: list[Transition]) -> tuple[str, str]:
        return message_text(batch, dashboard_url=self.dashboard_url, project_root=self.project.root)

    # ------------------------------------------------------------------ hooks

    def _queue_hook(self, argv: tuple[str, ...], t: Transition) -> None:
        event = event_of(t, dashboard_url=self.dashboard_url, project_root=self.project.root)
        with self._hook_cond:
            self._hooks.append((argv, event))
            self._hook_cond.notify()

    def _hook_loop(self) -> None:
        while True:
            with self._hook_cond:
                while not self._hooks:
                    if self._stop:
                        return
                    self._hook_cond.wait(1.0)
                argv, event = self._hooks.popleft()
            self._run_hook(argv, event)

    def _run_hook(self, argv: tuple[str, ...], event: dict[str, Any]) -> None:
        prog = argv[0]
        if not os.path.isabs(prog) and os.sep in prog:
            argv = (os.path.join(self.project.root, prog), *argv[1:])  # ./relaunch.sh: from the project root
        try:
            res = run_hook(argv, event, timeout=self.settings.command_timeout, cwd=self.project.root)
        except Exception as e:
            self.hook_failures += 1
            log.exception("runwatch notify: hook %s failed to run: %s", prog, e)
            return
        self.hooks_run += 1
        out = res.output.rstrip()
        where = f"hook {plain(prog, 200)} for {plain(event.get('run') or '')} ({event.get('from')} -> {event.get('to')})"
        if res.ok:
            log.info("runwatch notify: %s: exit 0%s", where, ("; output:\n" + out) if out else "")
        else:
            self.hook_failures += 1
            log.warning("runwatch notify: %s: %s%s", where, res.error, ("; output:\n" + out) if out else "")

    # ------------------------------------------------------------------ reporting

    def health(self) -> dict[str, Any]:
        targets = [w.health() for w in self.targets.values()]
        return {
            "ok": all(t["ok"] for t in targets),
            "targets": targets,
            "transitions_seen": self.transitions_seen,
            "transitions_notified": self.transitions_notified,
            "held_back": self.held_back,
            "hooks_run": self.hooks_run,
            "hook_failures": self.hook_failures,
            "errors": self.errors + self.memory.errors,
        }

    def send_test(self) -> list[tuple[str, str | None]]:
        """One test message to each target, now: (target, error or None) for each."""
        title, body = probe_message(self.project.root, socket.gethostname())
        out: list[tuple[str, str | None]] = []
        for w in self.targets.values():
            try:
                w.target.send(title, body)
                out.append((w.label, None))
            except DeliveryError as e:
                out.append((w.label, str(e)))
        return out


async def watch_and_notify(
    index: LiveIndex,
    notifier: Notifier,
    *,
    polling: bool | None = None,
    sweep_interval: float = 5.0,
    on_ready: Callable[[], None] | None = None,
    agent_answer: Any = None,
) -> bool:
    """``runwatch notify``: scan, then watch and sweep, sending transitions, until SIGINT/SIGTERM.

    ``agent_answer``: also answer one-shot commands over the project's agent socket (live/agent_socket.py).

    Returns False when stopped during the first scan: that scan is still running on a
    worker thread, and the caller should leave without waiting for it.
    """
    from concurrent.futures import ThreadPoolExecutor

    from runwatch.live.watcher import Watcher

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runwatch-index")
    notifier.attach(index)
    notifier.start()
    watcher = Watcher(index, polling=polling, sweep_interval=sweep_interval, executor=executor)
    task: asyncio.Task[None] | None = None
    scanned = False
    agent = None
    if agent_answer is not None:
        from runwatch.live.agent_socket import AgentSocket

        agent = AgentSocket(index, agent_answer)
        if not agent.start():
            agent = None
    try:
        log.info("runwatch notify: reading every run of %s (the first scan records their statuses, sends nothing)", index.project.root)
        scan = loop.run_in_executor(executor, index.full_scan)
        first: set[asyncio.Future[Any]] = {scan, asyncio.ensure_future(stop.wait())}
        done, _ = await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if scan in done:
            scan.result()
            scanned = True
            log.info(
                "runwatch notify: watching %s (%d runs, %s); %d target(s), %d command(s)",
                index.project.root,
                len(index),
                watcher.mode,
                len(notifier.targets),
                len(notifier.settings.commands) + sum(len(r.commands) for r in notifier.settings.routes),
            )
            if on_ready is not None:
                on_ready()
            task = asyncio.create_task(watcher.run())
            await stop.wait()
    finally:
        if agent is not None:
            await asyncio.to_thread(agent.close)
        watcher.stop()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(notifier.stop)
        if index.store is not None and scanned:
            try:
                await loop.run_in_executor(executor, index.store.save)
            except Exception:  # the progress store is a cache; failing to save it is not fatal
                log.debug("runwatch notify: saving the progress store failed", exc_info=True)
        executor.shutdown(wait=False, cancel_futures=True)
    return scanned

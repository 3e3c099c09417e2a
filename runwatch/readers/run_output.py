"""A run's error output, found where Pylon puts it (tracebacks never reach its log files).

Sources, asked in this order for a run that is not alive and not complete:

- ``collector``: the launcher's failure reports. ``agents/launcher/remote_command.py`` POSTs
  ``{host, timestamp, command, output_lines, work_dir}`` on a non-zero exit; Pylon's collector
  appends them to ``agents/launcher/collector_events.json``; ``runwatch serve`` can be the
  collector itself (``runwatch.server.collector``) and keeps them in its own store. An event
  counts for a run when its work dir (or its command's config path) is the run's, and it is
  not older than the run's last sign of life (a relaunch after a crash hides the old crash). Its
  ``host`` says where the run ran (``Output.host``);
- ``slurm_output``: the StdOut / StdErr files of the run's Slurm job;
- ``tmux``: the pane of the run's tmux session on this machine (``tmux capture-pane``),
  found by the run's config path on screen;
- ``output_glob``: files named by the ``output_globs`` setting (``{run}``, ``{work_dir}``,
  ``{name}`` placeholders) for labs that redirect output elsewhere.

Each gives an ``Output`` (the exception line, the last lines, the source), or None.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import LRUCache

from runwatch.readers.log_end import OUTPUT_TAIL_LINES, _clip, end_of_file, end_of_text, final_exception
from runwatch.readers.safe_open import LIMITS, read_own, read_regular
from runwatch.state import STATE

PROJECT_EVENTS = os.path.join("agents", "launcher", "collector_events.json")
OWN_EVENTS = "collector-events.jsonl"
# A crash report is written after the process's last log line: allow for clock skew
# between the server that posted it and this machine.
EVENT_SLACK = 120.0


@dataclass(frozen=True, slots=True)
class Output:
    error_line: str | None
    tail: tuple[str, ...]
    source: str
    timestamp: float | None = None
    # The machine the run ran on, where the source says (the launcher's report names it).
    host: str | None = None


def is_this_host(name: str) -> bool:
    """Whether a host name names this machine (its full or short name)."""
    import socket

    me = socket.gethostname()
    return bool(name) and (name == me or name.split(".", 1)[0] == me.split(".", 1)[0])


def _timestamp(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt.timestamp()
    return None


def parse_events(text: str) -> list[dict[str, Any]]:
    """Events from a collector file: a JSON list, an object holding ``events``, or JSON lines."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line cut mid-write: the next read has it whole
            data.append(item)
    if isinstance(data, dict):
        data = data.get("events", [data])
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


class EventIndex:
    """Collector events by work dir, re-read only when a file changes.

    Each ``events`` call stats the files, unless it is made inside ``once_per_scan()``:
    then they are stat'ed at the first call of the block only (a scan asks for every
    failed run's events; their answers are then as of the scan, like the rest of it).
    """

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int], list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._scan = threading.local()  # .checked: paths already stat'ed in this thread's scan, or None

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    def __len__(self) -> int:
        return len(self._files)

    @contextlib.contextmanager
    def once_per_scan(self) -> Iterator[None]:
        """Within the block (this thread), each event file is stat'ed once, at its first use."""
        outer = getattr(self._scan, "checked", None)
        if outer is not None:
            yield
            return
        self._scan.checked = {}
        try:
            yield
        finally:
            self._scan.checked = None

    def events(self, paths: Iterable[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        checked: dict[str, list[dict[str, Any]]] | None = getattr(self._scan, "checked", None)
        with self._lock:
            for path in paths:
                if checked is not None:
                    seen = checked.get(path)
                    if seen is not None:
                        out.extend(seen)
                        continue
                try:
                    st = os.stat(path)
                except OSError:
                    self._files.pop(path, None)
                    if checked is not None:
                        checked[path] = []
                    continue
                key = (st.st_mtime_ns, st.st_size)
                hit = self._files.get(path)
                if hit is None or hit[0] != key:
                    try:
                        # runwatch's own store: never through a link; the project's file: a run file.
                        limit = LIMITS["events"]
                        data = read_own(path, limit) if os.path.basename(path) == OWN_EVENTS else read_regular(path, limit)
                        events = parse_events(data.decode("utf-8", "replace"))
                    except OSError:
                        events = []
                    hit = self._files[path] = (key, events)
                if checked is not None:
                    checked[path] = hit[1]
                out.extend(hit[1])
        return out

    def signature(self, paths: Iterable[str]) -> tuple[Any, ...]:
        """The (mtime_ns, size) of each file as last stat'ed (None: absent): what ``events`` answered from."""
        with self._lock:
            return tuple(self._files[p][0] if p in self._files else None for p in paths)


_EVENTS: EventIndex = STATE.table("readers.run_output.events", EventIndex)
EVENTS = _EVENTS  # the process's index (the scan engine reads its files once per scan)


def events_once_per_scan() -> contextlib.AbstractContextManager[None]:
    """``EventIndex.once_per_scan`` of the process's index: the scan engine wraps each scan in it."""
    return _EVENTS.once_per_scan()


_EVENT_PATHS: LRUCache[tuple[str, str], tuple[str, str]] = STATE.table("readers.run_output.event_paths", lambda: LRUCache(maxsize=64))


def event_paths(root: str, cache_dir: str) -> tuple[str, str]:
    key = (root, cache_dir)
    hit = _EVENT_PATHS.get(key)
    if hit is None:
        hit = _EVENT_PATHS[key] = (os.path.join(root, PROJECT_EVENTS), os.path.join(cache_dir, OWN_EVENTS))
    return hit


# Compiled once per run for the life of the process (a regex per run per scan cost about half a warm
# scan: re's own cache holds 512 patterns, fewer than a project's runs).
_CONFIG_PATTERNS: LRUCache[tuple[str, str], re.Pattern[str]] = STATE.table("readers.run_output.config_patterns", lambda: LRUCache(maxsize=100_000))


def _config_pattern(configs_dir: str, config_rel: str) -> re.Pattern[str]:
    """The run's config path in a command line, as a whole word (``./configs/x.py``, ``=configs/x.py``, absolute)."""
    key = (configs_dir, config_rel)
    hit = _CONFIG_PATTERNS.get(key)
    if hit is None:
        hit = _CONFIG_PATTERNS[key] = _compile_config_pattern(configs_dir, config_rel)
    return hit


def _compile_config_pattern(configs_dir: str, config_rel: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|(?<=[\s=/'\"]))" + re.escape(f"{configs_dir}/{config_rel}.py") + r"(?=$|[\s'\";&|)])", re.MULTILINE)


def _norm(path: str, root: str) -> str:
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(root, path))


def from_collector(root: str, cache_dir: str, work_dir: str, config_rel: str, configs_dir: str, since: float | None) -> Output | None:
    """The newest collector event for this run not older than ``since`` - slack."""
    wd = os.path.normpath(work_dir)
    config_path: re.Pattern[str] | None = None  # compiled at the first event with a command line
    best: tuple[float, dict[str, Any]] | None = None
    for ev in _EVENTS.events(event_paths(root, cache_dir)):
        ev_wd = ev.get("work_dir")
        cmd = ev.get("command")
        mine = isinstance(ev_wd, str) and _norm(ev_wd, root) == wd
        if not mine and isinstance(cmd, str):
            if config_path is None:
                config_path = _config_pattern(configs_dir, config_rel)
            mine = config_path.search(cmd) is not None
        if not mine:
            continue
        ts = _timestamp(ev.get("timestamp"))
        if since is not None and ts is not None and ts < since - EVENT_SLACK:
            continue  # the run showed life after this report: a relaunch
        if best is None or (ts or 0.0) >= best[0]:
            best = (ts or 0.0, ev)
    if best is None:
        return None
    lines = best[1].get("output_lines")
    if isinstance(lines, str):
        lines = lines.splitlines()
    lines = [str(x).rstrip("\n") for x in lines] if isinstance(lines, list) else []
    line, _ = final_exception(lines)
    tail = tuple(_clip(x) for x in lines[-OUTPUT_TAIL_LINES:])
    host = best[1].get("host")
    host = host if isinstance(host, str) and host else None
    if line is None and host is not None and not is_this_host(host):
        # No exception in its output: it exited with an error over there. Where it ran here, the
        # process evidence says it has exited (run_status/evidence.py), not a made-up crash.
        line = f"exited with an error on {host}"
    return Output(_clip(line) if line else None, tail, "collector", best[0] or None, host)


def from_files(paths: Sequence[str | None], source: str) -> Output | None:
    """The first of these files whose end is a traceback."""
    seen: set[str] = set()
    for p in paths:
        if not p or p in seen or p == "/dev/null":
            continue
        seen.add(p)
        end = end_of_file(p)
        if end.kind == "traceback":
            return Output(end.error_line, end.tail, source)
    return None


def slurm_output_paths(stdout: str | None, stderr: str | None, job_id: str | None, user: str | None, work_dir: str | None) -> list[str]:
    """The job's output files, with the filename patterns squeue leaves unexpanded filled in."""
    out = []
    for p in (stderr, stdout):
        if not p:
            continue
        if job_id:
            base = job_id.split("_")[0].split("[")[0]
            p = p.replace("%j", job_id).replace("%A", base).replace("%J", job_id)
        if user:
            p = p.replace("%u", user)
        if not os.path.isabs(p) and work_dir:
            p = os.path.join(work_dir, p)
        out.append(p)
    return out


def from_globs(root: str, patterns: Sequence[str], config_rel: str, work_dir: str) -> Output | None:
    paths: list[tuple[float, str]] = []
    for pat in patterns:
        filled = pat.replace("{run}", config_rel).replace("{work_dir}", work_dir).replace("{name}", config_rel.rsplit("/", 1)[-1])
        full = filled if os.path.isabs(filled) else os.path.join(root, filled)
        for p in glob.glob(full):
            try:
                paths.append((os.stat(p).st_mtime, p))
            except OSError:
                continue
    paths.sort(reverse=True)
    return from_files([p for _, p in paths], "output_glob")


class TmuxPanes:
    """The text of every local tmux pane, captured at most once per ``ttl`` seconds."""

    def __init__(self, ttl: float = 2.0, lines: int = 300, timeout: float = 3.0, socket: str | None = None) -> None:
        self.ttl = ttl
        self.socket = socket  # a tmux server socket (-S); None: the user's default server
        self.lines = lines
        self.timeout = timeout
        self._at = -1e18
        self._panes: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the last capture: the next ``panes()`` captures again."""
        with self._lock:
            self._at = -1e18
            self._panes = []

    def __len__(self) -> int:
        return len(self._panes)

    def panes(self) -> list[tuple[str, str]]:
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._panes
            self._at = time.monotonic()
            self._panes = self._capture()
            return self._panes

    def _capture(self) -> list[tuple[str, str]]:
        found = shutil.which("tmux")
        if found is None:
            return []
        exe = [found, "-S", self.socket] if self.socket else [found]
        try:
            r = subprocess.run(
                [*exe, "list-panes", "-a", "-F", "#{session_name}\t#{pane_id}\t#{pane_start_command}"],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return []
        if r.returncode != 0:
            return []  # no tmux server here
        out = []
        for row in r.stdout.splitlines()[:200]:
            session, _, rest = row.partition("\t")
            pane, _, start_command = rest.partition("\t")
            if not pane:
                continue
            try:
                c = subprocess.run(
                    [*exe, "capture-pane", "-p", "-J", "-t", pane, "-S", f"-{self.lines}"], capture_output=True, text=True, timeout=self.timeout, check=False
                )
            except (OSError, subprocess.SubprocessError):
                continue
            if c.returncode == 0:
                # The pane's own command first: a job started as the session's command is not echoed on screen.
                out.append((session, start_command + "\n" + c.stdout))
        return out


_TMUX: TmuxPanes = STATE.table("readers.run_output.tmux", TmuxPanes)


def tmux_panes() -> list[tuple[str, str]]:
    """(session, text) of every local tmux pane, as ``from_tmux`` sees them now."""
    return _TMUX.panes()


def from_tmux(config_rel: str, configs_dir: str) -> Output | None:
    """The pane that shows this run's launcher line and ends in a traceback."""
    panes = _TMUX.panes()
    if not panes:
        return None
    pattern = _config_pattern(configs_dir, config_rel)
    for session, text in panes:
        hits = list(pattern.finditer(text))
        if not hits:
            continue
        end = end_of_text(text[hits[-1].start() :])
        if end.kind == "traceback":
            return Output(end.error_line, (f"[tmux session {session}]", *end.tail[-(OUTPUT_TAIL_LINES - 1) :]), "tmux")
    return None


def find_output(
    *,
    root: str,
    cache_dir: str,
    work_dir: str,
    config_rel: str,
    configs_dir: str,
    since: float | None,
    job: Any = None,
    output_globs: Sequence[str] = (),
    tmux: bool = True,
) -> Output | None:
    """The run's error output from the first source that has one (see the module docstring)."""
    out = from_collector(root, cache_dir, work_dir, config_rel, configs_dir, since)
    if out is not None:
        return out
    if job is not None and (getattr(job, "stdout", None) or getattr(job, "stderr", None)):
        out = from_files(slurm_output_paths(job.stdout, job.stderr, job.job_id, job.user, job.cwd), "slurm_output")
        if out is not None:
            return out
    if tmux:
        out = from_tmux(config_rel, configs_dir)
        if out is not None:
            return out
    if output_globs:
        return from_globs(root, output_globs, config_rel, work_dir)
    return None


def tmux_session_of(config_rel: str, configs_dir: str) -> str | None:
    """The tmux session on this machine that was started to run this config (its pane's start command
    names it, as Pylon's launcher starts each job), or None: evidence that the run ran here."""
    name = f"{configs_dir}/{config_rel}.py"
    for session, text in _TMUX.panes():
        first = text.split("\n", 1)[0]
        # The plain substring first: the pattern is compiled only for a pane that may name the run.
        if name in first and _config_pattern(configs_dir, config_rel).search(first):
            return session
    return None

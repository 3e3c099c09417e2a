"""Log files: which is newest, when it last moved, the error a dead run left, its tail.

Logs are how "running" is told from "stuck" or "failed", and the last traceback is
the most useful line a researcher can get about a run that died overnight.
"""

from __future__ import annotations

import fnmatch
import os
import re

from runwatch.readers.safe_open import open_fd

_TAIL_BYTES = 256 * 1024
_TRACEBACK = "Traceback (most recent call last):"
# The exception line ends a traceback: "ValueError: msg", "torch.cuda.OutOfMemoryError: CUDA out of memory",
# or a bare exception name ("KeyboardInterrupt").
_EXC_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit|Warning|Fault)\b.*$|^[A-Za-z_][\w.]*:\s.*$")


def matching_logs(entries: list[tuple[str, float]], pattern: str) -> list[tuple[str, float]]:
    """The (name, mtime) entries whose name matches the log pattern."""
    return [(n, m) for n, m in entries if fnmatch.fnmatchcase(n, pattern)]


def list_logs(work_dir: str, pattern: str) -> list[tuple[str, float]]:
    """(path, mtime) of every log in ``work_dir`` matching ``pattern``, newest first."""
    out: list[tuple[str, float]] = []
    try:
        with os.scandir(work_dir) as it:
            for e in it:
                if fnmatch.fnmatchcase(e.name, pattern):
                    try:
                        if e.is_file():
                            out.append((e.path, e.stat().st_mtime))
                    except OSError:
                        continue
    except OSError:
        return []
    out.sort(key=lambda x: x[1], reverse=True)
    return out


def get_log_last_update(work_dir: str, log_pattern: str) -> float | None:
    """The plan's API: mtime of the newest log matching ``log_pattern``, or None."""
    logs = list_logs(work_dir, log_pattern)
    return logs[0][1] if logs else None


def read_tail(path: str, max_bytes: int = _TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a file as text (undecodable bytes replaced), '' if unreadable."""
    try:
        return read_tail_checked(path, max_bytes)
    except OSError:
        return ""


def read_tail_checked(path: str, max_bytes: int = _TAIL_BYTES) -> str:
    """``read_tail``, raising OSError (permission denied, a FIFO, a link out of the project...)."""
    fd, st = open_fd(path)  # never blocks on a FIFO, never reads a device, never leaves the project
    try:
        size = st.st_size
        pos = size - max_bytes if size > max_bytes else 0
        # Sized to what is there: read(max_bytes) allocates max_bytes for every small log.
        # Positioned reads on the descriptor (no file object: no more system calls than the reads).
        want = min(size, max_bytes) + 1
        chunks: list[bytes] = []
        while want > 0:
            chunk = os.pread(fd, want, pos)
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
            pos += len(chunk)
    finally:
        os.close(fd)
    data = (chunks[0] if len(chunks) == 1 else b"".join(chunks))[-max_bytes:]
    return data.decode("utf-8", errors="replace")


def tail_lines(path: str, n: int = 50) -> list[str]:
    if os.path.basename(path).startswith("events.out.tfevents."):
        return []  # a TensorBoard event file (a framework run's newest "log", runwatch.layouts) is binary: no lines
    text = read_tail(path, 64 * 1024)
    lines = text.splitlines()
    return lines[-n:]


def last_exception(path: str) -> str | None:
    """The exception line of the last traceback in a log, e.g. ``RuntimeError: CUDA out of memory``.

    Only a traceback counts: a log that merely mentions "error" in a metric name must
    not turn a healthy run into one with an error message.
    """
    return exception_in(read_tail(path))


def exception_in(text: str) -> str | None:
    """The exception line of the last traceback in ``text`` (see ``last_exception``)."""
    idx = text.rfind(_TRACEBACK)
    if idx < 0:
        return None
    lines = text[idx + len(_TRACEBACK) :].splitlines()
    candidate: str | None = None
    for line in lines[1:]:
        if not line.strip():
            continue
        if line.startswith((" ", "\t")):
            # Still inside the frames.
            if candidate is not None:
                break
            continue
        stripped = line.strip()
        if stripped.startswith(("During handling", "The above exception")):
            candidate = None
            continue
        if _EXC_LINE.match(stripped):
            candidate = stripped
            # Chained tracebacks continue after a blank line; keep the last exception line.
            continue
        if candidate is not None:
            break
    return candidate


# Pylon's progress lines, flushed as a run goes (``cum_epochs`` and the iteration index
# are 0-based: "[Epoch 3/10][Iteration 41/100]" is the 42nd iteration of the 4th epoch).
_PROGRESS_LINE = re.compile(
    r"(?P<phase>Training|Validation) \[Epoch (?P<e>\d+)/(?P<n>\d+)\]\[Iteration (?P<i>\d+)/(?P<m>\d+)\]"
    r"|(?P<eval>Evaluation) \[Iteration (?P<k>\d+)/(?P<kn>\d+)\]"
)
_STOPPED_EARLY = re.compile(r"Training stopped early at epoch (\d+)")
_TRIGGERED = re.compile(r"Early stopping triggered after (\d+) epochs")
# Progress lines can be tens of thousands per epoch; the last one is near the end.
PROGRESS_TAIL_BYTES = 64 * 1024


class LogFacts:
    """What one bounded read of a log's end says: the last exception, early-stop lines, the last progress line."""

    __slots__ = ("exception", "progress", "stopped_early_at", "triggered_after")

    def __init__(self) -> None:
        self.exception: str | None = None
        self.stopped_early_at: int | None = None
        self.triggered_after: int | None = None
        # (phase, epoch or None, iteration, iterations) of the last progress line, or None
        # (a tuple: trackers keep one LogFacts per run; see progress_dict).
        self.progress: tuple[str, int | None, int, int] | None = None

    def progress_dict(self) -> dict[str, object] | None:
        """The last progress line as the record's ``in_progress``: {"phase", "epoch", "iteration", "iterations"}."""
        p = self.progress
        return None if p is None else {"phase": p[0], "epoch": p[1], "iteration": p[2], "iterations": p[3]}


def log_facts(path: str) -> LogFacts:
    """``LogFacts`` of a log, from at most ``_TAIL_BYTES`` read from its end (one open, one read)."""
    facts = LogFacts()
    text = read_tail(path)
    facts.exception = exception_in(text)
    m = None
    for m in _STOPPED_EARLY.finditer(text):  # noqa: B007 (the last match is wanted)
        pass
    if m is not None:
        facts.stopped_early_at = int(m.group(1))
    m = None
    for m in _TRIGGERED.finditer(text):  # noqa: B007 (the last match is wanted)
        pass
    if m is not None:
        facts.triggered_after = int(m.group(1))
    end = text[-PROGRESS_TAIL_BYTES:]
    last = None
    for last in _PROGRESS_LINE.finditer(end):  # noqa: B007 (the last match is wanted)
        pass
    if last is not None:
        if last.group("eval"):
            facts.progress = ("evaluation", None, int(last.group("k")), int(last.group("kn")))
        else:
            phase = "training" if last.group("phase") == "Training" else "validation"
            facts.progress = (phase, int(last.group("e")), int(last.group("i")), int(last.group("m")))
    return facts

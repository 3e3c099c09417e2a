"""How a log or an output file ends: a final traceback, a clean end-of-training line, or neither.

A traceback anywhere in a log is not evidence of a crash (a trainer may log a caught
exception and go on); one that ends the text is. The end is the last non-blank lines:
at most ``TRAILING`` short lines may follow the exception line (interpreter shutdown
messages, a launcher's "exit 1"). Results are memoized by (path, mtime, size), so a
run whose log did not change costs one stat.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runwatch.readers.log_pulse import NO_PULSE, WIDE_BYTES, Pulse, pulse_of_text
from runwatch.readers.logs import exception_in, read_tail, read_tail_checked
from runwatch.readers import recent_stat
from runwatch.state import STATE

TAIL_BYTES = 64 * 1024
TRAILING = 3
OUTPUT_TAIL_LINES = 20
MAX_LINE = 500

# Lines Pylon writes when training ends by itself (reference page, section 5).
DEFAULT_END_PATTERNS: tuple[str, ...] = (r"Training stopped early at epoch \d+",)


@dataclass(frozen=True, slots=True)
class End:
    kind: str | None  # "traceback", "end" or None
    error_line: str | None
    tail: tuple[str, ...]  # the last lines (bounded), for people to read
    problem: str | None = None  # why the file could not be read (a warning naming it)
    # The log's pulse (readers.log_pulse), read from the same tail: None for a log without times.
    pulse: Pulse | None = None


NO_END = End(None, None, ())

_MEMO_MAX = 20_000
# A plain dict kept in least-recently-used order (a hit moves to the end, the oldest goes first):
# one entry per run's log, so it stays as small as a dict entry can (no separate order list).
# The key names the file by what it is and which version of it (device, inode, mtime, size),
# packed in one int, rather than by its path: a run's key then holds no path string of its own.
_MEMO: dict[tuple[Any, ...], End] = STATE.table("readers.log_end.memo")
_U64 = 1 << 64


def _memo_key(path: str, st: os.stat_result, patterns: tuple[str, ...]) -> tuple[Any, ...]:
    m, size, ino, dev = st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev
    if m >= 0 and 0 <= size < 1 << 40 and 0 < ino < _U64 and 0 <= dev < _U64:
        return ((((((m << 40) | size) << 64) | ino) << 64) | dev, patterns)
    return (path, m, size, patterns)  # an unusual stat (no inode numbers): by path


# Control characters (ESC sequences, carriage returns, bells...) of a hostile or noisy output:
# shown as U+FFFD, so a line from disk can go to a terminal or a page as it is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clip(line: str) -> str:
    """A line safe to show: control characters replaced, at most MAX_LINE characters."""
    line = _CONTROL.sub("\ufffd", line.expandtabs(4))
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "\u2026"


def final_exception(lines: Sequence[str]) -> tuple[str | None, int]:
    """(exception line of the last traceback, index of that line), or (None, -1)."""
    line = exception_in("\n".join(lines))
    if line is None:
        return None, -1
    at = next(i for i in range(len(lines) - 1, -1, -1) if lines[i].strip() == line)
    return line, at


def end_of_text(text: str, end_patterns: Sequence[str] = DEFAULT_END_PATTERNS) -> End:
    """How ``text`` ends. Only a traceback keeps the last lines (they are shown with the error);
    the ends of the logs of healthy runs, memoised for every run, keep none."""
    lines = text.splitlines()
    line, at = final_exception(lines)
    if line is not None:
        after = [x for x in lines[at + 1 :] if x.strip()]
        if len(after) <= TRAILING:
            return End("traceback", _clip(line), tuple(_clip(x) for x in lines[-OUTPUT_TAIL_LINES:]))
    for raw in reversed(lines):
        if raw.strip():
            if any(re.search(p, raw) for p in end_patterns):
                return End("end", None, ())
            break
    return NO_END


def end_of_file(path: str, end_patterns: Sequence[str] = DEFAULT_END_PATTERNS, memo_out: list[Any] | None = None) -> End:
    """How the file at ``path`` ends; NO_END when it cannot be read.

    ``memo_out``: gets (memo key, End) when the answer is memoized, for a store to keep (``seed``).
    """
    st = recent_stat.take(path)  # stat'ed a moment ago by the run's quick check
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            return NO_END
    key = _memo_key(path, st, tuple(end_patterns))
    hit = _MEMO.pop(key, None)
    if hit is not None:
        _MEMO[key] = hit  # now the most recently used
        if memo_out is not None:
            memo_out.append((key, hit))
        return hit
    try:
        text = read_tail_checked(path, TAIL_BYTES)  # a line cut at the front is harmless: only the end matters
    except FileNotFoundError:
        return NO_END
    except OSError as e:  # not memoized: a chmod does not change the mtime
        return End(None, None, (), problem=f"{path}: cannot read the log ({e.strerror or e}); a crash in it would not be seen")
    end = end_of_text(text, end_patterns) if text else NO_END
    pulse = pulse_of_text(text) if text else NO_PULSE
    if pulse.timed and pulse.gap is None and pulse.position != "start" and st.st_size > TAIL_BYTES:
        # At a boundary the tail shows no earlier pause for: a wider read (only while it sits there).
        wide = pulse_of_text(read_tail(path, WIDE_BYTES))
        if wide.gap is not None and wide.position == pulse.position:
            pulse = Pulse(pulse.interval, pulse.position, wide.gap, wide.gap_at, True)
    if pulse is not NO_PULSE:
        end = End(end.kind, end.error_line, end.tail, end.problem, pulse)
    while len(_MEMO) >= _MEMO_MAX:
        try:
            del _MEMO[next(iter(_MEMO))]  # the least recently used
        except (KeyError, RuntimeError, StopIteration):  # another thread got there first
            break
    _MEMO[key] = end
    if memo_out is not None:
        memo_out.append((key, end))
    return end


def seed(key: Any, end: Any) -> None:
    """Memoize an answer kept from another process (``memo_out``): the key names the file's device,
    inode, mtime and size, so it is found only while the file is that very version."""
    if type(key) is not tuple or type(end) is not End or key in _MEMO:
        return
    if len(_MEMO) >= _MEMO_MAX:
        return
    _MEMO[key] = end

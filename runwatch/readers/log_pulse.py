"""A run's finest rhythm from its log: how often progress lines come, and the long pauses it has had.

Pylon writes a line per iteration (``Training [Epoch e/N][Iteration i/M]``, ``Validation [...]``,
``Evaluation [Iteration k/N]``), each with the time it was written. Those lines are the run's
pulse, far finer than its epochs. From the timed lines at a log's end this module tells:

- ``interval``: the mean seconds between two lines of one phase (the run's cadence);
- ``position``: what the last progress line says comes next: more of the same phase
  (``training``, ``validation``, ``evaluation``), or a phase boundary (``after_training``: the
  last training batch was logged, validation or a checkpoint save follows; ``after_validation``;
  ``after_evaluation``), or ``start`` (no progress line yet in this session);
- ``gap`` / ``gap_at``: the longest pause the run has had at that same position before (a silent
  validation, a checkpoint save, the first batch of an epoch), and where it was seen.

A pause is attributed to the position of the line before it, so a run that always spends 45 s
in a validation without log lines has learned that 45 s pause "after training". Lines without a
leading time give no pulse (the epoch rhythm decides then). Results are memoized by the log's
(path, mtime, size); a larger window is read only when the run sits at a boundary whose pause
the first window did not show.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from runwatch.readers.logs import read_tail
from runwatch.state import STATE

TAIL_BYTES = 64 * 1024
WIDE_BYTES = 1024 * 1024  # read when the run sits at a boundary the tail shows no earlier pause for
HEAD_BYTES = 64 * 1024  # of an earlier session's log: its start-up pause
MIN_GAPS = 2  # within-phase gaps needed for a cadence

# A leading time: "2026-12-07 03:05:57", "[2026-12-07 03:05:57,123]", "2026-12-07T03:05:57.5".
_TS = re.compile(r"^\[?(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")
_PROGRESS = re.compile(
    r"(?P<phase>Training|Validation) \[Epoch (?P<e>\d+)/(?P<n>\d+)\]\[Iteration (?P<i>\d+)/(?P<m>\d+)\]|(?P<eval>Evaluation) \[Iteration (?P<k>\d+)/(?P<kn>\d+)\]"
)

POSITIONS = ("start", "training", "validation", "evaluation", "after_training", "after_validation", "after_evaluation")
_WHERE = {
    "start": "before its first progress line",
    "training": "between training batches",
    "validation": "between validation batches",
    "evaluation": "between evaluation batches",
    "after_training": "after the last training batch of an epoch",
    "after_validation": "after the last validation batch of an epoch",
    "after_evaluation": "after the last evaluation batch",
}


def where(position: str) -> str:
    """The position in words, for a reason."""
    return _WHERE.get(position, position)


@dataclass(frozen=True, slots=True)
class Pulse:
    interval: float | None  # mean seconds between two lines of one phase; None: too few timed lines
    position: str  # see POSITIONS
    gap: float | None  # the longest earlier pause at this position, seconds
    gap_at: str | None  # when it began (the log's own time text)
    timed: bool  # the log's lines carry times


NO_PULSE = Pulse(None, "start", None, None, False)


def _timegm() -> Callable[[tuple[int, ...]], int]:
    """``calendar.timegm``, imported on first use (calendar imports locale: not every process parses a timestamp)."""
    import calendar

    return calendar.timegm


def _time(line: str) -> tuple[float, str] | None:
    m = _TS.match(line)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        t = float(_timegm()((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0)))
    except (ValueError, OverflowError):
        return None
    if frac:
        t += int(frac) / 10 ** len(frac)
    return t, m.group(0).lstrip("[")


def _position(m: re.Match[str]) -> str:
    if m.group("eval"):
        last = int(m.group("k")) + 1 >= int(m.group("kn"))
        return "after_evaluation" if last else "evaluation"
    phase = "training" if m.group("phase") == "Training" else "validation"
    return f"after_{phase}" if int(m.group("i")) + 1 >= int(m.group("m")) else phase


def pulse_of_text(text: str) -> Pulse:
    """The pulse of a log's text (its end): cadence, position, the longest earlier pause there."""
    position = "start"
    prev_t: float | None = None
    prev_shown = ""
    prev_pos = "start"
    within_sum = 0.0
    within_n = 0
    gaps: dict[str, tuple[float, str]] = {}
    timed = False
    first = True
    for line in text.splitlines():
        if first:  # the first line of a tail may be cut: its time is not to be trusted
            first = False
            if len(text) >= TAIL_BYTES:
                continue
        ts = _time(line)
        m = _PROGRESS.search(line)
        if ts is not None:
            timed = True
            t, shown = ts
            if prev_t is not None and t >= prev_t:
                gap = t - prev_t
                if m is not None and prev_pos in ("training", "validation", "evaluation") and _position(m).endswith(prev_pos):
                    within_sum += gap
                    within_n += 1
                if gap > gaps.get(prev_pos, (-1.0, ""))[0]:
                    gaps[prev_pos] = (gap, prev_shown)
            prev_t, prev_shown = t, shown
        if m is not None:
            position = _position(m)
            prev_pos = position
    if not timed:
        return NO_PULSE  # one shared answer for every log without times
    interval = within_sum / within_n if within_n >= MIN_GAPS else None
    g = gaps.get(position)
    return Pulse(interval, position, g[0] if g else None, g[1] if g else None, timed)


_MEMO: dict[tuple[str, int, int, int], Pulse] = STATE.table("readers.log_pulse.memo")
_MEMO_MAX = 20_000


def _memo_key(path: str, question: int) -> tuple[tuple[str, int, int, int], int] | None:
    """(the memo's key of a question about the log at ``path``, its size) by one stat; None when unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_mtime_ns, st.st_size, question), st.st_size


def _remember(key: tuple[str, int, int, int], pulse: Pulse) -> None:
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[key] = pulse


def pulse_of_file(path: str) -> Pulse:
    """The pulse of the log at ``path`` (NO_PULSE when unreadable); one stat when it did not change."""
    stat_key = _memo_key(path, 0)
    if stat_key is None:
        return NO_PULSE
    key, size = stat_key
    hit = _MEMO.get(key)
    if hit is not None:
        return hit
    pulse = pulse_of_text(read_tail(path, TAIL_BYTES))
    if pulse.timed and pulse.gap is None and pulse.position != "start" and size > TAIL_BYTES:
        wide = pulse_of_text(read_tail(path, WIDE_BYTES))
        if wide.gap is not None and wide.position == pulse.position:
            pulse = Pulse(pulse.interval, pulse.position, wide.gap, wide.gap_at, True)
    _remember(key, pulse)
    return pulse


def start_pause_of_text(text: str) -> tuple[float, str] | None:
    """(seconds from a log's first timed line to its first progress line, when), or None."""
    first: tuple[float, str] | None = None
    for line in text.splitlines():
        ts = _time(line)
        if ts is None:
            continue
        if first is None:
            first = ts
        if _PROGRESS.search(line):
            return (ts[0] - first[0], first[1]) if ts[0] >= first[0] else None
    return None


def start_pause_of_file(path: str) -> tuple[float, str] | None:
    """``start_pause_of_text`` of a log's head (an earlier session's start-up), memoized by stat."""
    stat_key = _memo_key(path, 1)
    if stat_key is None:
        return None
    key = stat_key[0]
    hit = _MEMO.get(key)
    if hit is not None:
        return (hit.gap, hit.gap_at or "") if hit.gap is not None else None
    try:
        from runwatch.readers.safe_open import open_regular

        with open_regular(path) as f:
            text = f.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    found = start_pause_of_text(text)
    _remember(key, Pulse(None, "start", found[0] if found else None, found[1] if found else None, True))
    return found

"""Parsing ``ps -eo pid=,user=,lstart=,cmd=`` as Pylon runs it on every server (runwatch adds ``stat=``).

``lstart`` is five whitespace-separated tokens ("Mon Jan  1 10:00:00 2024") and the
command keeps its own spaces, so the line is split by position, not by a delimiter.
Remote commands run ps with ``LC_ALL=C TZ=UTC`` (and ``-ww``: never cut commands) so the date reads the same
everywhere and converts to an epoch without knowing the server's time zone.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field

# ``stat`` (R, S, T, Z... plus flags) before ``lstart``: a stopped run (T) is stuck, a zombie has exited.
PS_COMMAND = "LC_ALL=C TZ=UTC ps -ww -eo pid=,user=,stat=,lstart=,cmd="
# A ps state code, never a weekday ("Sat", "Sun" have lowercase letters no flag uses).
_STAT = re.compile(r"^[DIRSTtWXZP][<NLsl+]*$")


@dataclass(frozen=True)
class PsRow:
    pid: int
    user: str
    start_time: float
    cmd: str
    # ps's state code (first letter: R running, S sleeping, T stopped, Z zombie...); None without stat=.
    stat: str | None = None


@dataclass
class PsOutput:
    rows: list[PsRow] = field(default_factory=list)
    # "line N: why" for lines that could not be read; reported only when nothing could.
    problems: list[str] = field(default_factory=list)


def parse_lstart(tokens: list[str], utc: bool = True) -> float:
    """Epoch seconds of ps's lstart tokens ``[weekday, month, day, HH:MM:SS, year]``."""
    if len(tokens) != 5:
        raise ValueError(f"lstart needs 5 tokens, got {len(tokens)}: {' '.join(tokens)!r}")
    text = " ".join(tokens[1:])  # the weekday is redundant
    st = time.strptime(text, "%b %d %H:%M:%S %Y")
    return float(calendar.timegm(st)) if utc else time.mktime(st)


def parse_ps(text: str, utc: bool = True) -> PsOutput:
    out = PsOutput()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        head = line.split(None, 3)
        stat = head[2] if len(head) > 2 and _STAT.match(head[2]) else None
        n = 8 if stat is None else 9
        parts = line.split(None, n - 1)
        if len(parts) < n:
            # A process with an empty command line (kernel threads show "[kthreadd]", never empty)
            if len(parts) == n - 1:
                parts.append("")
            else:
                out.problems.append(f"line {lineno}: expected pid, user, 5 lstart fields and a command: {line!r}")
                continue
        if stat is not None:
            del parts[2]
        pid_s, user, *lstart = parts[:7]
        cmd = parts[7]
        try:
            pid = int(pid_s)
            start = parse_lstart(lstart, utc=utc)
        except ValueError as e:
            out.problems.append(f"line {lineno}: {e}: {line!r}")
            continue
        out.rows.append(PsRow(pid=pid, user=user, start_time=start, cmd=cmd.strip(), stat=stat))
    return out

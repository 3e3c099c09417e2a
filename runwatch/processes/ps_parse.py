"""Parsing ``ps -eo pid=,user=,lstart=,cmd=`` as Pylon runs it on every server.

``lstart`` is five whitespace-separated tokens ("Mon Jan  1 10:00:00 2024") and the
command keeps its own spaces, so the line is split by position, not by a delimiter.
Remote commands run ps with ``LC_ALL=C TZ=UTC`` (and ``-ww``: never cut commands) so the date reads the same
everywhere and converts to an epoch without knowing the server's time zone.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field

PS_COMMAND = "LC_ALL=C TZ=UTC ps -ww -eo pid=,user=,lstart=,cmd="


@dataclass(frozen=True)
class PsRow:
    pid: int
    user: str
    start_time: float
    cmd: str


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
        parts = line.split(None, 7)
        if len(parts) < 8:
            # A process with an empty command line (kernel threads show "[kthreadd]", never empty)
            if len(parts) == 7:
                parts.append("")
            else:
                out.problems.append(f"line {lineno}: expected pid, user, 5 lstart fields and a command: {line!r}")
                continue
        pid_s, user, *lstart = parts[:7]
        cmd = parts[7]
        try:
            pid = int(pid_s)
            start = parse_lstart(lstart, utc=utc)
        except ValueError as e:
            out.problems.append(f"line {lineno}: {e}: {line!r}")
            continue
        out.rows.append(PsRow(pid=pid, user=user, start_time=start, cmd=cmd.strip()))
    return out

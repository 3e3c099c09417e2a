"""What a notification says: the event of one transition and the text of a message or digest.

A message names the run, the transition (old -> new status), the reason and its detail
(the exception line of a crash), epochs done of total, the best score, how long the run
ran and a link to it on the dashboard. Strings come from the runs' files, so every one
is made plain text (no control characters, one line, bounded) before it is sent.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runwatch.progress_tracking.progress_info import json_safe

# Transitions written out in full in one digest; the rest are counted.
DIGEST_MAX_RUNS = 30
_FIELD_MAX = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


@dataclass
class Transition:
    """One run whose status changed from ``old`` to ``new``, as seen at ``at``."""

    run: str
    id: str
    old: str
    new: str
    at: float
    record: dict[str, Any]
    # Earlier transitions of this run folded into this one (a flapping run held back).
    held: int = 0
    # Statuses passed through between ``old`` and ``new`` (several changes of one run in one digest).
    via: tuple[str, ...] = ()


# Statuses of one run's path written out in a digest entry; a longer path is cut in the middle.
_PATH_MAX = 6


def fold(transitions: Sequence[Transition]) -> list[Transition]:
    """One entry per run, in order of first appearance: several changes of a run become one path.

    A digest gathers what arrived within its window, and a target that was failing keeps what it
    missed: a run may change more than once in that time (failed, relaunched, failed again). It is
    still one run that changed, from its first old status to its last new one, through the others.
    """
    by_run: dict[str, list[Transition]] = {}
    for t in transitions:
        by_run.setdefault(t.run, []).append(t)
    out = []
    for ts in by_run.values():
        if len(ts) == 1:
            out.append(ts[0])
            continue
        path: list[str] = [ts[0].old]
        for t in ts:
            for s in (t.old, *t.via, t.new):
                if s != path[-1]:
                    path.append(s)
        last = ts[-1]
        out.append(Transition(last.run, last.id, path[0], path[-1], last.at, last.record, sum(t.held for t in ts), tuple(path[1:-1])))
    return out


def plain(value: Any, limit: int = _FIELD_MAX) -> str:
    """One line of plain text: control and bidi characters become spaces (runs of them one), long text is cut."""
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_link(dashboard_url: str | None, run_id: str) -> str | None:
    """``<dashboard>#run=<id>``: the page opens that run's detail (the ids of runwatch.live.index)."""
    if not dashboard_url:
        return None
    return dashboard_url.split("#", 1)[0] + "#run=" + run_id


def ran_for(rec: dict[str, Any]) -> float | None:
    """Seconds from the run's start to its last write, when both are known."""
    start, last = rec.get("start_time"), rec.get("last_update_time")
    if isinstance(start, int | float) and isinstance(last, int | float) and last >= start:
        return float(last - start)
    return None


def detail_of(rec: dict[str, Any]) -> str | None:
    """The line that says what went wrong: the exception line, else the reason's detail, else the error."""
    for key in ("error_line", "reason_detail", "error_message"):
        v = rec.get(key)
        if isinstance(v, str) and v.strip():
            return v
    return None


def event_of(t: Transition, *, dashboard_url: str | None, project_root: str) -> dict[str, Any]:
    """The JSON event of a transition: what a command hook reads on stdin (docs/notify.md).

    Strict JSON: a NaN score becomes the string "NaN", as in runwatch's other JSON.
    """
    rec = t.record
    ms = rec.get("main_score") if isinstance(rec.get("main_score"), dict) else None
    proc = rec.get("process_info") if isinstance(rec.get("process_info"), dict) else None
    return json_safe(
        {
            "type": "transition",
            "run": t.run,
            "id": t.id,
            "from": t.old,
            "to": t.new,
            "at": t.at,
            "reason": rec.get("reason"),
            "reason_detail": rec.get("reason_detail"),
            "error_line": rec.get("error_line"),
            "error_message": rec.get("error_message"),
            "completed_epochs": rec.get("completed_epochs"),
            "total_epochs": rec.get("total_epochs"),
            "progress_percentage": rec.get("progress_percentage"),
            "early_stopped": rec.get("early_stopped"),
            "main_score": ms,
            "start_time": rec.get("start_time"),
            "last_update_time": rec.get("last_update_time"),
            "ran_seconds": ran_for(rec),
            "runner_type": rec.get("runner_type"),
            "config": rec.get("config"),
            "work_dir": rec.get("work_dir"),
            "host": proc.get("host") if proc else None,
            "project": project_root,
            "url": run_link(dashboard_url, t.id),
            "held_back": t.held,
        }
    )


def _span(seconds: float) -> str:
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    m = s // 60
    if m < 120:
        return f"{m} min"
    h = m // 60
    return f"{h} h {m % 60:02d} min" if h < 48 else f"{h // 24} d {h % 24} h"


def _number(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def facts_line(rec: dict[str, Any]) -> str:
    """``epochs 3/10, best mean_IoU 0.7123, ran 12 min``: whatever of it is known."""
    parts = []
    done, total = rec.get("completed_epochs"), rec.get("total_epochs")
    if rec.get("runner_type") == "evaluator":
        parts.append("evaluation done" if rec.get("status") in ("finished", "outdated") else "evaluation not done")
    elif isinstance(done, int):
        parts.append(f"epochs {done}/{total}" if isinstance(total, int) else f"epochs {done}")
        if rec.get("early_stopped"):
            parts.append("stopped early")
    ms = rec.get("main_score")
    if isinstance(ms, dict) and ms.get("key"):
        best = _number(ms.get("best"))
        if best is not None:
            parts.append(f"best {plain(ms['key'], 60)} {best}")
    ran = ran_for(rec)
    if ran is not None:
        parts.append(f"ran {_span(ran)}")
    return ", ".join(parts)


def transition_text(t: Transition, dashboard_url: str | None) -> str:
    """The lines of one transition, as in a single message and in each entry of a digest."""
    rec = t.record
    reason = rec.get("reason")
    steps = [t.old, *t.via, t.new]
    if len(steps) > _PATH_MAX:
        steps = [*steps[: _PATH_MAX // 2], "...", *steps[-(_PATH_MAX // 2) :]]
    head = f"{plain(t.run)}: {' -> '.join(steps)}" + (f" ({plain(reason, 40)})" if reason else "")
    lines = [head]
    if t.held:
        lines.append(f"(changed {t.held + 1} times recently; held back as flapping)")
    detail = detail_of(rec) if t.new != "running" else None
    if detail:
        lines.append(plain(detail))
    facts = facts_line(rec)
    if facts:
        lines.append(facts)
    link = run_link(dashboard_url, t.id)
    if link:
        lines.append(link)
    return "\n".join(lines)


def _project_tag(project_root: str) -> str:
    return plain(os.path.basename(os.path.normpath(project_root)) or project_root, 60)


def message_text(transitions: Sequence[Transition], *, dashboard_url: str | None, project_root: str) -> tuple[str, str]:
    """(title, body) of one message: a single transition, or a digest of several."""
    tag = _project_tag(project_root)
    transitions = fold(transitions)
    if len(transitions) == 1:
        t = transitions[0]
        return f"runwatch [{tag}]: {plain(t.run, 120)} {t.new}", transition_text(t, dashboard_url)
    counts = Counter(t.new for t in transitions)
    what = ", ".join(f"{n} {s}" for s, n in counts.most_common())
    title = f"runwatch [{tag}]: {len(transitions)} runs changed ({what})"
    shown = [transition_text(t, dashboard_url) for t in transitions[:DIGEST_MAX_RUNS]]
    rest = len(transitions) - len(shown)
    if rest > 0:
        shown.append(f"... and {rest} more" + (f" (see {dashboard_url.split('#', 1)[0]})" if dashboard_url else ""))
    return title, "\n\n".join(shown)


def probe_message(project_root: str, host: str) -> tuple[str, str]:
    tag = _project_tag(project_root)
    return (
        f"runwatch [{tag}]: test message",
        f"A test from `runwatch notify --test` on {plain(host, 100)} for {plain(project_root)}.\nIf you read this, runwatch's notifications reach you.",
    )

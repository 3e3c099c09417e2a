"""The view model: what every surface shows of a run, defined once.

The CLI's ``--json``/``--jsonl`` and its table, ``/api/runs``, ``/api/runs/{id}``,
``/api/summary``, the WebSocket, ``/metrics``, the hub and the page all read what
these functions build, so the same run shows the same numbers everywhere:

* ``run_record``: the JSON record of a run (``RunStatus.to_dict()`` plus ``id``,
  ``main_score`` and, for a named index, ``cluster``);
* ``main_score``: the run's one headline number (its main metric's best and latest
  value and direction), taken from ``RunStatus.headline`` and never recomputed;
* ``summarize``: counts per status and overall progress over runs or their records
  (``merge_summaries``: the same over several summaries, for a hub);
* ``run_detail``: the record plus what a detail view shows (series, timeline, facts,
  scores tables, log tail) for ``runwatch show --json`` and ``/api/runs/{id}``;
* ``STATUS_ORDER`` / ``status_rank``: problems first, for every "sort by status";
* ``STATUS_LABELS`` / ``REASON_LABELS`` / ``reason_label``: the words shown for a status
  and a reason (the page gets them in the WebSocket snapshot, the terminal imports them);
* ``updated_at``: "updated", the run's newest sign of life (its newest log or artifact);
* ``SORT_KEYS`` / ``sort_value`` / ``sort_records``: the one sort of the CLI, the REST API
  and the page (which gets ``sort_keys`` in the snapshot and mirrors ``sort_value``).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterable
from typing import Any


from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.progress_info import json_safe
from runwatch.readers.logs import tail_lines
from runwatch.readers.scores import flatten_scalars
from runwatch.progress_tracking.early_stopping import replay
from runwatch.run_status.rules import REASONS, STATUSES
from runwatch.run_status.run_status import RunStatus
from runwatch.state import STATE

__all__ = [
    "DONE_STATUSES",
    "LOG_TAIL_LINES",
    "NOT_STARTED",
    "REASON_LABELS",
    "SORT_KEYS",
    "STATUS_LABELS",
    "STATUS_ORDER",
    "SUMMARY_KEYS",
    "labels",
    "main_score",
    "merge_summaries",
    "natural_key",
    "reason_label",
    "run_detail",
    "run_id",
    "run_percentage",
    "run_record",
    "score_sort_value",
    "sort_records",
    "sort_value",
    "status_rank",
    "summarize",
    "updated_at",
]

# "Sort by status": problems first, then what is under way, then what is done.
STATUS_ORDER: tuple[str, ...] = ("failed", "stuck", "running", "queued", "unknown", "finished", "outdated")
_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}

# Statuses whose run has a process in some epoch (what it is doing now is worth showing).
LIVE_STATUSES = frozenset(("running", "stuck"))

# Statuses whose run is done: it counts 100 % in the summary, early stop included.
DONE_STATUSES = frozenset(("finished", "outdated"))

# The reason of a failed run that was never launched. Its status stays ``failed`` (a launcher
# relaunches failed runs), but every surface tells it apart from a run that broke: its own
# count (``not_started``, inside ``failed``), its own label and colour.
NOT_STARTED = "never_started"

# The words a person reads for a status and for a reason (rules.REASONS), on every surface.
STATUS_LABELS: dict[str, str] = {s: s for s in STATUS_ORDER}
REASON_LABELS: dict[str, str] = {
    "never_started": "not started",
    "config_error": "config error",
    "crashed": "crashed",
    "exited": "exited",
    "stalled": "stalled",
    "stopped": "stopped",
    "cancelled": "cancelled",
    "timeout": "timed out",
    "preempted": "preempted",
    "oom": "out of memory",
    "node_failure": "node failure",
    "pending": "pending",
    "requeued": "requeued",
    "end_unknown": "end not known",
}
assert set(REASON_LABELS) == set(REASONS), "every reason has a label"

# The summary's own keys (an index adds seq, updated_at, process_errors, scanning, cluster,
# root_missing on top; a hub adds clusters, unreachable, stale). ``not_started`` counts the
# failed runs that never started (they are in ``by_status["failed"]`` too).
SUMMARY_KEYS: tuple[str, ...] = ("total", "by_status", "not_started", "progress_percentage", "completed_epochs", "total_epochs", "with_warnings")

LOG_TAIL_LINES = 80


def status_rank(status: object) -> int:
    """Position of a status in STATUS_ORDER (unknown statuses last)."""
    return _RANK.get(status, len(STATUS_ORDER)) if isinstance(status, str) else len(STATUS_ORDER)


def reason_label(reason: str | None) -> str:
    """``oom`` -> ``out of memory``; an unknown reason with its underscores as spaces."""
    if not reason:
        return ""
    return REASON_LABELS.get(reason, reason.replace("_", " "))


def labels() -> dict[str, Any]:
    """What the page needs to name and order things as the CLI does (sent in the WebSocket snapshot)."""
    return {
        "status_order": list(STATUS_ORDER),
        "status_labels": dict(STATUS_LABELS),
        "reason_labels": dict(REASON_LABELS),
        "not_started_reason": NOT_STARTED,
        "not_started_label": REASON_LABELS[NOT_STARTED],
        "sort_keys": {k: {"field": f, "descending": d} for k, (f, d) in SORT_KEYS.items()},
    }


def natural_key(text: str) -> tuple[int | str, ...]:
    """``run_2`` before ``run_10``: names sort as people number them (the page's numeric collation).

    Kept per name (every sort breaks ties by name: a sort of 50,000 records made 100,000 of these), in a plain
    dict emptied when full (a hit is one dict lookup; an LRU's bookkeeping cost 20x that)."""
    key: tuple[int | str, ...] | None = _NATURAL_KEYS.get(text)
    if key is None:
        if len(_NATURAL_KEYS) >= _NATURAL_KEYS_MAX:
            _NATURAL_KEYS.clear()
        key = _NATURAL_KEYS[text] = tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text))
    return key


_DIGITS = re.compile(r"(\d+)")
_NATURAL_KEYS: dict[str, tuple[int | str, ...]] = STATE.table("view_model.natural_keys")
_NATURAL_KEYS_MAX = 1 << 17


def run_id(rel: str) -> str:
    """A stable opaque id for a run: 12 hex chars of the SHA-1 of its name (config_rel)."""
    return hashlib.sha1(rel.encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------- the record


def main_score(rec: dict[str, Any]) -> dict[str, Any] | None:
    """``{"key", "best", "latest", "direction"}`` of a record's headline (``main_metric``...), or None.

    The headline is computed once per evaluation (runwatch.readers.scores.headline, with the
    config's directions or, without them, the heuristic ones); every surface reads it from here.
    """
    key = rec.get("main_metric")
    if not key:
        return None
    return {"key": key, "best": rec.get("main_best"), "latest": rec.get("main_latest"), "direction": rec.get("main_direction")}


def run_record(status: RunStatus, entry_id: str | None = None, cluster: str | None = None, *, strict: bool = False) -> dict[str, Any]:
    """The one record of a run, as every surface sends it.

    ``entry_id`` defaults to ``run_id`` of the run's name, as the live index names it;
    ``strict`` makes every non-finite number a string (the CLI's strict JSON documents).
    Plain dicts: records are made per request and dropped once sent.
    """
    rec = status.to_json_record() if strict else status.to_dict()
    rec["id"] = entry_id if entry_id is not None else run_id(status.run or status.config)
    rec["main_score"] = main_score(rec)
    rec["updated"] = updated_at(status)
    rec["progress_shown"] = run_percentage(status.status, status.progress.progress_percentage)
    rec["not_started"] = status.status == "failed" and status.reason == NOT_STARTED
    if status.status not in LIVE_STATUSES:  # a dead run is in no epoch: where it was is in its log
        rec["in_progress"] = None
    error = status.progress.error_message or status.error_line
    rec["error_text"] = error
    # The reason's words unless they only repeat the error (the error is shown once, with its source).
    detail = status.reason_detail
    rec["reason_text"] = None if detail and error and (detail in error or error in detail) else detail
    if cluster is not None:
        rec["cluster"] = cluster
    return rec


def updated_at(status: RunStatus) -> float | None:
    """ "Updated": the run's newest sign of life, its progress artifacts or its newest log, whichever is later."""
    times = [status.progress.last_update_time]
    d = status.details
    if d is not None and d.logs:
        times.append(d.logs[0][1])
    known = [t for t in times if t is not None and math.isfinite(t)]
    return max(known) if known else None


def score_sort_value(rec: dict[str, Any], which: str) -> float | None:
    """Sort value of a record's main score ``best``/``latest``: "better first" ascending.

    Higher-is-better values are negated, so an ascending sort puts the best run first
    whatever its metric's direction; None (no score, or not a finite number) sorts last.
    """
    ms = rec.get("main_score")
    if not isinstance(ms, dict):
        return None
    v = ms.get(which)
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        return None
    return -float(v) if (ms.get("direction") or 0) >= 0 else float(v)


# ---------------------------------------------------------------- the sort

# The one sort of every surface: key -> (the record field it reads, descending by default).
# ``runwatch status --sort KEY`` and a click on the page's column use the default direction;
# the REST API's ``sort=KEY`` is ascending and ``sort=-KEY`` descending. Missing values sort
# last in either direction; ties go by run name, numbers as numbers (run_2 before run_10).
SORT_KEYS: dict[str, tuple[str, bool]] = {
    "run": ("run", False),
    "status": ("status", False),  # problems first (STATUS_ORDER)
    "progress": ("progress_shown", False),  # least done first
    "updated": ("updated", True),  # newest first
    "eta": ("eta_seconds", False),  # soonest first
    "kind": ("runner_type", False),
    "best": ("main_score", False),  # the better first, whatever the metric's direction
    "latest": ("main_score", False),
    "epochs": ("completed_epochs", True),
    "total_epochs": ("total_epochs", True),
    "started": ("start_time", True),
    "cluster": ("cluster", False),
}
# Names the REST API accepted before (record field names): the same keys.
SORT_ALIASES: dict[str, str] = {
    "progress_percentage": "progress",
    "last_update_time": "updated",
    "eta_seconds": "eta",
    "completed_epochs": "epochs",
    "start_time": "started",
    "runner_type": "kind",
}


def sort_value(rec: dict[str, Any], key: str) -> Any:
    """The value a record sorts by under ``key`` (None: no value, sorted last)."""
    if key in ("best", "latest"):
        return score_sort_value(rec, key)
    if key == "status":
        return status_rank(rec.get("status"))
    v = rec.get(SORT_KEYS[key][0])
    if isinstance(v, str):
        return natural_key(v)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return v


def sort_records(records: list[dict[str, Any]], key: str, descending: bool | None = None) -> list[dict[str, Any]]:
    """``records`` sorted by ``key`` (a SORT_KEYS key or alias), in its default direction unless given."""
    key = SORT_ALIASES.get(key, key)
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r}; choose from {', '.join(SORT_KEYS)}")
    desc = SORT_KEYS[key][1] if descending is None else descending

    def name(r: dict[str, Any]) -> tuple[int | str, ...]:
        return natural_key(str(r.get("run") or r.get("config") or ""))

    keyed = [(sort_value(r, key), r) for r in records]
    present = [(v, r) for v, r in keyed if v is not None]
    missing = [r for v, r in keyed if v is None]
    present.sort(key=lambda vr: name(vr[1]))  # stable: equal values stay in name order
    present.sort(key=lambda vr: vr[0], reverse=desc)
    missing.sort(key=name)
    return [r for _, r in present] + missing


# ---------------------------------------------------------------- the summary


def run_percentage(status: Any, pct: Any) -> float:
    """A run's share in the overall progress: a done run counts fully, else its percentage (0-100)."""
    if status in DONE_STATUSES:
        return 100.0
    if type(pct) not in (int, float) or not math.isfinite(pct):
        return 0.0
    return min(max(float(pct), 0.0), 100.0)


def _summary(n: int, counts: dict[str, int], not_started: int, pct_sum: float, done: int, planned: int, warned: int) -> dict[str, Any]:
    return {
        "total": n,
        "by_status": counts,
        "not_started": not_started,
        "progress_percentage": round(pct_sum / n, 2) if n else 0.0,
        "completed_epochs": done,
        "total_epochs": planned,
        "with_warnings": warned,
    }


def summarize(runs: Iterable[RunStatus | dict[str, Any]]) -> dict[str, Any]:
    """Counts per status and overall progress over runs (RunStatus objects or their records).

    ``completed_epochs`` / ``total_epochs`` are the sums of the runs' own numbers (as their
    records show them), a run whose total is unknown (a Lightning run without max_epochs)
    counting its completed epochs as its total, so that the pair never reads "7/4";
    ``progress_percentage`` is the mean of ``run_percentage`` over the runs.
    """
    counts = {s: 0 for s in STATUSES}
    n = done = planned = warned = never = 0
    pct = 0.0
    for r in runs:
        if isinstance(r, dict):
            if not r:
                continue
            st, p, c, t, w = r.get("status"), r.get("progress_percentage"), r.get("completed_epochs"), r.get("total_epochs"), r.get("warnings")
            why = r.get("reason")
        else:
            prog = r.progress
            st, p, c, t, w = r.status, prog.progress_percentage, prog.completed_epochs, prog.total_epochs, prog.warnings
            why = r.reason
        n += 1
        st = str(st)
        counts[st] = counts.get(st, 0) + 1
        never += 1 if st == "failed" and why == NOT_STARTED else 0
        pct += run_percentage(st, p)
        done += c if type(c) is int else 0
        planned += t if type(t) is int else c if type(c) is int else 0
        warned += 1 if w else 0
    return _summary(n, counts, never, pct, done, planned, warned)


def merge_summaries(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One summary over the runs of several summaries (a hub's agents), without their records.

    Counts and epochs add up; ``progress_percentage`` is the mean weighted by each part's
    ``total``, which is the mean over all runs (to the parts' rounding, 0.005 points).
    """
    counts = {s: 0 for s in STATUSES}
    n = done = planned = warned = never = 0
    pct = 0.0
    for p in parts:
        t = int(p.get("total") or 0)
        never += int(p.get("not_started") or 0)
        for st, k in (p.get("by_status") or {}).items():
            counts[st] = counts.get(st, 0) + int(k)
        n += t
        pct += float(p.get("progress_percentage") or 0.0) * t
        done += int(p.get("completed_epochs") or 0)
        planned += int(p.get("total_epochs") or 0)
        warned += int(p.get("with_warnings") or 0)
    return _summary(n, counts, never, pct, done, planned, warned)


# ---------------------------------------------------------------- the detail


def _facts_dict(facts: ConfigFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {
        "runner": str(facts.runner) if facts.runner else None,
        "runner_kind": facts.runner_kind,
        "epochs": facts.epochs,
        "early_stopping_patience": facts.early_stopping_patience,
        "metric": str(facts.first.metric) if facts.first.metric else None,
        "directions": flatten_scalars(facts.directions) if facts.directions else None,
        "directions_source": facts.first.directions_source,
        "declared_work_dir": facts.work_dir,
        "is_multi_stage": facts.is_multi_stage,
        "stages": [
            {
                "index": i,
                "runner": s.runner.dotted if s.runner else None,
                "runner_kind": s.runner_kind,
                "epochs": s.epochs,
                "metric": s.metric.dotted if s.metric else None,
                "directions": s.directions,
                "directions_source": s.directions_source,
                "early_stopping_patience": s.early_stopping_patience if s.early_stopping_enabled else None,
            }
            for i, s in enumerate(facts.stages)
        ],
        "error": facts.error,
        "warnings": list(facts.warnings),
    }


def _score_rows(scores: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Every leaf of an ``aggregated`` dict as a row (lists kept as lists) for the scores table."""
    rows: list[dict[str, Any]] = []
    if isinstance(scores, dict):
        for k, v in scores.items():
            if isinstance(v, dict):
                rows.extend(_score_rows(v, f"{prefix}{k}."))
            else:
                rows.append({"key": f"{prefix}{k}", "value": json_safe(v)})
    return rows


def run_detail(
    status: RunStatus | None,
    facts: ConfigFacts | None,
    entry_id: str | None = None,
    cluster: str | None = None,
    log_lines: int = LOG_TAIL_LINES,
    project: Any = None,
) -> dict[str, Any]:
    """The record plus ``detail``: per-metric series, epoch timeline (with each epoch's scores),
    logs, log tail, config facts and the latest / best scores tables. Strict JSON.

    With the run's ``project``, the problems of its per-datapoint data that the datapoint cache
    already knows (runwatch.compare.notes: never read for this) join the record's ``warnings``
    and are ``detail.data_warnings``."""
    rec = run_record(status, entry_id, cluster, strict=True) if status is not None else {}
    data_warnings = _data_warnings(status, project)
    if data_warnings:
        rec["warnings"] = list(rec.get("warnings") or []) + [w for w in data_warnings if w not in (rec.get("warnings") or [])]
    details = status.details if status is not None else None
    series: dict[str, list[list[Any]]] = {}
    timeline: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    log_tail: dict[str, Any] | None = None
    stopping = _early_stopping(status, facts)
    output_tail = status.output_tail if status is not None else None
    if details is not None:
        counters = stopping["counters"] if stopping is not None else []
        for i, e in enumerate(details.epochs):
            timeline.append(
                {
                    "index": e.index,
                    "finished": e.finished,
                    "finish_time": e.finish_time,
                    "duration": e.duration,
                    "scores": e.scores,
                    "no_improvement": counters[i] if i < len(counters) else None,
                }
            )
            if e.scores and e.finished:
                for k, v in flatten_scalars(e.scores).items():
                    series.setdefault(k, []).append([e.index, v])
        logs = [{"name": n, "mtime": m} for n, m in details.logs]
        if details.logs and status is not None:
            name = os.path.basename(details.logs[0][0])
            log_tail = {"name": name, "lines": tail_lines(os.path.join(status.work_dir, name), log_lines)}
            if status.error_source == "log":  # the run's output is its log: shown once, as the log tail
                output_tail = None
    rec["detail"] = json_safe(
        {
            "series": series,
            "timeline": timeline,
            "logs": logs,
            "log_tail": log_tail,
            "facts": _facts_dict(facts),
            "scores_table": _score_rows(status.progress.latest_score if status is not None else None),
            "best_scores_table": _score_rows(status.progress.best_score if status is not None else None),
            "early_stopping": stopping,
            "output_tail": list(output_tail) if output_tail else None,
            "data_warnings": data_warnings,
        }
    )
    return rec


def _data_warnings(status: RunStatus | None, project: Any) -> list[str]:
    """What the datapoint cache knows is wrong with the run's per-datapoint data (one stat per scores file)."""
    if status is None or project is None:
        return []
    from runwatch.compare.notes import data_warnings, scores_files

    if not scores_files(status, project.settings):
        return []
    from runwatch.compare.cache import cache_for

    return data_warnings(status, project, cache_for(project))


def _early_stopping(status: RunStatus | None, facts: ConfigFacts | None) -> dict[str, Any] | None:
    """The early-stopping rule replayed over the run's epochs: the counter after each epoch, the
    best epoch and where the rule fires. None for a run without epochs, and for a multi-stage run
    (each stage has its own rule)."""
    if status is None or facts is None or facts.is_multi_stage or status.details is None or not status.details.epochs:
        return None
    patience = facts.early_stopping_patience
    trace = replay([e.scores for e in status.details.epochs], facts.directions, patience)
    return {
        "enabled": bool(patience),
        "patience": patience,
        "counters": list(trace.counters),
        "best_index": trace.best_index,
        "stop_at": trace.stop_at,
        "known": trace.known,
    }

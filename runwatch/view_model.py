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
* ``STATUS_ORDER`` / ``status_rank``: problems first, for every "sort by status".
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
from runwatch.run_status.rules import STATUSES
from runwatch.run_status.run_status import RunStatus

__all__ = [
    "DONE_STATUSES",
    "LOG_TAIL_LINES",
    "STATUS_ORDER",
    "SUMMARY_KEYS",
    "main_score",
    "merge_summaries",
    "natural_key",
    "run_detail",
    "run_id",
    "run_percentage",
    "run_record",
    "score_sort_value",
    "status_rank",
    "summarize",
]

# "Sort by status": problems first, then what is under way, then what is done.
STATUS_ORDER: tuple[str, ...] = ("failed", "stuck", "running", "queued", "finished", "outdated")
_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}

# Statuses whose run is done: it counts 100 % in the summary, early stop included.
DONE_STATUSES = frozenset(("finished", "outdated"))

# The summary's own keys (an index adds seq, updated_at, process_errors, scanning, cluster,
# root_missing on top; a hub adds clusters, unreachable, stale).
SUMMARY_KEYS: tuple[str, ...] = ("total", "by_status", "progress_percentage", "completed_epochs", "total_epochs", "with_warnings")

LOG_TAIL_LINES = 80


def status_rank(status: Any) -> int:
    """Position of a status in STATUS_ORDER (unknown statuses last)."""
    return _RANK.get(status, len(STATUS_ORDER))


def natural_key(text: str) -> tuple[Any, ...]:
    """``run_2`` before ``run_10``: names sort as people number them (the page's numeric collation)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


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
    if cluster is not None:
        rec["cluster"] = cluster
    return rec


def score_sort_value(rec: dict[str, Any], which: str) -> float | None:
    """Sort value of a record's main score ``best``/``latest``: "better first" ascending.

    Higher-is-better values are negated, so an ascending sort puts the best run first
    whatever its metric's direction; None (no score, or not a finite number) sorts last.
    """
    ms = rec.get("main_score")
    v = ms.get(which) if isinstance(ms, dict) else None
    if type(v) not in (int, float) or not math.isfinite(v):
        return None
    return -float(v) if (ms.get("direction") or 0) >= 0 else float(v)


# ---------------------------------------------------------------- the summary


def run_percentage(status: Any, pct: Any) -> float:
    """A run's share in the overall progress: a done run counts fully, else its percentage (0-100)."""
    if status in DONE_STATUSES:
        return 100.0
    if type(pct) not in (int, float) or not math.isfinite(pct):
        return 0.0
    return min(max(float(pct), 0.0), 100.0)


def _summary(n: int, counts: dict[str, int], pct_sum: float, done: int, planned: int, warned: int) -> dict[str, Any]:
    return {
        "total": n,
        "by_status": counts,
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
    n = done = planned = warned = 0
    pct = 0.0
    for r in runs:
        if isinstance(r, dict):
            if not r:
                continue
            st, p, c, t, w = r.get("status"), r.get("progress_percentage"), r.get("completed_epochs"), r.get("total_epochs"), r.get("warnings")
        else:
            prog = r.progress
            st, p, c, t, w = r.status, prog.progress_percentage, prog.completed_epochs, prog.total_epochs, prog.warnings
        n += 1
        st = str(st)
        counts[st] = counts.get(st, 0) + 1
        pct += run_percentage(st, p)
        done += c if type(c) is int else 0
        planned += t if type(t) is int else c if type(c) is int else 0
        warned += 1 if w else 0
    return _summary(n, counts, pct, done, planned, warned)


def merge_summaries(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One summary over the runs of several summaries (a hub's agents), without their records.

    Counts and epochs add up; ``progress_percentage`` is the mean weighted by each part's
    ``total``, which is the mean over all runs (to the parts' rounding, 0.005 points).
    """
    counts = {s: 0 for s in STATUSES}
    n = done = planned = warned = 0
    pct = 0.0
    for p in parts:
        t = int(p.get("total") or 0)
        for st, k in (p.get("by_status") or {}).items():
            counts[st] = counts.get(st, 0) + int(k)
        n += t
        pct += float(p.get("progress_percentage") or 0.0) * t
        done += int(p.get("completed_epochs") or 0)
        planned += int(p.get("total_epochs") or 0)
        warned += int(p.get("with_warnings") or 0)
    return _summary(n, counts, pct, done, planned, warned)


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
) -> dict[str, Any]:
    """The record plus ``detail``: per-metric series, epoch timeline (with each epoch's scores),
    logs, log tail, config facts and the latest / best scores tables. Strict JSON."""
    rec = run_record(status, entry_id, cluster, strict=True) if status is not None else {}
    details = status.details if status is not None else None
    series: dict[str, list[list[Any]]] = {}
    timeline: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    log_tail: dict[str, Any] | None = None
    if details is not None:
        for e in details.epochs:
            timeline.append({"index": e.index, "finished": e.finished, "finish_time": e.finish_time, "duration": e.duration, "scores": e.scores})
            if e.scores and e.finished:
                for k, v in flatten_scalars(e.scores).items():
                    series.setdefault(k, []).append([e.index, v])
        logs = [{"name": n, "mtime": m} for n, m in details.logs]
        if details.logs and status is not None:
            name = os.path.basename(details.logs[0][0])
            log_tail = {"name": name, "lines": tail_lines(os.path.join(status.work_dir, name), log_lines)}
    rec["detail"] = json_safe(
        {
            "series": series,
            "timeline": timeline,
            "logs": logs,
            "log_tail": log_tail,
            "facts": _facts_dict(facts),
            "scores_table": _score_rows(status.progress.latest_score if status is not None else None),
            "best_scores_table": _score_rows(status.progress.best_score if status is not None else None),
        }
    )
    return rec

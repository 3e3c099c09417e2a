"""The detail record of one run: everything the detail view shows, from the index alone.

Built on request (it reads a log tail), never pushed: a delta carries the small
record, and a page that has a run open re-fetches its detail when that run changes.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.configs.facts import ConfigFacts
from runwatch.live.index import Entry, make_record
from runwatch.progress_tracking.progress_info import json_safe
from runwatch.readers.logs import tail_lines
from runwatch.readers.scores import flatten_scalars

LOG_TAIL_LINES = 80


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
            {"index": i, "runner": str(s.runner) if s.runner else None, "epochs": s.epochs, "metric": str(s.metric) if s.metric else None}
            for i, s in enumerate(facts.stages)
        ]
        if facts.is_multi_stage
        else None,
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


def run_detail(entry: Entry, log_lines: int = LOG_TAIL_LINES, cluster: str | None = None) -> dict[str, Any]:
    """The record plus per-metric series, epoch timeline, config facts, scores table and log tail."""
    status, facts = entry.status, entry.facts  # read once: a commit may replace them meanwhile
    rec = make_record(entry.id, status, facts.directions if facts is not None else None, cluster) if status is not None else {}
    details = status.details if status is not None else None
    series: dict[str, list[list[float]]] = {}
    timeline: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    log_tail: dict[str, Any] | None = None
    if details is not None:
        for e in details.epochs:
            timeline.append({"index": e.index, "finished": e.finished, "finish_time": e.finish_time, "duration": e.duration})
            if e.scores and e.finished:
                for k, v in flatten_scalars(e.scores).items():
                    series.setdefault(k, []).append([e.index, v])
        logs = [{"name": n, "mtime": m} for n, m in details.logs]
        if details.logs and status is not None:
            name = details.logs[0][0]
            path = os.path.join(status.work_dir, os.path.basename(name))
            log_tail = {"name": os.path.basename(name), "lines": tail_lines(path, log_lines)}
    latest = status.progress.latest_score if status is not None else None
    rec["detail"] = {
        "series": {k: [[i, json_safe(v)] for i, v in pts] for k, pts in series.items()},
        "timeline": timeline,
        "logs": logs,
        "log_tail": log_tail,
        "facts": _facts_dict(facts),
        "scores_table": _score_rows(latest),
        "best_scores_table": _score_rows(status.progress.best_score if status is not None else None),
    }
    return rec

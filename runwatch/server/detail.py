"""The detail record of one run (``/api/runs/{id}``), from the index alone.

Built on request (it reads a log tail), never pushed: a delta carries the small
record, and a page that has a run open re-fetches its detail when that run changes.
The schema is runwatch.view_model.run_detail's, the same as ``runwatch show --json``.
"""

from __future__ import annotations

from typing import Any

from runwatch.live.index import Entry
from runwatch.view_model import LOG_TAIL_LINES, run_detail as _detail

__all__ = ["LOG_TAIL_LINES", "run_detail"]


def run_detail(entry: Entry, log_lines: int = LOG_TAIL_LINES, cluster: str | None = None, project: Any = None) -> dict[str, Any]:
    """The record plus per-metric series, epoch timeline, config facts, scores tables and log tail
    (with the ``project``: the per-datapoint problems the datapoint cache knows, as warnings)."""
    status, facts = entry.status, entry.facts  # read once: a commit may replace them meanwhile
    return _detail(status, facts, entry.id, cluster, log_lines, project=project)

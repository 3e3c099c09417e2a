"""``runwatch.status_records``: every run's record, from the running agent when there is one.

The records are those of ``runwatch status --json`` (``view_model.run_record``, strict JSON
values). When ``runwatch serve`` or ``runwatch notify`` watches the project on this machine
with the same settings, they come from it over its local socket (``agent_client``), as
current as a scan; otherwise the project is scanned in this process, as
``get_all_run_status`` does.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from runwatch.agent_client import ask
from runwatch.project import Project
from runwatch.settings import Settings


def status_records(root: str | os.PathLike[str] = ".", *, settings: Settings | None = None, use_agent: bool = True) -> list[dict[str, Any]]:
    """Every run's record (sorted by run name), from the project's agent or from a scan."""
    project = Project.at(root, settings)
    if use_agent:
        got = ask(
            project.root,
            project.settings,
            {"command": "status", "paths": [], "format": "json", "sort": "run", "terminal": {"tty": False, "width": 200, "env": {}}},
        )
        if got is not None:
            runs = orjson.loads(got[1]).get("runs")
            if isinstance(runs, list):
                return runs
    from runwatch.layouts import discover_runs
    from runwatch.run_status.api import get_all_run_status
    from runwatch.view_model import natural_key, run_record

    statuses = get_all_run_status(discover_runs(project), root=project.root, settings=project.settings)
    records = [run_record(s, strict=True) for s in statuses.values()]
    records.sort(key=lambda r: natural_key(r.get("run") or r.get("config") or ""))
    return records

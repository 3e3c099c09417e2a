"""The status rules: one pure function from facts to a status, first match wins.

Kept apart from file reading so that the precedence (running, then complete ->
outdated/finished, then stuck, then failed) can be read and tested on its own.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["running", "finished", "stuck", "failed", "outdated", "queued"]
STATUSES: tuple[str, ...] = ("running", "finished", "stuck", "failed", "outdated", "queued")


def decide_status(
    *,
    now: float,
    log_last_update: float | None,
    complete: bool,
    artifact_last_update: float | None,
    has_live_process: bool,
    has_queued_job: bool = False,
    sleep_time: float = 86400,
    outdated_days: float = 30,
) -> Status:
    """The plan's precedence, plus ``queued`` for a Slurm job that has not started yet."""
    if log_last_update is not None and now - log_last_update <= sleep_time:
        return "running"
    if complete:
        if artifact_last_update is not None and now - artifact_last_update > outdated_days * 86400:
            return "outdated"
        return "finished"
    if has_live_process:
        return "stuck"
    if has_queued_job:
        return "queued"
    return "failed"

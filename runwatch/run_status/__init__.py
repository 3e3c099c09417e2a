"""Run status: the plan's RunStatus, status rules, the scan engine and get_run_status / get_all_run_status."""

from runwatch.readers.artifacts import get_epoch_last_update
from runwatch.readers.logs import get_log_last_update
from runwatch.run_status.api import get_all_run_status
from runwatch.run_status.engine import KEEP, Rescan, ScanEngine, Scanned, engine_for, open_store
from runwatch.run_status.rules import STATUSES, Status, decide_status
from runwatch.run_status.run_status import RunStatus, evaluate_run, get_run_status, take_snapshot

__all__ = [
    "KEEP",
    "STATUSES",
    "Rescan",
    "RunStatus",
    "ScanEngine",
    "Scanned",
    "Status",
    "decide_status",
    "engine_for",
    "evaluate_run",
    "get_all_run_status",
    "get_epoch_last_update",
    "get_log_last_update",
    "get_run_status",
    "open_store",
    "take_snapshot",
]

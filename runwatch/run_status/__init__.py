"""Run status: the plan's RunStatus, status rules and get_run_status / get_all_run_status."""

from runwatch.readers.artifacts import get_epoch_last_update
from runwatch.readers.logs import get_log_last_update
from runwatch.run_status.rules import STATUSES, Status, decide_status
from runwatch.run_status.run_status import RunStatus, evaluate_run, get_all_run_status, get_run_status, open_store, take_snapshot

__all__ = [
    "STATUSES",
    "RunStatus",
    "Status",
    "decide_status",
    "evaluate_run",
    "get_all_run_status",
    "get_epoch_last_update",
    "get_log_last_update",
    "get_run_status",
    "open_store",
    "take_snapshot",
]

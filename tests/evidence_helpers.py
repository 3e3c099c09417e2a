"""``evidence.gather`` for one run with every input quiet unless a test names it."""

from __future__ import annotations

import time
from typing import Any

from runwatch.run_status import evidence


def gather_quiet(project: Any, work_dir: Any, *, now: float | None = None, **kw: Any) -> evidence.Verdict:
    """The verdict on run ``a/run`` in ``work_dir``: incomplete, active 5 s before ``now`` (default: the clock),
    no process, details, log or errors; ``kw`` overrides any of ``gather``'s arguments."""
    now = time.time() if now is None else now
    args: dict[str, Any] = dict(
        rel="a/run",
        work_dir=str(work_dir),
        now=now,
        complete=False,
        last_activity=now - 5,
        artifact_last=None,
        newest_log=None,
        details=None,
        proc=None,
        process_errors=None,
        config_error=None,
        sleep_time=None,
        outdated_days=30,
    )
    args.update(kw)
    return evidence.gather(project, **args)

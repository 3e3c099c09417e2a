"""Status names given on a command line (``failed,stuck`` or repeated options) -> a set; light enough for the console script."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the console script's path stays light)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

# Every status a run can have, in the order the decision table names them (runwatch.run_status.rules.Status).
STATUSES: tuple[str, ...] = ("running", "finished", "stuck", "failed", "outdated", "queued", "unknown")


def split_statuses(values: Iterable[str], known: Sequence[str], unknown: Callable[[str], Exception]) -> set[str]:
    """Each value split at commas, stripped and lower-cased; a name not in ``known`` raises ``unknown(name)``."""
    out: set[str] = set()
    for v in values:
        for s in v.split(","):
            s = s.strip().lower()
            if not s:
                continue
            if s not in known:
                raise unknown(s)
            out.add(s)
    return out

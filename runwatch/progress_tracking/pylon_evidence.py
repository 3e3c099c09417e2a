"""What a Pylon trainer records about itself, read as evidence beside the epoch dirs.

Its own ``progress.json`` (the 4 fields it writes after every epoch), its log's end
(exception, early-stop lines, the last progress line), the number of sessions,
``config.json`` (the config at launch) and the ``checkpoint_best.pt`` link. Each read is
bounded; the log's facts are memoized on the tracker by the log's (mtime, size), so a
recomputation caused by another file does not read it again.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.configs import scan_stats

from runwatch.progress_tracking.progress_store import PROGRESS_JSON
from runwatch.progress_tracking.progress_info import LEGACY_FIELDS
from runwatch.readers.artifacts import FileStat
from runwatch.readers.jsonfile import read_json_tolerant
from runwatch.readers.launch_config import CONFIG_JSON, launch_differences, read_launch_config
from runwatch.readers.logs import LogFacts, log_facts

BEST_LINK = "checkpoint_best.pt"
_TRAINER_KEYS = frozenset(LEGACY_FIELDS)


def memo_log_facts(tracker: Any, name: str | None, st: FileStat | None) -> LogFacts | None:
    """``log_facts`` of the newest log, read again only when its name or stat moved.

    One small tuple per tracker (a live index keeps a tracker per run); a caller drops it
    (``forget_log_facts``) once the run is complete, when the log rarely moves again.
    """
    if name is None or st is None or not st.is_file:
        return None
    memo = tracker._log_memo
    if memo is not None and memo[0] == name and memo[1] == st.mtime and memo[2] == st.size:
        return memo[3]
    facts = log_facts(os.path.join(tracker.work_dir, name))
    tracker._log_memo = (name, st.mtime, st.size, facts)  # the name is the interned one the listing gave
    return facts


def forget_log_facts(tracker: Any) -> None:
    tracker._log_memo = None


def trainer_progress_json(tracker: Any, st: FileStat | None) -> tuple[dict[str, Any] | None, bool]:
    """(the trainer's own record, whether a progress.json runwatch did not write is there).

    The record is the file's content when it has exactly the trainer's 4 fields with
    usable types; a file with more keys was written by some tracker (it is nobody's
    evidence, and runwatch leaves it alone all the same).
    """
    if st is None:
        return None, False
    path = os.path.join(tracker.work_dir, PROGRESS_JSON)
    own = tracker._own_pj
    if own is not None:
        try:
            lst = os.lstat(path)
            if (lst.st_ino, lst.st_mtime_ns, lst.st_size) == own:
                return None, False  # ours: not evidence, and ours to keep up to date
        except OSError:
            return None, False

    data, problem = read_json_tolerant(path)  # a few dozen bytes, read only when the run is recomputed
    if problem is not None or not isinstance(data, dict) or set(data) != _TRAINER_KEYS:
        return None, True
    done, stopped, at = data["completed_epochs"], data["early_stopped"], data["early_stopped_at_epoch"]
    if isinstance(done, bool) or not isinstance(done, int) or not isinstance(stopped, bool):
        return None, True
    if at is not None and (isinstance(at, bool) or not isinstance(at, int)):
        return None, True
    return data, True


def epoch_fraction(in_progress: dict[str, Any] | None, completed: int) -> float | None:
    """The share of the epoch under way its last progress line shows done; None when the line is not about it.

    Training counts for the epoch (iteration i of M done: (i + 1) / M); validation comes
    after all of training, so it counts as the training part done.
    """
    if not in_progress:
        return None
    if in_progress.get("epoch") != completed:
        return None  # about an epoch already finished (or a resumed session's old lines)
    m = in_progress.get("iterations") or 0
    if m <= 0:
        return None
    if in_progress.get("phase") == "validation":
        return 1.0
    return min(1.0, (int(in_progress.get("iteration", 0)) + 1) / m)


def evaluation_fraction(in_progress: dict[str, Any] | None) -> float | None:
    """The share of an evaluation done from its last ``Evaluation [Iteration k/N]`` line."""
    if not in_progress or in_progress.get("phase") != "evaluation":
        return None
    m = in_progress.get("iterations") or 0
    if m <= 0:
        return None
    return min(1.0, (int(in_progress.get("iteration", 0)) + 1) / m)


def count_sessions(top: dict[str, FileStat], n_logs: int) -> int | None:
    """How many times the run was started: one ``train_val_<i>.log`` / ``git_<i>.log`` per session."""
    n_git = sum(1 for n in top if n.startswith("git_") and n.endswith(".log"))
    n = max(n_logs, n_git)
    return n or None


def launch_config_warnings(tracker: Any, st: FileStat | None, today: Any) -> list[str]:
    """A warning when ``config.json`` (the config at launch) and the config file today disagree on a tracked key."""
    if st is None or not st.is_file or today is None:
        return []
    whole = whole_config_warning(tracker)
    if whole is not None:
        return [whole] if whole else []
    try:  # a config file not modified since config.json was written cannot differ: nothing to read
        if os.stat(tracker.config.path).st_mtime <= st.mtime:
            return []
    except (OSError, AttributeError, TypeError, ValueError):
        pass
    path = os.path.join(tracker.work_dir, CONFIG_JSON)
    launch = read_launch_config(path)  # only when the config file is newer than config.json
    if not launch or len(launch) != 1:
        return []
    diffs = launch_differences(launch[0], *today)
    if not diffs:
        return []
    return [f"{path}: the config changed since launch ({'; '.join(diffs)}): progress is counted against the config file as it is now"]


def whole_config_warning(tracker: Any) -> str | None:
    """The whole-config comparison's warning ('' when nothing changed), None when it cannot be made."""
    config = getattr(tracker, "config", None)
    path = getattr(config, "path", None)
    if not path or getattr(config, "is_multi_stage", False) or not str(path).endswith(".py"):
        return None
    from runwatch.configs.reader import find_config_root
    from runwatch.progress_tracking.config_changed import config_changes, warning_of

    configs_dir = tracker.settings.configs_dir
    root = find_config_root(path, configs_dir)
    diffs = config_changes(path, tracker.work_dir, root, configs_dir)  # (asked once: two stats)
    if diffs is None:
        return None
    return warning_of(diffs, tracker.work_dir) or ""


def config_file_key(tracker: Any) -> Any:
    """The config file's mtime (ns), for the tracker's cache key: an edit of any key (not only the
    tracked ones) must reach the changed-config warning, in this process and in a new one. One stat."""
    path = getattr(getattr(tracker, "config", None), "path", None)
    if not path or not str(path).endswith(".py"):
        return None
    sig = scan_stats.sig_of(path)  # stat'ed by this scan's facts batch a moment ago
    if sig is None:
        return "missing"
    if sig is not scan_stats.UNKNOWN and sig[1] >= 0:
        return sig[0]
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return st.st_mtime_ns  # one int: a key is kept per run


def best_link_warning(tracker: Any, top: dict[str, FileStat], best_i: int | None, completed: int, directions_known: bool) -> str | None:
    """A warning when ``checkpoint_best.pt`` points at another finished epoch than the scores' best."""
    if BEST_LINK not in top or best_i is None or not directions_known:
        return None
    path = os.path.join(tracker.work_dir, BEST_LINK)
    try:
        target = os.readlink(path)
    except OSError:
        return None
    first = target.replace("\\", "/").lstrip("./").split("/", 1)[0]
    n = tracker.settings.parse_epoch_dir(first)
    if n is None or n >= completed or n == best_i:
        return None  # not an epoch link, or about an epoch not finished yet (the link moves first)
    return f"{path}: points at epoch {n} but the scores' best epoch is {best_i} (metric directions differ from the trainer's?)"

"""Has a run's config file changed since launch? The whole config, against the ``config.json`` the run wrote.

Pylon writes the config as it was at launch into the work dir (a Python repr). When the
config file is newer than that record, the config file is evaluated statically (never
run) and both sides are compared key by key: every value both sides know (numbers,
strings, lists, nested dicts, class names), keys added or removed. Values either side
cannot tell (a call, a function, anything the static reader leaves unknown) are not
compared, so the check never claims a change it cannot see. Trainers and evaluators alike.

The answer is memoized by the two files' stats; the evaluation happens only when the config
file is newer than ``config.json``. A scan's facts reader evaluates every config anyway, so it
answers the question while that evaluation is at hand (``launch_check``), walking the launch
record's keys only (``config_diff.live_differences``); the tracker's call is then a memo hit.
Where the facts came from the cache, or that walk cannot promise the full answer, the config
is evaluated here in full.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.progress_tracking.compact import HashSet
from runwatch.progress_tracking.config_diff import differences, live_differences, today_value
from runwatch.readers.launch_config import CONFIG_JSON, SKIP, launch_value, read_launch_text
from runwatch.state import STATE

MAX_SHOWN = 5

__all__ = ["changed_warning", "config_changes", "differences", "launch_check", "today_value", "warning_of"]


_MEMO: dict[tuple[Any, ...], list[str] | None] = STATE.table("progress_tracking.config_changed.memo")
_NONE: list[str] = []
_CLEAN: HashSet = STATE.table("progress_tracking.config_changed.clean", HashSet)


def _key(config_path: str, record: str) -> tuple[Any, ...] | None:
    """The memo's key of a config and its record (their mtimes); () when the config is not newer, None when unreadable."""
    try:
        cst, rst = os.stat(config_path), os.stat(record)
    except OSError:
        return None
    if cst.st_mtime <= rst.st_mtime:
        return ()  # not modified since launch
    return (config_path, record, cst.st_mtime_ns, rst.st_mtime_ns)  # one config, one work dir: its record


def _known(key: tuple[Any, ...]) -> tuple[bool, list[str] | None]:
    if key in _MEMO:
        return True, _MEMO[key]
    if hash(key) in _CLEAN:
        return True, _NONE
    return False, None


def _remember(key: tuple[Any, ...], result: list[str] | None) -> list[str] | None:
    if result is not None and not result:
        # Most runs' configs did not change: a hash of the question is all that is kept of them.
        if len(_CLEAN) > 100_000:
            _CLEAN.clear()
        _CLEAN.add(hash(key))
        return _NONE
    if len(_MEMO) > MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = result
    return result


MEMO_SIZE = 16_384  # configs whose answer is not "unchanged" (a few short strings each)


def config_changes(config_path: str, work_dir: str, root: str, configs_dir: str) -> list[str] | None:
    """The differences between the run's config.json and its config file today; None when either cannot be read."""
    record = os.path.join(work_dir, CONFIG_JSON)
    key = _key(config_path, record)
    if not key:
        return None if key is None else []
    known, result = _known(key)
    if known:
        return result
    launch = _LAUNCH.pop(key, None)  # the record as the facts batch's check read it, when it left the rest here
    return _remember(key, _compare(config_path, record, root, configs_dir, launch))


def launch_check(project: Any) -> LaunchCheck:
    """For the facts reader (``read_configs(on_evaluated=...)``): answer the changed-config question of
    each config it evaluates while its evaluation is at hand, so that the tracker's ``config_changes``
    finds the answer in the memo instead of parsing and evaluating the config again."""
    return LaunchCheck(project)


class LaunchCheck:
    """The facts reader's hook (see ``launch_check``): called with each evaluation; its answers are
    remembered here and returned as notes (a forked reader's go to ``adopt`` in the scanning process)."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.configs_dir = project.settings.configs_dir

    def __call__(self, path: str, result: Any, root: str) -> tuple[tuple[Any, ...], list[str] | None] | None:
        from runwatch import pylon_paths
        from runwatch.configs.reader import find_config_root

        if not path.endswith(".py") or result.error is not None or "config" not in result.namespace:
            return None
        try:
            if find_config_root(path, self.configs_dir) != root:
                return None  # the tracker's comparison would use another root's modules
            record = os.path.join(pylon_paths.work_dir(self.project, path), CONFIG_JSON)
        except (ValueError, OSError):  # not under the configs folder (LayoutError is a ValueError)
            return None
        key = _key(path, record)
        if not key or _known(key)[0]:
            return None
        sig = result.deps.get(os.path.abspath(path))
        if sig is None or sig[0] != key[2]:
            return None  # the file changed since it was read: the tracker compares it afresh
        answer, launch = _compare_live(record, result)
        if answer is _UNSURE:
            if launch is not None:
                if len(_LAUNCH) > 1024:
                    _LAUNCH.clear()
                _LAUNCH[key] = launch  # the full comparison (the tracker's) need not read and parse it again
            return None
        _remember(key, answer)
        return key, answer

    def adopt(self, note: tuple[tuple[Any, ...], list[str] | None]) -> None:
        """An answer made in a forked reader, remembered here."""
        key, answer = note
        if not _known(key)[0]:
            _remember(key, answer)


_UNSURE: Any = object()
# Launch records parsed by the facts batch's check for configs it left to the full comparison.
_LAUNCH: dict[tuple[Any, ...], dict[str, Any]] = STATE.table("progress_tracking.config_changed.launch")


def _compare_live(record: str, result: Any) -> tuple[Any, dict[str, Any] | None]:
    """(``_compare``'s answer from an evaluation at hand, or _UNSURE where only the full evaluation can
    tell; the launch record's plain values, for the full comparison)."""
    text = read_launch_text(record)
    if text is None:
        return None, None
    launch = launch_value(text)
    if launch is SKIP or not isinstance(launch, dict):
        return None, None
    if result.elided and any(cell[0] for cell in result.uses):
        return _UNSURE, launch  # an elided list was an operand: what it gave may differ from a full read
    try:
        answer = live_differences(launch, result.namespace["config"], result.elided, trusted=result.elided and not result.unwatched)
    except Exception:  # Unsure; or forcing a deferred block raised (bounded, it should not): the full path tells
        return _UNSURE, launch
    if result.elided and (result.tainted or any(cell[0] for cell in result.uses)):
        return _UNSURE, launch  # a container changed in a way not known, or a deferred block used an elided list
    return answer, launch


_LOADERS: dict[tuple[str, str], tuple[float, Any]] = STATE.table("progress_tracking.config_changed.loaders")
LOADER_TTL = 5.0  # seconds one loader (and the modules it evaluated) serves: one scan's worth


def _loader(root: str, configs_dir: str) -> Any:
    """A module loader shared for a few seconds: a scan's configs import the same modules, evaluated once."""
    import time

    from runwatch.configs.loader import ModuleLoader

    key = (root, configs_dir)
    hit = _LOADERS.get(key)
    now = time.monotonic()
    if hit is None or now - hit[0] > LOADER_TTL:
        if len(_LOADERS) > 8:
            _LOADERS.clear()
        loader = ModuleLoader(root, configs_dir)
        # Every value is compared, so every block is evaluated: one parse of the whole file costs
        # less than the facts reader's split into lazily parsed blocks (~1 ms of ~3 ms a config).
        loader.lazy = False
        hit = _LOADERS[key] = (now, loader)
    return hit[1]


def _compare(config_path: str, record: str, root: str, configs_dir: str, launch: Any = None) -> list[str] | None:
    if launch is None:
        text = read_launch_text(record)  # a regular file in the project, at most 4 MiB
        if text is None:
            return None
        launch = launch_value(text)
    if launch is SKIP or not isinstance(launch, dict):
        return None  # a list config's stages each write their own: not compared here
    try:
        result = _loader(root, configs_dir).evaluate_config(config_path)
    except Exception:  # the static reader is bounded and should not raise; if it does, no claim
        return None
    loader = _LOADERS.get((root, configs_dir))
    if loader is not None:
        # Only the modules configs import stay shared: this config's own reading (its parsed blocks)
        # is dropped, and a config checked again is read again.
        loader[1]._configs.pop(os.path.abspath(config_path), None)
        loader[1]._blocks.clear()
    if result.error or "config" not in result.namespace:
        return None
    today = today_value(result.namespace["config"])
    if not isinstance(today, dict):
        return None
    return differences(launch, today)


def changed_warning(config_path: str, work_dir: str, root: str, configs_dir: str) -> str | None:
    """The run's warning when its config file changed since launch, naming what changed."""
    return warning_of(config_changes(config_path, work_dir, root, configs_dir), work_dir)


def warning_of(diffs: list[str] | None, work_dir: str) -> str | None:
    """``changed_warning`` from the differences ``config_changes`` gave."""
    if not diffs:
        return None
    shown = "; ".join(diffs[:MAX_SHOWN]) + (f"; and {len(diffs) - MAX_SHOWN} more" if len(diffs) > MAX_SHOWN else "")
    return f"{os.path.join(work_dir, CONFIG_JSON)}: the config changed since launch ({shown}): progress is counted against the config file as it is now"

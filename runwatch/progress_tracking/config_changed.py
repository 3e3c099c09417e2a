"""Has a run's config file changed since launch? The whole config, against the ``config.json`` the run wrote.

Pylon writes the config as it was at launch into the work dir (a Python repr). When the
config file is newer than that record, the config file is evaluated statically (never
run) and both sides are compared key by key: every value both sides know (numbers,
strings, lists, nested dicts, class names), keys added or removed. Values either side
cannot tell (a call, a function, anything the static reader leaves unknown) are not
compared, so the check never claims a change it cannot see. Trainers and evaluators alike.

The answer is memoized by the two files' stats; the evaluation happens only when the config
file is newer than ``config.json``.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.progress_tracking.compact import HashSet
from runwatch.readers.launch_config import CONFIG_JSON, SKIP, launch_value, read_launch_text
from runwatch.state import STATE

MAX_SHOWN = 5


def today_value(value: Any, depth: int = 0) -> Any:
    """A statically evaluated config value as plain values (classes as ("class", name)); SKIP for the unknown."""
    from runwatch.configs.values import ExecClass, Lazy, LocalClass, ModuleRef, Ref

    if depth > 50:
        return SKIP
    if type(value) is Lazy:
        value = value.force()
    if isinstance(value, dict):
        return {k: today_value(v, depth + 1) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list | tuple):
        return [today_value(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Ref | ModuleRef):
        return ("class", value.dotted.rsplit(".", 1)[-1])
    if isinstance(value, LocalClass | ExecClass):
        return ("class", value.name)
    return SKIP


def _show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "class":
        return str(v[1])
    text = repr(v)
    return text if len(text) <= 60 else text[:59] + "\u2026"


def differences(launch: Any, today: Any, path: str = "") -> list[str]:
    """What differs between the config at launch and today, key path by key path."""
    if launch is SKIP or today is SKIP:
        return []
    where = path or "config"
    if isinstance(launch, dict) and isinstance(today, dict):
        out: list[str] = []
        # Keys on one side only count where the record looks whole (it holds at least half of
        # today's keys): a partial record (another writer's) is compared on the keys it has.
        whole = 2 * len(launch) >= len(today)
        for k in launch:
            sub = f"{path}.{k}" if path else k
            if k in today:
                out.extend(differences(launch[k], today[k], sub))
            elif whole:
                out.append(f"{sub} removed")
        if whole:
            out.extend(f"{path}.{k} added" if path else f"{k} added" for k in today if k not in launch)
        return out
    if isinstance(launch, list) and isinstance(today, list):
        if len(launch) != len(today):
            return [f"{where}: {len(launch)} items at launch, {len(today)} now"]
        out = []
        for i, (a, b) in enumerate(zip(launch, today, strict=True)):
            out.extend(differences(a, b, f"{where}[{i}]"))
        return out
    if isinstance(launch, dict | list) or isinstance(today, dict | list):
        return [f"{where} changed"]
    if type(launch) is bool or type(today) is bool:
        same = type(launch) is type(today) and launch == today
    else:
        same = launch == today
    return [] if same else [f"{where} {_show(launch)} at launch, {_show(today)} now"]


_MEMO: dict[tuple[Any, ...], list[str] | None] = STATE.table("progress_tracking.config_changed.memo")
_NONE: list[str] = []
_CLEAN: HashSet = STATE.table("progress_tracking.config_changed.clean", HashSet)


def config_changes(config_path: str, work_dir: str, root: str, configs_dir: str) -> list[str] | None:
    """The differences between the run's config.json and its config file today; None when either cannot be read."""
    record = os.path.join(work_dir, CONFIG_JSON)
    try:
        cst, rst = os.stat(config_path), os.stat(record)
    except OSError:
        return None
    if cst.st_mtime <= rst.st_mtime:
        return []  # not modified since launch
    key = (config_path, cst.st_mtime_ns, rst.st_mtime_ns)  # one config, one work dir: its record
    if key in _MEMO:
        return _MEMO[key]
    h = hash(key)
    if h in _CLEAN:
        return _NONE
    result = _compare(config_path, record, root, configs_dir)
    if result is not None and not result:
        # Most runs' configs did not change: a hash of the question is all that is kept of them.
        if len(_CLEAN) > 100_000:
            _CLEAN.clear()
        _CLEAN.add(h)
        return _NONE
    if len(_MEMO) > 4096:
        _MEMO.clear()
    _MEMO[key] = result
    return result


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


def _compare(config_path: str, record: str, root: str, configs_dir: str) -> list[str] | None:
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
    diffs = config_changes(config_path, work_dir, root, configs_dir)
    if not diffs:
        return None
    shown = "; ".join(diffs[:MAX_SHOWN]) + (f"; and {len(diffs) - MAX_SHOWN} more" if len(diffs) > MAX_SHOWN else "")
    return f"{os.path.join(work_dir, CONFIG_JSON)}: the config changed since launch ({shown}): progress is counted against the config file as it is now"

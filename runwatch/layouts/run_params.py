"""Two layout-level questions a comparison asks of a run: its hyperparameters and its per-step curves.

Every layout answers ``hyperparameters(project, run)`` (flat ``{"optimizer.args.lr": 0.01}``:
nested keys dotted, values plain scalars or short strings) and ``step_series(project, run)``
(``{metric: [(step, value), ...]}``; empty where a layout has no steps). A layout without
its own answer gets the defaults here (none), through ``hyperparameters_of`` /
``step_series_of``. Implemented for Pylon here (its config, evaluated statically, never
run), and in their own modules for Hugging Face (``training_args``; ``trainer_state.json``'s
log history) and Lightning (``hparams.yaml`` and LightningCLI's ``config.yaml``;
``metrics.csv`` or the event files), with ``flatten_params``.
"""

from __future__ import annotations

import math
import os
from typing import Any

from runwatch.state import STATE

# Keys that name where a run writes: they differ between every two runs and say nothing.
PATH_KEYS = frozenset(("work_dir", "output_dir", "logging_dir", "save_dir", "default_root_dir", "dirpath"))
MAX_PARAMS = 2000
MAX_DEPTH = 12
MAX_TEXT = 200
MAX_LIST = 16


def hyperparameters_of(layout: Any, project: Any, run: str) -> dict[str, Any]:
    """The layout's answer, or none (the default) for a layout that does not say."""
    hook = getattr(layout, "hyperparameters", None)
    if hook is None:
        return {}
    try:
        return dict(hook(project, run) or {})
    except Exception:  # a config the reader cannot evaluate: no parameters, never a failed comparison
        return {}


def step_series_of(layout: Any, project: Any, run: str) -> dict[str, list[tuple[float, float]]]:
    hook = getattr(layout, "step_series", None)
    if hook is None:
        return {}
    try:
        return dict(hook(project, run) or {})
    except Exception:
        return {}


def _scalar(v: Any) -> Any:
    """A plain value for a table cell, or ``_SKIP``."""
    if v is None or isinstance(v, bool | int | str):
        return v[:MAX_TEXT] if isinstance(v, str) else v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    from runwatch.configs.values import Call, Opaque, Unknown, dotted_name

    if isinstance(v, Unknown):
        return _SKIP
    name = dotted_name(v)
    if name is not None:
        return name[:MAX_TEXT]
    if isinstance(v, Call):
        f = dotted_name(v.func)
        return f"{f or '?'}(...)"[:MAX_TEXT]
    if isinstance(v, Opaque):
        return v.description[:MAX_TEXT]
    return _SKIP


_SKIP = object()


def flatten_params(value: Any, prefix: str = "", out: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": "[1, 2]"}`` (bounded: depth, count, text)."""
    if out is None:
        out = {}
    if len(out) >= MAX_PARAMS or depth > MAX_DEPTH:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            if key in PATH_KEYS or key.startswith("_"):
                continue
            flatten_params(v, f"{prefix}{key}." if not _leaf(v) else f"{prefix}{key}", out, depth + 1)
        return out
    if isinstance(value, list | tuple):
        name = prefix.rstrip(".")
        plain = [_scalar(x) for x in value]
        if len(value) <= MAX_LIST and all(p is not _SKIP and not isinstance(x, dict | list | tuple) for p, x in zip(plain, value)):
            out[name] = ("[" + ", ".join(repr(p) if isinstance(p, str) else str(p) for p in plain) + "]")[:MAX_TEXT]
            return out
        for i, x in enumerate(value[:MAX_LIST]):
            flatten_params(x, f"{name}[{i}]" + ("." if not _leaf(x) else ""), out, depth + 1)
        return out
    s = _scalar(value)
    if s is not _SKIP:
        out[prefix.rstrip(".")] = s
    return out


def _leaf(v: Any) -> bool:
    return not isinstance(v, dict | list | tuple)


# ---------------------------------------------------------------- Pylon


_PYLON: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = STATE.table("layouts.run_params.pylon")


def pylon_hyperparameters(project: Any, config: str) -> dict[str, Any]:
    """The config's ``config`` dict evaluated statically (never run), flattened; reused while no file it read changed."""
    from runwatch.configs.loader import ModuleLoader, StatCache
    from runwatch.configs.values import force_deep

    path = config if os.path.isabs(config) else os.path.join(project.root, config)
    memo_key = (project.root, path)
    hit = _PYLON.get(memo_key)
    stats = StatCache()
    if hit is not None and all(stats.sig(p) == sig for p, sig in hit[0].items()):
        return hit[1]
    loader = ModuleLoader(project.root, project.settings.configs_dir, stats)
    result = loader.evaluate_config(path)
    cfg = result.namespace.get("config") if result.error is None else None
    params = flatten_params(force_deep(cfg)) if cfg is not None else {}
    if isinstance(cfg, list | tuple):  # a multi-stage config: stage by stage
        params = {k if not k.startswith("[") else "stage" + k: v for k, v in params.items()}
    if len(_PYLON) > 20_000:
        _PYLON.clear()
    _PYLON[memo_key] = (dict(result.deps), params)
    return params


def num(v: Any) -> bool:
    """A finite number (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

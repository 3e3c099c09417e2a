"""Two layout-level questions a comparison asks of a run: its hyperparameters and its per-step curves.

Every layout answers ``hyperparameters(project, run)`` (flat ``{"optimizer.args.lr": 0.01}``:
nested keys dotted, values plain scalars or short strings) and ``step_series(project, run)``
(``{metric: [(step, value), ...]}``; empty where a layout has no steps). A layout without
its own answer gets the defaults here (none), through ``hyperparameters_of`` /
``step_series_of``. Implemented for Pylon (its config, evaluated statically, never run),
Hugging Face (``training_args``; ``trainer_state.json``'s log history) and Lightning
(``hparams.yaml`` and LightningCLI's ``config.yaml``; ``metrics.csv`` or the event files).
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


# ---------------------------------------------------------------- Hugging Face


def hf_hyperparameters(work_dir: str) -> dict[str, Any]:
    from runwatch.layouts.huggingface import training_args

    args, _ = training_args(work_dir)
    return flatten_params(args) if args else {}


def hf_step_series(work_dir: str) -> dict[str, list[tuple[float, float]]]:
    """Every number of ``trainer_state.json``'s log history by its step (the newest saved state)."""
    from runwatch.layouts.common import listing
    from runwatch.layouts.huggingface import STATE as STATE_FILE
    from runwatch.layouts.huggingface import checkpoints
    from runwatch.readers.jsonfile import read_json_tolerant

    names = listing(work_dir)[1]
    paths = [os.path.join(work_dir, STATE_FILE)] if STATE_FILE in names else []
    cks = checkpoints(names)
    if cks:
        paths.append(os.path.join(work_dir, cks[-1][1], STATE_FILE))
    best: dict[str, Any] | None = None
    for p in paths:
        s, problem = read_json_tolerant(p)
        if problem is None and isinstance(s, dict) and (best is None or (s.get("global_step") or 0) > (best.get("global_step") or 0)):
            best = s
    history = best.get("log_history") if best else None
    out: dict[str, list[tuple[float, float]]] = {}
    for e in history if isinstance(history, list) else []:
        if not isinstance(e, dict) or not _num(e.get("step")):
            continue
        step = float(e["step"])
        for k, v in e.items():
            if k not in ("step", "epoch") and _num(v) and not k.endswith(("_runtime", "_per_second", "total_flos")):
                out.setdefault(k, []).append((step, float(v)))
    return out


# ---------------------------------------------------------------- Lightning


def lightning_hyperparameters(work_dir: str) -> dict[str, Any]:
    """``hparams.yaml`` (the module's ``save_hyperparameters``) and LightningCLI's ``config.yaml`` (dotted)."""
    from runwatch.layouts.lightning import _yaml

    out: dict[str, Any] = {}
    data, problem = _yaml(os.path.join(work_dir, "config.yaml"))
    if problem is None and isinstance(data, dict):
        flatten_params(data, "", out)
    data, problem = _yaml(os.path.join(work_dir, "hparams.yaml"))
    if problem is None and isinstance(data, dict):
        for k, v in flatten_params(data).items():
            out.setdefault(k, v)
    return out


def lightning_step_series(work_dir: str) -> dict[str, list[tuple[float, float]]]:
    """Every logged number by its step: ``metrics.csv``'s rows, else the event files' scalars."""
    from runwatch.layouts.common import event_files, listing, read_events
    from runwatch.readers.csvmetrics import CsvTail

    names = listing(work_dir)[1]
    out: dict[str, list[tuple[float, float]]] = {}
    if "metrics.csv" in names:
        for r in CsvTail(os.path.join(work_dir, "metrics.csv")).read():
            step = r.get("step")
            if not _num(step):
                continue
            for k, v in r.items():
                if k not in ("step", "epoch") and _num(v):
                    out.setdefault(k, []).append((float(step), float(v)))
        return out
    for s in read_events(event_files(work_dir, names), []):
        if s.tag != "epoch":
            out.setdefault(s.tag, []).append((float(s.step), float(s.value)))
    return out


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

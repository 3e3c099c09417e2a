"""Metric names of a comparison: sub-metrics of list-valued scores and every metric's direction.

A list-valued aggregated score such as ``class_IoU: [0.9, 0.5]`` is the metrics
``class_IoU[0]`` and ``class_IoU[1]``; nested scores (multi-task) are dotted paths
(``depth.l1``). A metric's direction (+1 higher is better, -1 lower is better) is the
run's own (from its config or its files), else the name's usual one, else unknown (None).
"""

from __future__ import annotations

import math
import re
from typing import Any

from runwatch.readers.scores import direction_of

_SUB = re.compile(r"^(.*)\[(\d+)\]$")


def flatten_metrics(scores: Any, prefix: str = "", out: dict[str, float] | None = None) -> dict[str, float]:
    """``{"loss": 0.3, "class_IoU[0]": 0.9, "depth.l1": 0.2}``: every number of a scores dict by its metric name.

    Lists of numbers become sub-metrics; booleans, strings and deeper lists are left out.
    Non-finite numbers are kept (a NaN score is shown as missing, never as 0).
    """
    if out is None:
        out = {}
    if isinstance(scores, dict):
        for k, v in scores.items():
            name = f"{prefix}{k}"
            if isinstance(v, bool):
                continue
            if isinstance(v, int | float):
                out[name] = float(v)
            elif isinstance(v, dict):
                flatten_metrics(v, name + ".", out)
            elif isinstance(v, list | tuple):
                for i, x in enumerate(v):
                    if isinstance(x, int | float) and not isinstance(x, bool):
                        out[f"{name}[{i}]"] = float(x)
    return out


def base_metric(name: str) -> str:
    """``class_IoU[1]`` -> ``class_IoU``; other names unchanged."""
    m = _SUB.match(name)
    return m.group(1) if m else name


def metric_direction(name: str, directions: dict[str, Any] | None) -> int | None:
    """+1 / -1 / None: the run's direction for the metric (a sub-metric has its list's), else the name's usual one."""
    base = base_metric(name)
    d = direction_of(base, directions) if directions else None
    if d is None and directions and "." not in base:
        d = directions.get(base) if directions.get(base) in (1, -1) else None
    if d is not None:
        return d
    from runwatch.configs.heuristics import heuristic_direction

    return heuristic_direction(base.rsplit(".", 1)[-1])


def finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def better(a: float, b: float, direction: int | None) -> bool:
    """Whether ``a`` is strictly better than ``b`` (an unknown direction counts as higher-is-better)."""
    return a < b if direction == -1 else a > b

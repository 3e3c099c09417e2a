"""The documents of a comparison, defined once for the CLI (``runwatch compare --json``), REST and the page.

Each function takes ``CompareRun`` values (``runwatch.compare.runs``) and returns a plain
JSON-ready dict (non-finite numbers are None). What is wrong with the data (a missing
``per_datapoint``, counts that differ, NaN scores) is in the document's ``warnings``,
each naming its file; a document is never empty for want of one run's data.

* ``metrics_doc``: every metric of the runs (sub-metrics of list scores included) and its direction;
* ``curves_doc``: one metric per epoch (or per step) of every run, best points, repetition groups;
* ``hparams_doc``: the hyperparameters that differ among the runs, with each run's best and latest score;
* ``score_map_doc``: one run's per-datapoint scores of one epoch and metric, on a square grid;
* ``failure_map_doc``: per datapoint, the share of runs in which it did not fail (percentile rule);
* ``datapoint_doc``: one datapoint's scores in every run and epoch;
* ``hardest_doc``: the datapoints worst across the runs.
"""

from __future__ import annotations

import math
import warnings as _pywarnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from runwatch.compare.cache import DatapointCache
from runwatch.compare.datapoints import DatapointTable, grid_side
from runwatch.compare.metrics import better, finite, metric_direction
from runwatch.compare.runs import CompareRun
from runwatch.view_model import natural_key

LOG_SCALE_RATIO = 50.0
MAX_HARDEST = 1000


class CompareError(ValueError):
    """A request that cannot be answered (no such metric, no runs); the message says why."""


def _f(v: Any) -> float | None:
    return float(v) if finite(v) else None


def _run_head(r: CompareRun) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "group": r.group, "status": r.status, "runner_type": r.runner_type}


def direction_for(runs: Sequence[CompareRun], metric: str) -> int | None:
    """The metric's direction as the runs' own directions say (the first run that knows), else its name's usual one."""
    for r in runs:
        if r.directions:
            d = metric_direction(metric, r.directions)
            if d is not None:
                return d
    return metric_direction(metric, None)


def default_metric(runs: Sequence[CompareRun]) -> str | None:
    """The metric shown when none is asked for: the one most runs have, a directed one first."""
    counts: dict[str, int] = {}
    for r in runs:
        for k in r.metric_names():
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return None
    order = list(counts)
    return max(order, key=lambda k: (counts[k], direction_for(runs, k) is not None and "[" not in k, -order.index(k)))


# ---------------------------------------------------------------- metrics


def metrics_doc(runs: Sequence[CompareRun], *, steps: bool = True) -> dict[str, Any]:
    """Every metric of the runs, per epoch and (where a layout has steps) per step."""
    epoch_counts: dict[str, int] = {}
    step_counts: dict[str, int] = {}
    for r in runs:
        for k in r.metric_names():
            epoch_counts[k] = epoch_counts.get(k, 0) + 1
        if steps:
            for k in r.step_series():
                step_counts[k] = step_counts.get(k, 0) + 1

    def rows(counts: dict[str, int]) -> list[dict[str, Any]]:
        return [{"name": k, "direction": direction_for(runs, k), "runs": n} for k, n in counts.items()]

    return {"runs": [_run_head(r) for r in runs], "default": default_metric(runs), "epoch_metrics": rows(epoch_counts), "step_metrics": rows(step_counts)}


# ---------------------------------------------------------------- curves


def _best_point(points: list[tuple[float, float]], direction: int | None) -> tuple[float, float] | None:
    best: tuple[float, float] | None = None
    if direction is None:
        return None
    for x, y in points:
        if finite(y) and (best is None or better(y, best[1], direction)):
            best = (x, y)
    return best


def curves_doc(runs: Sequence[CompareRun], metric: str | None = None, x: str = "epoch") -> dict[str, Any]:
    """``metric`` of every run against epochs (``x="epoch"``) or steps (``x="step"``), best points and repetition groups.

    A repetition group (runs named ``<name>_run_<k>``, two or more) is also drawn as its mean
    with the min-max band, per x where at least one of its runs has a value.
    """
    if x not in ("epoch", "step"):
        raise CompareError(f"x must be epoch or step, got {x!r}")
    metric = metric or default_metric(runs)
    direction = direction_for(runs, metric) if metric else None
    out_runs: list[dict[str, Any]] = []
    warnings: list[str] = []
    values: list[float] = []
    by_group: dict[str, list[tuple[str, list[tuple[float, float]]]]] = {}
    for r in runs:
        if metric is None:
            pts: list[tuple[float, float]] = []
        elif x == "epoch":
            pts = [(float(e), s[metric]) for e, s in r.epochs if metric in s]
        else:
            pts = list(r.step_series().get(metric, []))
        clean = [(px, py) for px, py in pts if finite(py)]
        if len(clean) < len(pts):
            warnings.append(f"{r.name}: {len(pts) - len(clean)} non-finite values of {metric} (left out of the curve)")
        values.extend(py for _, py in clean)
        best = _best_point(clean, direction)
        out_runs.append({**_run_head(r), "points": [[px, py] for px, py in clean], "best": list(best) if best else None})
        if r.group is not None and clean:
            by_group.setdefault(r.group, []).append((r.id, clean))
    groups = []
    for name, members in sorted(by_group.items(), key=lambda kv: natural_key(kv[0])):
        if len(members) < 2:
            continue
        at: dict[float, list[float]] = {}
        for _, pts in members:
            for px, py in pts:
                at.setdefault(px, []).append(py)
        groups.append(
            {
                "name": name,
                "runs": [i for i, _ in members],
                "points": [[px, sum(v) / len(v), min(v), max(v), len(v)] for px, v in sorted(at.items())],
            }
        )
    positive = [v for v in values if v > 0]
    log_scale = bool(values) and len(positive) == len(values) and max(values) / min(values) >= LOG_SCALE_RATIO
    return {
        "metric": metric,
        "x": x,
        "direction": direction,
        "log_scale": log_scale,
        "runs": out_runs,
        "groups": groups,
        "warnings": warnings,
    }


# ---------------------------------------------------------------- hyperparameters


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _best_latest(r: CompareRun, metric: str | None, direction: int | None) -> tuple[float | None, float | None, int | None]:
    if metric is None:
        return None, None, None
    pts = [(e, s[metric]) for e, s in r.epochs if metric in s and finite(s[metric])]
    if not pts:
        return None, None, None
    latest = pts[-1][1]
    if direction is None:
        return None, latest, None
    be, bv = pts[0]
    for e, v in pts[1:]:
        if better(v, bv, direction):
            be, bv = e, v
    return bv, latest, be


def hparams_doc(runs: Sequence[CompareRun], metric: str | None = None, sort: str | None = None, *, all_keys: bool = False) -> dict[str, Any]:
    """The hyperparameters whose values differ among the runs (``all_keys``: every one), with each run's best and
    latest ``metric``. ``sort``: a parameter key, ``best``, ``latest`` or ``name`` (``-`` first: descending);
    ``best``/``latest`` put the better first whatever the metric's direction; a missing value sorts last."""
    metric = metric or default_metric(runs)
    direction = direction_for(runs, metric) if metric else None
    params = [r.hyperparameters() for r in runs]
    keys: dict[str, None] = {}
    for p in params:
        keys.update(dict.fromkeys(p))
    differing, constant = [], {}
    missing = object()
    for k in keys:
        vals = [p.get(k, missing) for p in params]
        if all(_same(v, vals[0]) for v in vals[1:]) and vals[0] is not missing:
            constant[k] = vals[0]
        else:
            differing.append(k)
    if not all_keys:
        # Keys whose values differ among the runs that have them first (the learning rate before a key
        # only one run has), then the keys most runs have, in their first run's order.
        order = {k: i for i, k in enumerate(differing)}

        def rank(k: str) -> tuple[int, int, int]:
            present = [p[k] for p in params if k in p]
            distinct = len({repr(v) for v in present})
            return (0 if distinct > 1 else 1, -len(present), order[k])

        differing.sort(key=rank)
    shown = list(keys) if all_keys else differing
    rows = []
    for r, p in zip(runs, params):
        best, latest, best_epoch = _best_latest(r, metric, direction)
        rows.append({**_run_head(r), "params": {k: p[k] for k in shown if k in p}, "best": best, "latest": latest, "best_epoch": best_epoch})
    if sort:
        rows = sort_rows(rows, sort, direction)
    return {"metric": metric, "direction": direction, "keys": shown, "constant": constant if not all_keys else {}, "rows": rows, "sort": sort}


def sort_rows(rows: list[dict[str, Any]], sort: str, direction: int | None) -> list[dict[str, Any]]:
    desc = sort.startswith("-")
    key = sort.lstrip("-")

    def value(row: dict[str, Any]) -> Any:
        if key in ("best", "latest"):
            v = row.get(key)
            return None if v is None else (-v if (direction or 1) > 0 else v)
        if key == "name":
            return natural_key(row["name"])
        v = row["params"].get(key)
        if v is None:
            return None
        return (0, v, "") if isinstance(v, int | float) and not isinstance(v, bool) else (1, 0, str(v))

    present = [r for r in rows if value(r) is not None]
    absent = [r for r in rows if value(r) is None]
    present.sort(key=lambda r: (value(r), natural_key(r["name"])), reverse=desc)
    return present + absent


# ---------------------------------------------------------------- datapoints


def _pick_epoch(r: CompareRun, epoch: int | str | None) -> tuple[int, str] | None:
    """(epoch, scores file) of a run: ``None``/``"latest"`` its newest, ``"best"`` its best, a number that epoch."""
    files = r.scores_files()
    if not files:
        return None
    if epoch is None or epoch == "latest":
        return files[-1]
    if epoch == "best":
        e = r.best_epoch if r.best_epoch is not None else files[-1][0]
        return next((f for f in files if f[0] == e), files[-1])
    return next((f for f in files if f[0] == int(epoch)), None)


def _table(cache: DatapointCache, r: CompareRun, epoch: int | str | None, warnings: list[str], metric: str | None = None) -> tuple[int, DatapointTable] | None:
    picked = _pick_epoch(r, epoch)
    if picked is None:
        if not r.scores_files():
            warnings.append(f"{r.name}: no per-datapoint scores (only Pylon's scores files have them)")
        else:
            warnings.append(f"{r.name}: no scores file for epoch {epoch}")
        return None
    e, path = picked
    problem = r.outside(path)
    if problem is not None:
        warnings.append(problem)
        return None
    table = cache.get(path, metric)
    for w in table.warnings:
        if w not in warnings:
            warnings.append(w)
    return e, table


def _values(col: np.ndarray) -> list[float | None]:
    out: list[float | None] = col.tolist()
    if np.isnan(col).any() or np.isinf(col).any():
        out = [v if math.isfinite(v) else None for v in out]  # type: ignore[arg-type]
    return out


def _column(table: DatapointTable, metric: str | None) -> tuple[str | None, np.ndarray | None]:
    if metric is None:
        metric = next(iter(table.columns), None)
    return metric, table.columns.get(metric) if metric is not None else None


def score_map_doc(cache: DatapointCache, run: CompareRun, metric: str | None = None, epoch: int | str | None = None) -> dict[str, Any]:
    """One run's per-datapoint scores of one epoch and metric, laid out row by row on a ``side`` x ``side`` grid
    (``side = ceil(sqrt(n))``, the last cells empty); colours go red-yellow-green from the worst to the best value."""
    warnings: list[str] = []
    got = _table(cache, run, epoch, warnings, metric)  # with a metric: only its list decoded the first time
    head = {"run": _run_head(run), "epochs": [e for e, _ in run.scores_files()], "warnings": warnings}
    if got is None:
        return {**head, "epoch": None, "metric": metric, "metrics": [], "n": 0, "side": 0, "values": [], "min": None, "max": None, "direction": None}
    e, table = got
    metric, col = _column(table, metric)
    if col is None:
        if metric is not None and table.columns:
            warnings.append(f"{table.path}: no per-datapoint '{metric}' (it has {', '.join(list(table.columns)[:8])})")
        col = np.empty(0)
    finite_vals = col[np.isfinite(col)]
    return {
        **head,
        "epoch": e,
        "file": table.path,
        "metric": metric,
        "metrics": table.metric_names,
        "direction": direction_for([run], metric) if metric else None,
        "n": len(col),
        "side": grid_side(len(col)),
        "min": _f(finite_vals.min()) if finite_vals.size else None,
        "max": _f(finite_vals.max()) if finite_vals.size else None,
        "values": _values(col),
    }


def _matrix(
    cache: DatapointCache, runs: Sequence[CompareRun], metric: str | None, epoch: int | str | None, warnings: list[str]
) -> tuple[str | None, list[tuple[CompareRun, int]], np.ndarray]:
    """Rows: the runs' columns of ``metric`` at their epoch, all of the most common length (others left out, warned)."""
    got: list[tuple[CompareRun, int, str, np.ndarray]] = []
    for r in runs:
        t = _table(cache, r, epoch, warnings, metric)
        if t is None:
            continue
        e, table = t
        m, col = _column(table, metric)
        metric = metric or m
        if col is None:
            if table.columns or table.bases:
                warnings.append(f"{table.path}: no per-datapoint '{metric}'")
            continue
        got.append((r, e, table.path, col))
    if not got:
        return metric, [], np.empty((0, 0))
    lengths = [len(c) for *_, c in got]
    n = max(set(lengths), key=lambda x: (lengths.count(x), x))
    kept = []
    for r, e, path, col in got:
        if len(col) != n:
            warnings.append(f"{path}: {len(col)} datapoints, the other runs {n}; left out of the comparison")
        else:
            kept.append((r, e, col))
    return metric, [(r, e) for r, e, _ in kept], np.vstack([c for *_, c in kept]) if kept else np.empty((0, n))


def failure_mask(matrix: np.ndarray, percentile: float, direction: int | None) -> tuple[np.ndarray, float | None]:
    """(fails, threshold): a score fails when it is worse than the ``percentile`` of all the scores,
    "worse" by the direction (higher is better: below the percentile; lower is better: above the
    ``100 - percentile`` one). A missing (NaN) score fails."""
    pooled = matrix[np.isfinite(matrix)]
    if pooled.size == 0:
        return np.ones(matrix.shape, dtype=bool), None
    with np.errstate(invalid="ignore"):
        if direction == -1:
            threshold = float(np.percentile(pooled, 100.0 - percentile))
            fails = ~(matrix <= threshold)
        else:
            threshold = float(np.percentile(pooled, percentile))
            fails = ~(matrix >= threshold)
    return fails, threshold


def failure_map_doc(
    cache: DatapointCache, runs: Sequence[CompareRun], metric: str | None = None, percentile: float = 25.0, epoch: int | str | None = None
) -> dict[str, Any]:
    """Per datapoint, the share of the runs in which it did not fail (``failure_mask``), on the score map's grid."""
    if not 0.0 <= percentile <= 100.0:
        raise CompareError(f"percentile must be between 0 and 100, got {percentile}")
    warnings: list[str] = []
    metric, used, matrix = _matrix(cache, runs, metric or default_metric(runs), epoch, warnings)
    direction = direction_for(runs, metric) if metric else None
    if direction is None and metric is not None:
        warnings.append(f"{metric}: direction unknown; higher is taken as better")
    n = matrix.shape[1] if matrix.ndim == 2 and used else 0
    if not used:
        share: list[float | None] = []
        threshold = None
        fails_per_run: list[int] = []
    else:
        fails, threshold = failure_mask(matrix, percentile, direction)
        share = (1.0 - fails.mean(axis=0)).tolist()
        fails_per_run = fails.sum(axis=1).astype(int).tolist()
    return {
        "metric": metric,
        "direction": direction,
        "percentile": percentile,
        "threshold": threshold,
        "n": n,
        "side": grid_side(n),
        "runs": [{**_run_head(r), "epoch": e, "failed": k} for (r, e), k in zip(used, fails_per_run)],
        "values": share,
        "warnings": warnings,
    }


def hardest_doc(
    cache: DatapointCache,
    runs: Sequence[CompareRun],
    metric: str | None = None,
    count: int = 20,
    percentile: float = 25.0,
    epoch: int | str | None = None,
) -> dict[str, Any]:
    """The ``count`` datapoints with the worst mean score over the runs (by the metric's direction),
    with their spread and in how many runs they failed (``failure_mask``)."""
    count = max(0, min(int(count), MAX_HARDEST))
    warnings: list[str] = []
    metric, used, matrix = _matrix(cache, runs, metric or default_metric(runs), epoch, warnings)
    direction = direction_for(runs, metric) if metric else None
    items: list[dict[str, Any]] = []
    if used and matrix.size:
        fails, _ = failure_mask(matrix, percentile, direction)
        with np.errstate(invalid="ignore"), _pywarnings.catch_warnings():
            _pywarnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN datapoint: its mean is NaN
            mean = np.nanmean(matrix, axis=0)
            lo, hi = np.nanmin(matrix, axis=0), np.nanmax(matrix, axis=0)
        key = np.where(np.isnan(mean), -np.inf, mean if direction == -1 else -mean)  # worst first; all-NaN datapoints first
        order = np.lexsort((np.arange(len(key)), -key))[:count]
        nfail = fails.sum(axis=0)
        for i in order.tolist():
            items.append({"index": i, "mean": _f(mean[i]), "min": _f(lo[i]), "max": _f(hi[i]), "failed_in": int(nfail[i])})
    return {
        "metric": metric,
        "direction": direction,
        "percentile": percentile,
        "runs": [{**_run_head(r), "epoch": e} for r, e in used],
        "n": matrix.shape[1] if used else 0,
        "items": items,
        "warnings": warnings,
    }


def datapoint_doc(cache: DatapointCache, runs: Sequence[CompareRun], index: int, metric: str | None = None) -> dict[str, Any]:
    """One datapoint's scores in every run and epoch (``metric``: that one, else every metric of the file)."""
    if index < 0:
        raise CompareError(f"datapoint index must be 0 or more, got {index}")
    warnings: list[str] = []
    out_runs = []
    for r in runs:
        files = r.scores_files()
        if not files:
            warnings.append(f"{r.name}: no per-datapoint scores (only Pylon's scores files have them)")
        epochs = []
        for e, path in files:
            problem = r.outside(path)
            if problem is not None:
                warnings.append(problem)
                continue
            table = cache.get(path, metric)
            for w in table.warnings:
                if w not in warnings:
                    warnings.append(w)
            cols = {metric: table.columns[metric]} if metric is not None and metric in table.columns else ({} if metric else table.columns)
            scores = {k: (_f(c[index]) if index < len(c) else None) for k, c in cols.items()}
            if any(index >= len(c) for c in cols.values()):
                warnings.append(f"{path}: no datapoint {index} (it has {table.n})")
            epochs.append({"epoch": e, "scores": scores})
        out_runs.append({**_run_head(r), "epochs": epochs})
    return {"index": index, "metric": metric, "runs": out_runs, "warnings": warnings}

"""``runwatch compare RUN...``: the runs side by side in the terminal, or as JSON documents.

``--json`` prints the documents of ``runwatch.compare.views`` (the same as the server's
``/api/compare/...`` endpoints give) under one object; the table shows the curves as
sparklines, the hyperparameters that differ with the best and latest scores, the
common failures and the hardest datapoints. Every string from disk is made safe for the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from runwatch.compare.cache import cache_for
from runwatch.compare.runs import CompareRun, compare_run
from runwatch.compare.views import curves_doc, datapoint_doc, default_metric, failure_map_doc, hardest_doc, hparams_doc, metrics_doc, score_map_doc
from runwatch.terminal_text import terminal_safe

WHAT = ("metrics", "curves", "hparams", "failures", "hardest", "map", "datapoint")
DEFAULT_WHAT = ("metrics", "curves", "hparams", "failures", "hardest")


def parse_epoch(value: str | None) -> int | str | None:
    if value is None or value in ("latest", "best"):
        return value
    try:
        e = int(value)
    except ValueError:
        raise ValueError(f"--epoch must be a number, latest or best, got {value!r}") from None
    if e < 0:
        raise ValueError(f"--epoch must be 0 or more, got {e}")
    return e


def scan_runs(project: Any, targets: Sequence[str], monitor: Any) -> list[CompareRun]:
    """The runs the arguments name, scanned once, as CompareRuns (in the order of their names)."""
    from runwatch.cli_scan import Scanner
    from runwatch.view_model import natural_key

    scanner = Scanner(project, list(targets), monitor, None, None)
    result = scanner.scan(configs=scanner.configs())
    runs = [compare_run(project, r.status, r.facts) for r in result.rows]
    runs.sort(key=lambda r: natural_key(r.name))
    return runs


def documents(
    project: Any,
    runs: list[CompareRun],
    what: Sequence[str] = DEFAULT_WHAT,
    metric: str | None = None,
    x: str = "epoch",
    epoch: int | str | None = None,
    percentile: float = 25.0,
    hardest: int = 10,
    datapoint: int | None = None,
    sort: str | None = None,
) -> dict[str, Any]:
    """The documents asked for, each as its REST endpoint gives it."""
    cache = cache_for(project)
    metric = metric or default_metric(runs)
    out: dict[str, Any] = {}
    if "metrics" in what:
        out["metrics"] = metrics_doc(runs)
    if "curves" in what:
        out["curves"] = curves_doc(runs, metric, x)
    if "hparams" in what:
        out["hparams"] = hparams_doc(runs, metric, sort)
    has_datapoints = any(r.scores_files() for r in runs)
    if "failures" in what and has_datapoints:
        out["failures"] = failure_map_doc(cache, runs, metric, percentile, epoch)
    if "hardest" in what and has_datapoints:
        out["hardest"] = hardest_doc(cache, runs, metric, hardest, percentile, epoch)
    if "map" in what:
        out["maps"] = [score_map_doc(cache, r, metric, epoch) for r in runs]
    if datapoint is not None:
        out["datapoint"] = datapoint_doc(cache, runs, datapoint, metric)
    return out


# ---------------------------------------------------------------- the terminal


def _num(v: Any) -> str:
    from runwatch.render import fmt_score

    return fmt_score(v) if isinstance(v, int | float) and not isinstance(v, bool) else ""


def _cell(v: Any, width: int = 24) -> str:
    if v is None:
        return ""
    text = format(v, ".6g") if isinstance(v, float) else str(v)  # a hyperparameter as written: 0.01, 1e-09
    text = terminal_safe(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _arrow(direction: int | None) -> str:
    return " ↑" if direction == 1 else " ↓" if direction == -1 else ""


def render(docs: dict[str, Any], width: int, color: bool = True) -> Any:
    """The documents as rich renderables, fitted to ``width`` columns (``color``: maps in colour, else in shades)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from runwatch.render import sparkline

    parts: list[Any] = []
    curves = docs.get("curves")
    if curves:
        metric = terminal_safe(curves["metric"] or "-")
        t = Table(title=f"{metric}{_arrow(curves['direction'])} per {curves['x']}", title_justify="left", box=None, pad_edge=False, expand=False)
        t.add_column("run", overflow="fold", max_width=max(16, width // 3))
        t.add_column("n", justify="right")
        t.add_column("best", justify="right")
        t.add_column("last", justify="right")
        t.add_column("curve", no_wrap=True, overflow="crop", max_width=max(8, width - width // 3 - 30))
        for r in curves["runs"]:
            ys = [p[1] for p in r["points"]]
            spark_w = max(8, width - width // 3 - 30)
            if len(ys) > spark_w:  # every k-th point: the shape, within the width
                step = math.ceil(len(ys) / spark_w)
                ys = ys[::step]
            best = r["best"][1] if r["best"] else None
            t.add_row(Text(terminal_safe(r["name"])), str(len(r["points"])), _num(best), _num(r["points"][-1][1] if r["points"] else None), sparkline(ys))
        for g in curves["groups"]:
            ys = [p[1] for p in g["points"]]
            t.add_row(
                Text(terminal_safe(g["name"]) + f" (mean of {len(g['runs'])})", style="bold"), str(len(ys)), "", _num(ys[-1] if ys else None), sparkline(ys)
            )
        parts.append(t)
    hp = docs.get("hparams")
    if hp:
        keys = hp["keys"]
        t = Table(title="hyperparameters that differ", title_justify="left", box=None, pad_edge=False)
        t.add_column("run", overflow="fold", max_width=max(16, width // 4))
        room = max(0, (width - 16 - 22) // 14)
        shown = keys[:room]
        for k in shown:
            t.add_column(
                terminal_safe(k.rsplit(".", 2)[-2] + "." + k.rsplit(".", 1)[-1] if k.count(".") >= 2 else k), no_wrap=True, overflow="ellipsis", max_width=14
            )
        t.add_column("best" + _arrow(hp["direction"]), justify="right")
        t.add_column("latest", justify="right")
        for row in hp["rows"]:
            t.add_row(Text(terminal_safe(row["name"])), *[Text(_cell(row["params"].get(k), 14)) for k in shown], _num(row["best"]), _num(row["latest"]))
        parts.append(t)
        if len(keys) > len(shown):
            parts.append(Text(f"  {len(keys) - len(shown)} more differing keys: " + terminal_safe(", ".join(keys[len(shown) :])), overflow="fold"))
        if not keys:
            parts.append(Text("  (no hyperparameter differs among these runs, or none is known)"))
    fm = docs.get("failures")
    if fm and fm["n"]:
        always = sum(1 for v in fm["values"] if v == 0.0)
        parts.append(
            Text(
                f"common failures ({terminal_safe(fm['metric'])}{_arrow(fm['direction'])}, {fm['percentile']:g}th percentile = {_num(fm['threshold'])}): "
                f"{always} of {fm['n']} datapoints fail in every one of {len(fm['runs'])} runs",
                overflow="fold",
            )
        )
    hd = docs.get("hardest")
    if hd and hd["items"]:
        t = Table(title=f"hardest datapoints ({terminal_safe(hd['metric'])})", title_justify="left", box=None, pad_edge=False)
        for c in ("index", "mean", "min", "max", "failed in"):
            t.add_column(c, justify="right")
        for it in hd["items"]:
            t.add_row(str(it["index"]), _num(it["mean"]), _num(it["min"]), _num(it["max"]), f"{it['failed_in']}/{len(hd['runs'])}")
        parts.append(t)
    dp = docs.get("datapoint")
    if dp:
        t = Table(title=f"datapoint {dp['index']}", title_justify="left", box=None, pad_edge=False)
        t.add_column("run", overflow="fold")
        t.add_column("epoch", justify="right")
        t.add_column("scores", overflow="fold")
        for r in dp["runs"]:
            for e in r["epochs"]:
                t.add_row(Text(terminal_safe(r["name"])), str(e["epoch"]), Text(terminal_safe(", ".join(f"{k}={_num(v)}" for k, v in e["scores"].items()))))
        parts.append(t)
    for m in docs.get("maps", []):
        parts.extend(map_lines(m, width, color))
    warnings: list[str] = []
    for d in docs.values():
        for w in d.get("warnings", []) if isinstance(d, dict) else []:
            if w not in warnings:
                warnings.append(w)
    for m in docs.get("maps", []):
        warnings.extend(w for w in m["warnings"] if w not in warnings)
    for w in warnings[:20]:
        parts.append(Text("⚠ " + terminal_safe(w), style="yellow", overflow="fold"))
    if len(warnings) > 20:
        parts.append(Text(f"⚠ {len(warnings) - 20} more warnings (--json has them all)", style="yellow"))
    return Group(*parts)


_STOPS = ((215, 48, 39), (254, 224, 139), (26, 152, 80))
_SHADES = " ░▒▓█"


def _ryg(t: float) -> str:
    t = min(1.0, max(0.0, t))
    a, b, f = (_STOPS[0], _STOPS[1], t * 2) if t < 0.5 else (_STOPS[1], _STOPS[2], (t - 0.5) * 2)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * f) for i in range(3))
    return f"rgb({r},{g},{bl})"


def map_lines(doc: dict[str, Any], width: int, color: bool = True) -> list[Any]:
    """A score map in the terminal: the grid shrunk to the width (each character the mean of its block),
    two grid rows per line in colour (upper half block), or shades without colour (worst light, best dark)."""
    from rich.text import Text

    n, side = doc["n"], doc["side"]
    head = Text(
        f"score map: {terminal_safe(doc['run']['name'])}, epoch {doc['epoch']}, {terminal_safe(doc['metric'] or '-')}{_arrow(doc['direction'])}, "
        f"{n} datapoints on {side}x{side}\n  worst {_num(doc['max'] if doc['direction'] == -1 else doc['min'])} "
        f"({'red' if color else 'light'}) to best {_num(doc['min'] if doc['direction'] == -1 else doc['max'])} ({'green' if color else 'dark'})"
        if n
        else f"score map: {terminal_safe(doc['run']['name'])}: no per-datapoint scores",
        overflow="fold",
    )
    if not n or doc["min"] is None:
        return [head]
    k = max(1, math.ceil(side / max(8, min(width - 2, 120))))
    cols = math.ceil(side / k)
    lo, hi = doc["min"], doc["max"]
    span = (hi - lo) or 1.0
    flip = doc["direction"] == -1
    values = doc["values"]

    def cell(r: int, c: int) -> float | None:
        vals = [
            values[i]
            for y in range(r * k, min(side, (r + 1) * k))
            for x in range(c * k, min(side, (c + 1) * k))
            if (i := y * side + x) < n and values[i] is not None
        ]
        if not vals:
            return None
        t = (sum(vals) / len(vals) - lo) / span
        return 1.0 - t if flip else t

    rows = math.ceil(side / k)
    out: list[Any] = [head]
    if not color:
        for r in range(rows):
            out.append(Text("".join(" " if (t := cell(r, c)) is None else _SHADES[min(4, int((1.0 - t) * 4.999))] for c in range(cols))))
        return out
    for r in range(0, rows, 2):
        line = Text()
        for c in range(cols):
            top, bottom = cell(r, c), cell(r + 1, c) if r + 1 < rows else None
            style = (_ryg(top) if top is not None else "grey23") + " on " + (_ryg(bottom) if bottom is not None else "default")
            line.append("▀", style=style)
        out.append(line)
    return out

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


def render(docs: dict[str, Any], width: int) -> Any:
    """The documents as rich renderables, fitted to ``width`` columns."""
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

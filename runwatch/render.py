"""Terminal rendering of run status with rich: the status table, summary line and run detail.

Only the CLI's table paths import this module (rich costs tens of milliseconds to
import), so ``runwatch status --json`` never pays for it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from runwatch.cli_scan import Row, ScanResult, summarize
from runwatch.readers.scores import main_score

STATUS_STYLE: dict[str, str] = {
    "running": "bold cyan",
    "finished": "bold green",
    "stuck": "bold magenta",
    "failed": "bold red",
    "outdated": "dim",
    "queued": "yellow",
}
SPARK = "▁▂▃▄▅▆▇█"
BAR_WIDTH = 10


def ago(t: float | None, now: float | None = None) -> str:
    """``3 min ago``: how long since ``t``, in the unit a person would use."""
    if t is None:
        return "never"
    d = max(0.0, (time.time() if now is None else now) - t)
    if d < 60:
        return f"{int(d)} s ago"
    if d < 3600:
        return f"{d // 60:.0f} min ago"
    if d < 86400:
        return f"{d // 3600:.0f} h ago"
    return f"{d // 86400:.0f} d ago"


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s" if s < 600 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def fmt_score(v: float | None) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4f}"


def bar(done: int, total: int | None, pct: float, style: str) -> Text:
    frac = max(0.0, min(1.0, pct / 100.0)) if math.isfinite(pct) else 0.0
    full = round(frac * BAR_WIDTH)
    t = Text()
    t.append("█" * full, style=style)
    t.append("░" * (BAR_WIDTH - full), style="dim")
    t.append(f" {done}/{total if total is not None else '?'}")
    return t


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled between the series' min and max (gaps as spaces)."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return ""
    lo, hi = min(known), max(known)
    span = hi - lo
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(SPARK[len(SPARK) // 2])
        else:
            out.append(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))])
    return "".join(out)


def main_scores(row: Row) -> tuple[str | None, float | None, float | None]:
    """(metric key, best, latest) of the run's main score, keyed by the config's directions."""
    p = row.status.progress
    best = main_score(p.best_score, row.directions)
    key = best[0] if best else None
    latest_v: float | None = None
    if p.latest_score:
        if key is not None:
            from runwatch.readers.scores import flatten_scalars

            latest_v = flatten_scalars(p.latest_score).get(key)
        if latest_v is None:
            lm = main_score(p.latest_score, row.directions)
            if lm:
                key = key or lm[0]
                latest_v = lm[1]
    return key, (best[1] if best else None), latest_v


def status_table(rows: Sequence[Row], now: float | None = None) -> Table:
    now = time.time() if now is None else now
    t = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    longest = max((len(r.status.run or r.status.config) for r in rows), default=12)
    for name, kw in (
        ("run", {"no_wrap": True, "min_width": min(max(12, longest), 48)}),
        ("kind", {}),
        ("status", {}),
        ("progress", {"no_wrap": True}),
        ("early stop", {"justify": "right"}),
        ("metric", {}),
        ("best", {"justify": "right"}),
        ("latest", {"justify": "right"}),
        ("updated", {"justify": "right", "no_wrap": True}),
        ("ETA", {"justify": "right", "no_wrap": True}),
        ("process", {}),
        ("!", {}),
    ):
        t.add_column(name, **kw)
    for r in rows:
        s, p = r.status, r.status.progress
        style = STATUS_STYLE.get(s.status, "")
        key, best, latest = main_scores(r)
        es = f"@{p.early_stopped_at_epoch}" if p.early_stopped else ""
        warn = Text()
        if p.error_message:
            warn.append("✗", style="red")
        if p.warnings:
            warn.append(f"⚠{len(p.warnings)}", style="yellow")
        kind = {"multi_stage": "multi"}.get(p.runner_type, p.runner_type)
        if p.runner_type == "multi_stage" and p.current_stage is not None and p.stages:
            kind += f" {p.current_stage + 1}/{len(p.stages)}"
        t.add_row(
            s.run or s.config,
            kind,
            Text(s.status, style=style),
            bar(p.completed_epochs, p.total_epochs, 100.0 if s.status in ("finished", "outdated") else p.progress_percentage, style or "white"),
            es,
            key or "",
            fmt_score(best),
            fmt_score(latest),
            ago(r.last_update, now),
            duration(s.eta_seconds),
            s.process_info.location if s.process_info is not None else "",
            warn,
        )
    return t


def summary_line(rows: Sequence[Row]) -> Text:
    s = summarize(list(rows))
    t = Text()
    t.append(f"{s['total']} runs", style="bold")
    for status, n in s["by_status"].items():
        if n:
            t.append(" · ")
            t.append(f"{n} {status}", style=STATUS_STYLE.get(status, ""))
    t.append(f" · overall {s['progress_percentage']:.1f}%")
    if s["total_epochs"]:
        t.append(f" ({s['completed_epochs']}/{s['total_epochs']} epochs)")
    if s["with_warnings"]:
        t.append(f" · {s['with_warnings']} with warnings", style="yellow")
    return t


def status_view(rows: Sequence[Row], result: ScanResult, title: str | None = None) -> RenderableType:
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold"))
    parts.append(status_table(rows, result.checked_at) if rows else Text("no runs match", style="dim"))
    parts.append(summary_line(rows))
    for src, err in sorted(result.process_errors.items()):
        parts.append(Text(f"⚠ process source {src}: {err}", style="yellow"))
    return Group(*parts)


# ---------------------------------------------------------------- show RUN


def run_detail(row: Row, project_root: str, log_lines: int = 20) -> RenderableType:
    from runwatch.progress_tracking.early_stopping import replay
    from runwatch.readers.logs import tail_lines
    from runwatch.readers.scores import flatten_scalars

    s, p, f = row.status, row.status.progress, row.facts
    style = STATUS_STYLE.get(s.status, "")
    parts: list[RenderableType] = []
    head = Text()
    head.append(s.run or s.config, style="bold")
    head.append("  ")
    head.append(s.status, style=style)
    head.append(f"  {p.runner_type}")
    parts.append(head)

    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    info.add_row("config", os.path.relpath(s.config, project_root) if os.path.isabs(s.config) else s.config)
    info.add_row("work dir", os.path.relpath(s.work_dir, project_root) if s.work_dir else "")
    if f is not None:
        for i, st in enumerate(f.stages):
            prefix = f"stage {i + 1} " if len(f.stages) > 1 else ""
            info.add_row(f"{prefix}runner", f"{st.runner.dotted if st.runner else '?'} ({st.runner_kind or '?'})")
            if st.epochs is not None:
                info.add_row(f"{prefix}epochs", str(st.epochs))
            if st.metric is not None:
                src = f" from {st.directions_source}" if st.directions_source else ""
                info.add_row(f"{prefix}metric", f"{st.metric.dotted}  directions {st.directions}{src}")
            if st.early_stopping_enabled:
                info.add_row(f"{prefix}early stopping", f"patience {st.early_stopping_patience}")
    info.add_row("progress", bar(p.completed_epochs, p.total_epochs, 100.0 if s.status in ("finished", "outdated") else p.progress_percentage, style or "white"))
    if p.early_stopped:
        info.add_row("early stopped", f"at epoch {p.early_stopped_at_epoch}{EARLY_STOP_SOURCES.get(p.early_stop_source or '', '')}")
    if p.in_progress:
        ip = p.in_progress
        at = f"epoch {ip['epoch']} " if ip.get("epoch") is not None else ""
        info.add_row("now", f"{ip['phase']} {at}iteration {int(ip['iteration']) + 1}/{ip['iterations']}")
    if p.stages:
        info.add_row("stages", ",  ".join(
            f"{st.index + 1}: {st.completed_epochs}/{st.total_epochs if st.total_epochs is not None else '?'}"
            + (" (current)" if p.current_stage == st.index else "")
            for st in p.stages
        ))
    if p.sessions and p.sessions > 1:
        info.add_row("sessions", f"{p.sessions} (resumed {p.sessions - 1}x)")
    key, best, latest = main_scores(row)
    if key:
        be = f" (epoch {p.best_epoch})" if p.best_epoch is not None else ""
        info.add_row("main score", f"{key}: best {fmt_score(best)}{be}, latest {fmt_score(latest)}")
    info.add_row("last update", ago(row.last_update))
    if s.eta_seconds is not None:
        info.add_row("ETA", duration(s.eta_seconds))
    if s.process_info is not None:
        pi = s.process_info
        gpus = f" GPUs {','.join(map(str, pi.gpu_indices))}" if pi.gpu_indices else ""
        info.add_row("process", f"{pi.location} {pi.user}{gpus}  {pi.cmd}")
    parts.append(info)

    epochs = s.details.epochs if s.details is not None else []
    if epochs:
        series = [flatten_scalars(e.scores) if e.scores else {} for e in epochs]
        keys: list[str] = []
        if key:
            keys.append(key)
        for d in series:
            for k in d:
                if k not in keys and len(keys) < 6:
                    keys.append(k)
        patience = f.early_stopping_patience if f is not None and not f.is_multi_stage else None
        trace = replay([e.scores for e in epochs], row.directions, patience)
        et = Table(title="epochs", title_justify="left", box=None, header_style="bold")
        et.add_column("epoch", justify="right")
        et.add_column("done")
        et.add_column("finished at")
        et.add_column("duration", justify="right")
        for k in keys:
            et.add_column(k, justify="right")
        et.add_column("no-improve", justify="right")
        for e, d, c in zip(epochs, series, trace.counters or [None] * len(epochs), strict=False):
            mark = "★" if trace.best_index == e.index else ""
            et.add_row(
                str(e.index),
                "✓" if e.finished else "…",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.finish_time)) if e.finish_time else "",
                duration(e.duration),
                *[fmt_score(d.get(k)) for k in keys],
                f"{c}{'/' + str(patience) if patience else ''} {mark}".strip() if c is not None else "",
            )
        parts.append(et)
        if key:
            vals = [d.get(key) for e, d in zip(epochs, series, strict=False) if e.finished]
            known = [v for v in vals if v is not None]
            if known:
                parts.append(Text(f"{key}  {sparkline(vals)}  ({fmt_score(known[0])} → {fmt_score(known[-1])})"))
        if patience:
            if trace.stop_at is not None:
                msg = (
                    f"early stopping: patience {patience}; no improvement after epoch {trace.best_index}: the rule fires after "
                    f"{trace.stop_at} epochs, and a trainer stops after that epoch or the next ({trace.stop_at} or {trace.stop_at + 1} epochs)"
                )
            else:
                last = trace.counters[-1] if trace.counters else 0
                msg = f"early stopping: patience {patience}; {last} epoch(s) without improvement so far (best epoch {trace.best_index})"
            parts.append(Text(msg))
        elif f is not None and not f.is_multi_stage:
            parts.append(Text("early stopping: not enabled", style="dim"))
    if p.error_message:
        parts.append(Text(f"error: {p.error_message}", style="bold red"))
    for w in p.warnings or []:
        parts.append(Text(f"⚠ {w}", style="yellow"))
    newest = s.details.newest_log if s.details is not None else None
    if newest:
        path = newest if os.path.isabs(newest) else os.path.join(s.work_dir, newest)
        lines = tail_lines(path, log_lines)
        parts.append(Text(f"── {os.path.relpath(path, project_root)} (last {len(lines)} lines) ──", style="bold"))
        parts.append(Text("\n".join(lines)))
    return Group(*parts)


EARLY_STOP_SOURCES = {
    "trainer": " (the trainer's own progress.json says so)",
    "log": " (the trainer's log says so: 'Training stopped early')",
    "replay": " (runwatch replayed the rule over the scores; the trainer recorded nothing)",
}


def detail_dict(row: Row) -> dict[str, Any]:
    """``show --json``: the run record plus per-epoch details and config facts."""
    d = row.status.to_dict()
    d["details"] = row.status.details.to_dict() if row.status.details is not None else None
    f = row.facts
    d["facts"] = None if f is None else {
        "runner_kind": f.runner_kind,
        "epochs": f.epochs,
        "early_stopping_patience": f.early_stopping_patience,
        "is_multi_stage": f.is_multi_stage,
        "stages": [
            {
                "runner": st.runner.dotted if st.runner else None,
                "runner_kind": st.runner_kind,
                "epochs": st.epochs,
                "metric": st.metric.dotted if st.metric else None,
                "directions": st.directions,
                "directions_source": st.directions_source,
                "early_stopping_patience": st.early_stopping_patience if st.early_stopping_enabled else None,
            }
            for st in f.stages
        ],
        "error": f.error,
        "warnings": list(f.warnings),
    }
    return d

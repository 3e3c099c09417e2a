"""Terminal rendering of run status with rich: the status table, summary line and run detail.

Only the CLI's table paths import this module (rich costs tens of milliseconds to
import), so ``runwatch status --json`` never pays for it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from runwatch.cli_scan import Row, ScanResult, summarize
from runwatch.terminal_text import terminal_safe
from runwatch.view_model import NOT_STARTED, STATUS_LABELS
from runwatch.view_model import reason_label as reason_label

STATUS_STYLE: dict[str, str] = {
    "running": "bold cyan",
    "finished": "bold green",
    "stuck": "bold magenta",
    "failed": "bold red",
    "outdated": "dim",
    "queued": "yellow",
    "unknown": "bold blue",
}
# A failed run that never started is not a broken one: its own colour, never the red of a crash.
NOT_STARTED_STYLE = "yellow"
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
    """(metric key, best, latest) of the run's main score: the record's ``main_score`` (runwatch.view_model)."""
    ms = row.record.get("main_score")
    if not ms:
        return None, None, None
    best, latest = ms.get("best"), ms.get("latest")
    return ms["key"], best if isinstance(best, float | int) else None, latest if isinstance(latest, float | int) else None


# ---------------------------------------------------------------- the status table

# Columns in display order: (key for --columns, header, justify).
COLUMNS: tuple[tuple[str, str, JustifyMethod], ...] = (
    ("run", "run", "left"),
    ("kind", "kind", "left"),
    ("status", "status", "left"),
    ("reason", "reason", "left"),  # not a column of its own: "failed (crashed)" in the status cell
    ("progress", "progress", "left"),
    ("stop", "early stop", "right"),
    ("metric", "metric", "left"),
    ("best", "best", "right"),
    ("latest", "latest", "right"),
    ("updated", "updated", "right"),
    ("eta", "ETA", "right"),
    ("process", "process", "left"),
    ("flags", "!", "left"),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c[0] for c in COLUMNS)
# Never dropped for width (the run name is shortened instead; the status word is never cut).
REQUIRED_COLUMNS = ("run", "status", "progress")
# Steps taken, in order, while the table is wider than the terminal: the least
# important columns go first; ("bar", n) shortens the progress bar to n cells.
# The early-stop column goes early: the progress text says "ES" itself. The metric's name
# and its best value go together ("score"): a number without its name says nothing.
FIT_STEPS: tuple[tuple[str, int], ...] = (
    ("run_cap", 48),
    ("process", 0),
    ("kind", 0),
    ("stop", 0),
    ("latest", 0),
    ("eta", 0),
    ("bar", 5),
    ("bar", 0),
    ("updated", 0),
    ("score", 0),
    ("reason", 0),
    ("flags", 0),
)
COLUMN_GAP = 2  # rich's padding between two columns of a box-less table
MIN_RUN_WIDTH = 12
KIND_LABEL = {"trainer": "train", "evaluator": "eval", "multi_stage": "multi"}


def parse_columns(value: str | None) -> list[str] | None:
    """``--columns run,status,best`` -> validated keys in that order (None: choose by width)."""
    if value is None or not value.strip():
        return None
    keys = [k.strip().lower() for k in value.split(",") if k.strip()]
    aliases = {"early_stop": "stop", "early-stop": "stop", "!": "flags", "warnings": "flags", "name": "run"}
    keys = [aliases.get(k, k) for k in keys]
    bad = [k for k in keys if k not in COLUMN_KEYS]
    if bad:
        from runwatch.errors import UserError

        raise UserError(f"unknown column {bad[0]!r}; choose from {', '.join(COLUMN_KEYS)}")
    return list(dict.fromkeys(keys))


def field_of(row: Row, name: str) -> Any:
    """A record field that newer cores carry (``reason``, ``in_progress``...), or None."""
    s = row.status
    for obj in (s, s.progress):
        v = getattr(obj, name, None)
        if v is not None:
            return v
    return row.record.get(name)


def status_style(row: Row) -> str:
    """The status colour; a run that never started is not red."""
    if row.record.get("not_started"):
        return NOT_STARTED_STYLE
    return STATUS_STYLE.get(row.status.status, "")


def arrow(direction: object) -> str:
    return "↑" if isinstance(direction, int | float) and direction > 0 else "↓" if isinstance(direction, int | float) and direction < 0 else ""


def safe(text: object) -> Text:
    """File-derived text as a rich Text: escaped control characters, never markup."""
    return Text(terminal_safe("" if text is None else text))


def progress_text(row: Row) -> str:
    s, p = row.status, row.status.progress
    text = f"{p.completed_epochs}/{p.total_epochs if p.total_epochs is not None else '?'}"
    if p.early_stopped:
        text += " ES"
    ip = field_of(row, "in_progress")
    if isinstance(ip, dict) and s.status == "running":
        it, n = ip.get("iteration"), ip.get("iterations")
        share = min(100, round(100 * it / n)) if isinstance(it, int) and isinstance(n, int) and n > 0 else 0
        if share > 0:  # "+0%" says nothing: the epoch has just begun
            text += f" +{share}%"
    return text


def shorten_middle(text: str, width: int) -> str:
    """``trainers/gr…/run_12``: keep both ends of a name, where runs differ most."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    tail = (width - 1) * 3 // 5
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail :]


@dataclass
class TableLayout:
    keys: list[str]
    widths: dict[str, int]
    bar_width: int
    hidden: list[str]  # columns left out for width (not those the user did not ask for)
    headers: dict[str, str] = field(default_factory=dict)  # heads shortened for width (hyperparameters: their last part)


HP_PREFIX = "hp:"  # a hyperparameter column's key (``--hp``): "hp:optimizer.args.lr"
HP_MAX_WIDTH = 18


def hp_header(key: str) -> str:
    """A hyperparameter column's head: the key, or its last two parts when long (``args.lr``)."""
    return key if len(key) <= HP_MAX_WIDTH else ".".join(key.split(".")[-2:])[-HP_MAX_WIDTH:]


def _headers(cells: dict[str, list[Text]]) -> dict[str, str]:
    header = {k: h for k, h, _ in COLUMNS}
    header.update({k: hp_header(k[len(HP_PREFIX) :]) for k in cells if k.startswith(HP_PREFIX)})
    return header


def hp_cell(v: Any) -> Text:
    if v is None:
        return Text("")
    if isinstance(v, float):
        return Text(f"{v:.4g}")
    return safe(v)


def _cells(rows: Sequence[Row], now: float, hp: Sequence[str] = ()) -> dict[str, list[Text]]:
    """Every column's cell per row, as Text (progress without its bar: added by width)."""
    cols: dict[str, list[Text]] = {k: [] for k in COLUMN_KEYS}
    for k in hp:
        cols[HP_PREFIX + k] = [hp_cell((r.params or {}).get(k)) for r in rows]
    for r in rows:
        s, p = r.status, r.status.progress
        style = status_style(r)
        key, best, latest = main_scores(r)
        ms = r.record.get("main_score") or {}
        flags = Text()
        if (p.error_message or field_of(r, "error_line")) and not r.record.get("not_started"):  # not started is no error
            flags.append("✗", style="red")
        if p.warnings:
            flags.append(f"⚠{len(p.warnings)}", style="yellow")
        kind = KIND_LABEL.get(p.runner_type, p.runner_type)
        if p.runner_type == "multi_stage" and p.current_stage is not None and p.stages:
            kind += f" {p.current_stage + 1}/{len(p.stages)}"
        cols["run"].append(safe(s.run or s.config))
        cols["kind"].append(safe(kind))
        cols["status"].append(Text(STATUS_LABELS.get(s.status, s.status), style=style))
        cols["reason"].append(Text(terminal_safe(reason_label(field_of(r, "reason")))))
        cols["progress"].append(Text(progress_text(r)))
        cols["stop"].append(Text(f"@{p.early_stopped_at_epoch}" if p.early_stopped else ""))
        cols["metric"].append(Text(terminal_safe(key) + (" " + arrow(ms.get("direction")) if arrow(ms.get("direction")) else "")) if key else Text(""))
        cols["best"].append(Text(fmt_score(best)))
        cols["latest"].append(Text(fmt_score(latest)))
        cols["updated"].append(Text(ago(r.last_update, now)))
        cols["eta"].append(Text(duration(s.eta_seconds)))
        cols["process"].append(safe(s.process_info.location if s.process_info is not None else ""))
        cols["flags"].append(flags)
    return cols


def fit_columns(cells: dict[str, list[Text]], width: int, wanted: list[str] | None = None) -> TableLayout:
    """Which columns fit in ``width``: drop or shorten the least important first, never the status."""
    header = _headers(cells)
    hp_keys = [k for k in cells if k.startswith(HP_PREFIX)]
    natural = {k: max([len(header[k])] + [c.cell_len for c in cells[k]]) for k in list(COLUMN_KEYS) + hp_keys}
    for k in hp_keys:
        natural[k] = min(natural[k], max(HP_MAX_WIDTH, len(header[k])))
    with_reason = max(
        [len(header["status"])] + [st.cell_len + (len(why.plain) + 3 if why.plain else 0) for st, why in zip(cells["status"], cells["reason"], strict=True)]
    )
    if wanted is not None:
        keys = list(wanted) + hp_keys
    else:  # a column empty on every row says nothing; the hyperparameters asked for come after the scores
        keys = [k for k in COLUMN_KEYS if k in REQUIRED_COLUMNS or k == "kind" or any(c.plain for c in cells[k])]
        at = next((i for i, k in enumerate(keys) if k in ("updated", "eta", "process", "flags")), len(keys))
        keys[at:at] = hp_keys
    bar_width = BAR_WIDTH
    run_cap = 10**6
    text_w = max([c.cell_len for c in cells["progress"]], default=3)

    def widths() -> dict[str, int]:
        w = {k: natural[k] for k in keys if k != "reason" or "status" not in keys}
        if "reason" in keys and "status" in w:
            w["status"] = with_reason
        if "progress" in w:
            w["progress"] = max(len(header["progress"]), (bar_width + 1 if bar_width else 0) + text_w)
        if "run" in w:
            w["run"] = min(w["run"], run_cap)
        return w

    def total(w: dict[str, int]) -> int:
        return sum(w.values()) + COLUMN_GAP * max(0, len(w) - 1)

    hidden: list[str] = []
    w = widths()
    short: dict[str, str] = {}
    if hp_keys and total(w) > width:  # first: a hyperparameter column's head is its key's last part ("lr")
        for k in hp_keys:
            short[k] = k[len(HP_PREFIX) :].split(".")[-1][-HP_MAX_WIDTH:] or header[k]
            natural[k] = min(max([len(short[k])] + [c.cell_len for c in cells[k]]), max(HP_MAX_WIDTH, len(short[k])))
        w = widths()
    if wanted is None:
        for key, n in FIT_STEPS:
            if total(w) <= width:
                break
            if key == "bar":
                bar_width = min(bar_width, n)
            elif key == "run_cap":
                run_cap = n
            elif key == "score":
                for k in ("metric", "best"):
                    if k in keys:
                        keys.remove(k)
                        hidden.append(k)
            elif key in keys:
                keys.remove(key)
                hidden.append(key)
            w = widths()
    if "run" in w and total(w) > width:  # then: shorten the run names (both ends kept)
        w["run"] = max(MIN_RUN_WIDTH, w["run"] - (total(w) - width))
    while total(w) > width and any(k in keys for k in hp_keys):  # last: the hyperparameter columns that still do not fit
        k = [k for k in keys if k in hp_keys][-1]
        keys.remove(k)
        hidden.append(k)
        w = widths()
        if "run" in w and total(w) > width:
            w["run"] = max(MIN_RUN_WIDTH, w["run"] - (total(w) - width))
    return TableLayout(keys, w, bar_width, hidden, short)


def status_table(
    rows: Sequence[Row],
    now: float | None = None,
    width: int = 200,
    columns: list[str] | None = None,
    layout: TableLayout | None = None,
    cells: dict[str, list[Text]] | None = None,
) -> tuple[Table, TableLayout]:
    """The table of runs with the columns that fit in ``width`` (or the ``columns`` asked for)."""
    now = time.time() if now is None else now
    cells = _cells(rows, now) if cells is None else cells
    lay = layout or fit_columns(cells, width, columns)
    t = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    justify: dict[str, JustifyMethod] = {k: j for k, _, j in COLUMNS}
    justify.update({k: "right" for k in cells if k.startswith(HP_PREFIX)})
    header = {**_headers(cells), **lay.headers}
    shown = [k for k in lay.keys if k in lay.widths]
    for k in shown:
        t.add_column(
            header[k],
            justify=justify[k],
            no_wrap=True,
            overflow="ellipsis",
            width=lay.widths[k],
            min_width=lay.widths[k] if k == "status" else None,
        )
    for i, r in enumerate(rows):
        out: list[Text] = []
        for k in shown:
            if k == "reason":
                out.append(cells["reason"][i])
            elif k == "status" and "reason" in lay.keys and cells["reason"][i].plain:
                out.append(Text.assemble(cells["status"][i], Text(f" ({cells['reason'][i].plain})", style=cells["status"][i].style)))
            elif k == "progress":
                out.append(progress_cell(r, cells["progress"][i].plain, lay.bar_width))
            elif k == "run":
                name = cells["run"][i]
                out.append(Text(shorten_middle(name.plain, lay.widths["run"])) if name.cell_len > lay.widths["run"] else name)
            else:
                out.append(cells[k][i])
        t.add_row(*out)
    return t, lay


def progress_cell(row: Row, text: str | None = None, bar_width: int = BAR_WIDTH) -> Text:
    """``███░░ 7/19``: the bar (finished runs full, early stop included) and the epochs text."""
    style = status_style(row) or "white"
    pct = float(row.record.get("progress_shown") or 0.0)  # view_model.run_percentage: what every bar shows
    frac = max(0.0, min(1.0, pct / 100.0)) if math.isfinite(pct) else 0.0
    t = Text()
    if bar_width:
        full = round(frac * bar_width)
        t.append("█" * full, style=style)
        t.append("░" * (bar_width - full), style="dim")
        t.append(" ")
    t.append(progress_text(row) if text is None else text)
    return t


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(rows: Sequence[Row]) -> Text:
    s = summarize(list(rows))
    t = Text()
    t.append(plural(s["total"], "run"), style="bold")
    for status, n in s["by_status"].items():
        if n:
            t.append(" · ")
            never = s["not_started"] if status == "failed" else 0
            if never == n:  # every failed run never started: nothing broke
                t.append(f"{n} {status}", style=NOT_STARTED_STYLE)
            else:
                t.append(f"{n} {status}", style=STATUS_STYLE.get(status, ""))
            if never:
                t.append(" (")
                t.append(f"{never} {reason_label(NOT_STARTED)}", style=NOT_STARTED_STYLE)
                t.append(")")
    t.append(f" · overall {s['progress_percentage']:.1f}%")
    if s["total_epochs"]:
        t.append(f" · {s['completed_epochs']}/{s['total_epochs']} epochs")
    if s["with_warnings"]:
        t.append(f" · {s['with_warnings']} with warnings", style="yellow")
    return t


def legend(lay: TableLayout, cells: dict[str, list[Text]]) -> Text | None:
    """What the table's signs mean, for the signs it shows (the ``!`` header, ``+N%``, ``ES``, arrows)."""
    parts: list[str] = []
    progress = [c.plain for c in cells["progress"]] if "progress" in lay.keys else []
    if any(" +" in t for t in progress):
        parts.append("+N% = current epoch done")
    if any(t.endswith(" ES") or " ES " in t for t in progress):
        parts.append("ES = stopped early")
    if "flags" in lay.keys and any(c.plain for c in cells["flags"]):
        parts.append("! = ✗ error, ⚠N warnings")
    if "metric" in lay.keys and any(c.plain.endswith(("↑", "↓")) for c in cells["metric"]):
        parts.append("↑/↓ = higher/lower is better")
    return Text(" · ".join(parts), style="dim") if parts else None


def hidden_columns_note(lay: TableLayout, width: int) -> Text | None:
    if not lay.hidden:
        return None
    header = {k: h for k, h, _ in COLUMNS}
    names = ", ".join(k[len(HP_PREFIX) :] if k.startswith(HP_PREFIX) else header[k] if k != "flags" else "! (errors/warnings)" for k in lay.hidden)
    return Text(f"hidden at {width} columns: {names}; --columns picks columns", style="dim")


def status_view(
    rows: Sequence[Row],
    result: ScanResult,
    title: str | None = None,
    *,
    width: int = 200,
    height: int | None = None,
    columns: list[str] | None = None,
    banner: str | None = None,
    hp: Sequence[str] | None = None,
) -> RenderableType:
    """Table, summary and notes; with ``height`` the rows are cut to fit and the cut is counted.

    The summary line and the notes are never cut: only table rows are, and a line says
    how many (and of which statuses) are below.
    """
    head: list[Text] = []
    if banner:
        head.append(Text(terminal_safe(banner), style="bold white on red"))
    if title:
        head.append(Text(terminal_safe(title), style="bold"))
    tail: list[Text] = [summary_line(rows)]
    for src, err in sorted(result.process_errors.items()):
        tail.append(Text(terminal_safe(f"⚠ process source {src}: {err}"), style="yellow"))
    shown = list(rows)
    more: Text | None = None
    cells = _cells(rows, result.checked_at, hp or ())
    lay = fit_columns(cells, width, columns) if rows else None  # from every row: columns do not jump
    note = hidden_columns_note(lay, width) if lay is not None else None
    signs = legend(lay, cells) if lay is not None else None
    if signs is not None:
        tail.append(signs)
    if height is not None and rows:
        fixed = sum(_lines(x, width) for x in head + tail) + 1  # + the table header
        fixed += _lines(note, width) if note is not None else 0
        room = max(1, height - fixed - 1)  # one line is kept for the cursor
        if len(rows) > room:
            for keep in range(room - 1, 0, -1):
                rest = rows[keep:]
                counts: dict[str, int] = {}
                for r in rest:
                    counts[r.status.status] = counts.get(r.status.status, 0) + 1
                detail = ", ".join(f"{n} {st}" for st, n in counts.items())
                more = Text(f"… {plural(len(rest), 'more run')} below ({detail})", style="dim")
                if keep + _lines(more, width) <= room:
                    break
            shown = list(rows[:keep])
    parts: list[RenderableType] = list(head)
    if shown:
        parts.append(status_table(shown, result.checked_at, width, columns, layout=lay, cells={k: v[: len(shown)] for k, v in cells.items()})[0])
        if more is not None:
            parts.append(more)
    else:
        parts.append(Text("no runs match", style="dim"))
    parts.extend(tail)
    if note is not None:
        parts.append(note)
    return Group(*parts)


def _lines(renderable: Text, width: int) -> int:
    """Terminal lines a Text takes at ``width`` (rich wraps at word boundaries)."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=max(1, width))
    return len(console.render_lines(renderable, console.options, pad=False))


def print_trimmed(console: Any, renderable: RenderableType) -> None:
    """Print without the trailing spaces rich pads table cells with (a copied line stays clean)."""
    import re

    with console.capture() as cap:
        console.print(renderable)
    trail = re.compile(r"(?:\x1b\[[0-9;]*m| )+$")
    out = []
    for line in cap.get().split("\n"):
        m = trail.search(line)
        if m:
            line = line[: m.start()] + "".join(re.findall(r"\x1b\[[0-9;]*m", m.group()))
        out.append(line)
    console.file.write("\n".join(out))
    console.file.flush()


# ---------------------------------------------------------------- show RUN


def _where(path: str | None, project_root: str) -> str:
    """A path as a person reads it: relative to the project, absolute when that says nothing ("." or "..")."""
    if not path:
        return ""
    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, project_root)
    return path if rel == "." or rel.startswith("..") else rel


def run_detail(row: Row, project_root: str, log_lines: int = 20, project: Any = None) -> RenderableType:
    """``runwatch show``: every piece of file-derived text goes through ``safe`` (no markup, no escapes).

    What it shows comes from ``view_model.run_detail`` (the detail of ``/api/runs/{id}`` and
    ``show --json``: the epoch timeline, the early-stopping replay, the output and log tails)
    and the row's record. Epochs are counted from 1 here as on the page: "epoch 18" is the
    18th epoch (dir ``epoch_17/``), and "early stopped at epoch 18" means 18 epochs were trained.
    """
    from runwatch.readers.scores import flatten_scalars
    from runwatch.view_model import run_detail as detail_record

    s, p, f = row.status, row.status.progress, row.facts
    rec = row.record
    det = detail_record(s, f, log_lines=log_lines, project=project)["detail"]
    style = status_style(row)
    parts: list[RenderableType] = []
    head = Text()
    head.append(terminal_safe(s.run or s.config), style="bold")
    head.append("  ")
    head.append(STATUS_LABELS.get(s.status, s.status), style=style)
    reason = field_of(row, "reason")
    if reason:
        head.append(f" ({terminal_safe(reason_label(reason))})", style=style)
    head.append(f"  {p.runner_type}")
    parts.append(head)

    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()

    def add(label: str, value: object) -> None:
        info.add_row(Text(label), value if isinstance(value, Text) else safe(value))

    config, work_dir = _where(s.config, project_root), _where(s.work_dir, project_root)
    if s.work_dir and os.path.normpath(s.config) == os.path.normpath(s.work_dir):
        add("run folder", work_dir)  # a run that is its folder (Hugging Face, Lightning): no config apart
    else:
        add("config", config)
        add("work dir", work_dir)
    if f is not None:
        for i, st in enumerate(f.stages):
            prefix = f"stage {i + 1} " if len(f.stages) > 1 else ""
            add(f"{prefix}runner", f"{st.runner.dotted if st.runner else '?'} ({st.runner_kind or '?'})")
            if st.epochs is not None:
                done = ""
                if p.stages and i < len(p.stages):
                    done = f" ({p.stages[i].completed_epochs} done)"
                add(f"{prefix}epochs", f"{st.epochs}{done}")
            if st.metric is not None:
                src = f" from {st.directions_source}" if st.directions_source else ""
                add(f"{prefix}metric", f"{st.metric.dotted}  directions {st.directions}{src}")
            if st.early_stopping_enabled:
                add(f"{prefix}early stopping", f"patience {st.early_stopping_patience}")
    add("progress", progress_cell(row))
    if p.early_stopped:
        add("early stopped", f"at epoch {p.early_stopped_at_epoch}{EARLY_STOP_SOURCES.get(field_of(row, 'early_stop_source') or '', '')}")
    ip = rec.get("in_progress")  # None for a dead run (view_model.run_record)
    if isinstance(ip, dict) and ip.get("iterations") and isinstance(ip.get("iteration"), int):
        at = f"epoch {ip['epoch']} " if ip.get("epoch") is not None else ""
        add("now", f"{ip.get('phase') or 'running'} {at}iteration {int(ip['iteration']) + 1}/{ip['iterations']}")
    if p.stages:
        add(
            "stages",
            ",  ".join(
                f"{st.index + 1}: {st.completed_epochs}/{st.total_epochs if st.total_epochs is not None else '?'}"
                + (" (current)" if p.current_stage == st.index else "")
                for st in p.stages
            ),
        )
    key, best, latest = main_scores(row)
    if key:
        be = f" (epoch {p.best_epoch + 1})" if p.best_epoch is not None else ""
        ms = rec.get("main_score") or {}
        scores = ([f"best {fmt_score(best)}{be}"] if best is not None else []) + ([f"latest {fmt_score(latest)}"] if latest is not None else [])
        add("main score", f"{key}{' ' + arrow(ms.get('direction')) if arrow(ms.get('direction')) else ''}: {', '.join(scores)}")
    add("last update", ago(row.last_update))
    if s.eta_seconds is not None:
        add("ETA", duration(s.eta_seconds))
    sessions = field_of(row, "sessions")
    if isinstance(sessions, int) and sessions > 1:  # resumed: say how many launches
        add("sessions", f"{sessions} (resumed {sessions - 1}x)")
    if s.process_info is not None:
        pi = s.process_info
        gpus = f" GPUs {','.join(map(str, pi.gpu_indices))}" if pi.gpu_indices else ""
        add("process", f"{pi.location} {pi.user}{gpus}  {pi.cmd}")
    parts.append(info)

    timeline = det.get("timeline") or []
    stopping = det.get("early_stopping")
    if timeline:
        series = [flatten_scalars(e["scores"]) if e.get("scores") else {} for e in timeline]
        keys: list[str] = []
        if key:
            keys.append(key)
        for d in series:
            for k in d:
                if k not in keys and len(keys) < 6:
                    keys.append(k)
        patience = stopping["patience"] if stopping and stopping["enabled"] else None
        best_index = stopping["best_index"] if stopping else None
        et = Table(title="epochs", title_justify="left", box=None, header_style="bold")
        et.add_column("epoch", justify="right")
        et.add_column("done")
        et.add_column("finished at")
        et.add_column("duration", justify="right")
        for k in keys:
            et.add_column(safe(k), justify="right")
        et.add_column("no-improve", justify="right")
        for e, d in zip(timeline, series, strict=True):
            c = e.get("no_improvement")
            mark = "★" if best_index == e["index"] else ""
            et.add_row(
                str(e["index"] + 1),
                "✓" if e["finished"] else "…",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["finish_time"])) if isinstance(e.get("finish_time"), int | float) else "",
                duration(e["duration"] if isinstance(e.get("duration"), int | float) else None),
                *[fmt_score(v if isinstance(v := d.get(k), int | float) else None) for k in keys],
                f"{c}{'/' + str(patience) if patience else ''} {mark}".strip() if c is not None else "",
            )
        parts.append(et)
        if key:
            vals = [v if isinstance(v := d.get(key), int | float) else None for e, d in zip(timeline, series, strict=True) if e["finished"]]
            known = [v for v in vals if v is not None]
            if known:
                line = Text()
                line.append(terminal_safe(key))
                line.append(f"  {sparkline(vals)}  ({fmt_score(known[0])} → {fmt_score(known[-1])})")
                parts.append(line)
        if patience and stopping is not None:
            best_n = best_index + 1 if best_index is not None else None
            stop_at = stopping["stop_at"]
            if stop_at is not None:
                msg = (
                    f"early stopping: patience {patience}; no improvement after epoch {best_n}: the rule fires after "
                    f"{stop_at} epochs, and a trainer stops after that epoch or the next ({stop_at} or {stop_at + 1} epochs)"
                )
            else:
                counters = stopping["counters"]
                last = counters[-1] if counters else 0
                msg = f"early stopping: patience {patience}; {last} epoch(s) without improvement so far (best epoch {best_n})"
            parts.append(Text(msg))
        elif stopping is not None:
            parts.append(Text("early stopping: not enabled", style="dim"))
    why = rec.get("reason_text")
    if reason:
        parts.append(Text(terminal_safe(f"reason: {reason_label(reason)}" + (f" ({why})" if why else "")), style=style or "bold"))
    error = rec.get("error_text") or p.error_message or field_of(row, "error_line")
    if error:
        err_src = field_of(row, "error_source")
        parts.append(Text(f"error: {terminal_safe(error)}" + (f"  (from {terminal_safe(err_src)})" if err_src else ""), style="bold red"))
    for w in list(p.warnings or []) + [w for w in det.get("data_warnings") or [] if w not in (p.warnings or [])]:
        parts.append(Text(f"⚠ {terminal_safe(w)}", style="yellow"))
    log_tail = det.get("log_tail")
    output_tail = rec.get("output_tail") if rec.get("error_source") != "log" or not log_tail else None
    if isinstance(output_tail, list | tuple) and output_tail:
        parts.append(Text(f"── the run's own output (last {len(output_tail)} lines) ──", style="bold"))
        parts.append(Text(terminal_safe("\n".join(map(str, output_tail[-log_lines:])), multiline=True)))
    if log_tail:
        path = os.path.join(s.work_dir, log_tail["name"])
        lines = log_tail["lines"]
        parts.append(Text(terminal_safe(f"── {_where(path, project_root)} (last {len(lines)} lines) ──"), style="bold"))
        parts.append(Text(terminal_safe("\n".join(lines), multiline=True)))
    return Group(*parts)


EARLY_STOP_SOURCES = {
    "trainer": " (the trainer's own progress.json says so)",
    "log": " (the trainer's log says so: 'Training stopped early')",
    "replay": " (runwatch replayed the rule over the scores; the trainer recorded nothing)",
}

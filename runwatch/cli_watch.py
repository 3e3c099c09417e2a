"""The terminal's live views: a rich console sized for pipes, the first scan with a progress bar, and the
``--watch`` table (used by ``runwatch status --watch`` and ``runwatch demo --terminal``)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from runwatch.errors import UserError

PROGRESS_MIN_RUNS = 100


def make_console(stderr: bool = False) -> Any:
    """A rich console; piped output gets a wide fixed width so tables are not folded to 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=width)


def first_scan(scanner: Any, configs: list[str]) -> Any:
    """A scan, with a transient progress bar on stderr when a terminal waits on a large tree."""
    if len(configs) < PROGRESS_MIN_RUNS or not sys.stderr.isatty():
        return scanner.scan(configs=configs)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    # Refreshed from the scan's own callback, not by rich's refresh thread: a live thread
    # would keep a cold scan from fanning out over forked workers (see run_status.fanout).
    with Progress(
        TextColumn("scanning runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=make_console(stderr=True),
        transient=True,
        auto_refresh=False,
    ) as prog:
        task = prog.add_task("scan", total=len(configs))
        shown = [0.0]

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done)
            t = time.monotonic()
            if t - shown[0] >= 0.1 or done == total:
                shown[0] = t
                prog.refresh()

        return scanner.scan(on_progress=update, configs=configs)


def watch(
    scanner: Any, wanted: set[str], sort: str, interval: float, columns: list[str] | None = None, *, query: Any = None, hp: list[str] | None = None
) -> None:
    """Live table, redrawn in place, cut to the terminal's height; Ctrl-C ends it quietly."""
    from rich.live import Live

    from runwatch.cli_scan import ScanResult, attach_params, filter_rows, sort_rows
    from runwatch.render import status_view

    console = make_console()
    root = scanner.project.root
    try:
        result = first_scan(scanner, scanner.configs())
        with Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop") as live:
            while True:
                rows = attach_params(scanner.project, sort_rows(filter_rows(result.rows, wanted, query, scanner.project), sort), hp or [])
                title = f"runwatch · {root} · {time.strftime('%H:%M:%S', time.localtime(result.checked_at))} · every {interval:g}s · Ctrl-C to quit"
                banner = (
                    None
                    if os.path.isdir(root)
                    else f"the project root {root} is gone (moved or unmounted?); showing the last scan, waiting for it to come back"
                )
                height = console.height if console.is_terminal else None
                live.update(status_view(rows, result, title=title, width=console.width, height=height, columns=columns, banner=banner, hp=hp), refresh=True)
                time.sleep(interval)
                if os.path.isdir(root):
                    try:
                        result = scanner.scan()
                    except UserError:
                        pass
                else:
                    result = ScanResult(result.rows, result.process_errors, result.checked_at)
    except KeyboardInterrupt:
        pass
    if not console.is_terminal:
        console.print()  # a piped Live leaves its last frame without a final newline

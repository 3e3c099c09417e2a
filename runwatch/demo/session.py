"""``runwatch demo``: create the demo project, start its runs, show it, clean up.

Everything started here is stopped in one ``finally``: SIGINT (Ctrl-C), SIGTERM and
SIGHUP all end up there, so the demo leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from typing import Any

import click

from runwatch.demo.director import Director
from runwatch.demo.processes import WriterProcesses
from runwatch.demo.project import DemoDirError, create_demo_project


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_demo(
    directory: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    n_runs: int = 36,
    n_live: int = 6,
    terminal: bool = False,
    load_server: Callable[[], Callable[..., None] | None] = lambda: None,
) -> None:
    from runwatch.errors import UserError

    temporary = directory is None
    root: str = tempfile.mkdtemp(prefix="runwatch-demo-") if directory is None else os.path.abspath(directory)
    # SIGINT too: a demo started in the background of a script inherits SIGINT ignored.
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    writers = WriterProcesses(root)
    director: Director | None = None
    try:
        try:
            demo = create_demo_project(root, n_runs=n_runs, n_live=n_live)
        except DemoDirError as e:
            raise UserError(str(e)) from None
        click.echo(f"runwatch demo project: {root}{' (temporary, removed on exit)' if temporary else ''}")
        writers.start_all(demo.launch_order())
        click.echo(f"started {len(writers.procs)} run processes (python main.py --config-filepath ./configs/...)")
        director = Director(demo, writers).start()  # a new run in each live slot whenever one ends
        run_server = None if terminal else load_server()
        if run_server is not None:
            _serve(run_server, root, host, port, open_browser)
        else:
            if not terminal:
                click.echo("the dashboard server is not available here; showing the live table instead")
            _terminal(root)
    except KeyboardInterrupt:
        pass
    finally:
        if director is not None:
            director.stop()
        writers.stop()
        for s, h in old.items():
            signal.signal(s, h)
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
        click.echo("runwatch demo stopped; no run process left")


def _serve(run_server: Callable[..., None], root: str, host: str, port: int, open_browser: bool) -> None:
    from runwatch.project import Project
    from runwatch.processes import monitor_from_settings

    project = Project.at(root)
    monitor = monitor_from_settings(project, local=True, ssh=[], slurm=False)
    try:
        run_server(
            root,
            host=host,
            port=port,
            open_browser=open_browser,
            settings=project.settings,
            monitor=monitor,
            on_ready=lambda url: click.echo(f"runwatch dashboard: {url}  (Ctrl-C to stop)"),
        )
    finally:
        monitor.close()


def _terminal(root: str) -> None:
    from runwatch.cli_watch import watch
    from runwatch.cli_scan import Scanner
    from runwatch.project import Project
    from runwatch.processes import monitor_from_settings

    project = Project.at(root)
    monitor = monitor_from_settings(project, local=True, ssh=[], slurm=False)
    try:
        watch(Scanner(project, [], monitor), set(), "updated", 1.0)  # newest first: the live runs stay above any cut
    finally:
        monitor.close()

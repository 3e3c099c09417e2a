"""``runwatch demo``: create the demo project, start its runs, show it, clean up.

Everything started here is stopped in one ``finally``: SIGINT (Ctrl-C), SIGTERM and
SIGHUP all end up there, so the demo leaves no process behind. With the dashboard, the
signal also stops the director and the run processes at once, while the server shuts down,
so that the whole demo (its temporary folder included) is gone within ``STOP_WITHIN_S``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import click

from runwatch.demo.director import Director
from runwatch.demo.processes import WriterProcesses
from runwatch.demo.project import DemoDirError, create_demo_project


# How long a Ctrl-C may take, from the signal to the demo's exit with nothing left behind.
STOP_WITHIN_S = 2.0
WRITERS_STOP_S = 0.8  # SIGTERM, then SIGKILL for a run process that has not exited by then


RAM_DIR = "/dev/shm"
RAM_DIR_FREE_MIN = 256 * 2**20


def _scratch_dir() -> str | None:
    """Where a temporary demo lives: ``TMPDIR`` when set, else a RAM-backed folder when the system has a
    roomy one (removing thousands of small files there takes a moment, on a busy disk seconds), else the
    system's temporary folder."""
    if os.environ.get("TMPDIR"):
        return None
    try:
        st = os.statvfs(RAM_DIR)
        if st.f_bavail * st.f_frsize >= RAM_DIR_FREE_MIN and os.access(RAM_DIR, os.W_OK | os.X_OK):
            return RAM_DIR
    except OSError:
        pass
    return None


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
    root: str = tempfile.mkdtemp(prefix="runwatch-demo-", dir=_scratch_dir()) if directory is None else os.path.abspath(directory)
    # SIGINT too: a demo started in the background of a script inherits SIGINT ignored.
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    writers = WriterProcesses(root)
    director: Director | None = None
    stopping: list[threading.Thread] = []  # the signal's stop thread, once started
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
            the_director = director

            def stop_runs() -> None:  # from the signal handler: it must return at once
                # The runs stop and the temporary folder goes (thousands of files: seconds on a busy
                # disk) while the server shuts down, not after it: the demo is gone within
                # STOP_WITHIN_S, and a server blocked on something, force-exited after
                # runwatch.server.FORCE_EXIT_AFTER_S (which skips the ``finally`` below), leaves
                # no folder behind either.
                def stop() -> None:
                    the_director.stop()
                    writers.stop(WRITERS_STOP_S)
                    if temporary:
                        shutil.rmtree(root, ignore_errors=True)

                stopper = threading.Thread(target=stop, name="runwatch-demo-stop", daemon=True)
                stopping.append(stopper)
                stopper.start()

            _serve(run_server, root, host, port, open_browser, stop_runs)
        else:
            if not terminal:
                click.echo("the dashboard server is not available here; showing the live table instead")
            _terminal(root)
    except KeyboardInterrupt:
        pass
    finally:
        if director is not None:
            director.stop()
        writers.stop(WRITERS_STOP_S)
        for s, h in old.items():
            signal.signal(s, h)
        for t in stopping:
            t.join()  # it is removing the temporary folder
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
        click.echo("runwatch demo stopped; no run process left")


def _serve(run_server: Callable[..., None], root: str, host: str, port: int, open_browser: bool, on_signal: Callable[[], None] | None = None) -> None:
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
            on_signal=on_signal,
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

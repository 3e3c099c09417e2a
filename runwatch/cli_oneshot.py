"""A one-shot ``runwatch status --json`` / ``--jsonl`` that scans, without click.

The console script (``runwatch/cli_entry.py``) first asks the project's running agent; when none
answers, a plain ``status`` whose output is JSON is done here, with the very steps and output of
``runwatch.cli``'s ``status`` (``cli_scan``: find the project, scan, filter, sort, the records, the
document) but without importing click and the other commands' definitions, which cost a new process
about as much as the scan of a few hundred runs.

Only a command line made of ``status``, run paths, exactly one of ``--json`` / ``--jsonl``, and
``--sort``, ``--status``, ``--fail-on``, ``--root``, ``--local``, ``--no-ssh`` is done here; anything
else (a table, another option or command, a value the CLI would reject) goes to ``runwatch.cli``
untouched. A user error (not a project, a bad settings file) is printed as ``runwatch.cli`` prints it
(``Error: ...``, exit code 2), Ctrl-C as ``Aborted!`` (exit code 1), and anything unexpected before the
output is written goes to ``runwatch.cli``, which reports it.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from typing import Any

from runwatch.status_names import STATUSES, split_statuses
from runwatch.terminal_text import terminal_safe

EXIT_FAIL_ON = 1  # runwatch.cli's
EXIT_USAGE = 2

_VALUED = {"--sort", "--status", "--fail-on", "--root"}
_FLAGS = {"--json", "--jsonl", "--local", "--no-ssh"}


class _NotHere(Exception):
    """This command line is for ``runwatch.cli``."""


class WalkReport:
    """Shows on stderr how far a long search for runs got: after its first second, a line kept
    current on a terminal, else a line every 5 s."""

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self.start = self._clock()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, walked: int, folder: str) -> None:
        now = self._clock()
        if now - self.start < 1.0 or now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        text = f"runwatch: looking for runs: {walked:,} folders so far, in {terminal_safe(folder)[-80:]} (Ctrl-C to stop)"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + text[: max(20, terminal_width() - 1)])
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
        self.shown = True

    def __enter__(self) -> WalkReport:
        from runwatch.layouts.base import set_walk_progress

        set_walk_progress(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        from runwatch.layouts.base import set_walk_progress

        set_walk_progress(None)
        if self.shown and self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


def _parse(args: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(run paths, {option: [values]}) of a ``status`` command line this module does, else _NotHere."""
    if not args or args[0] != "status":
        raise _NotHere
    from runwatch.argv_split import Unsupported, split_args

    try:
        paths, pairs = split_args(args[1:], _VALUED, _FLAGS)
    except Unsupported:
        raise _NotHere from None  # --help, --, a table's options, --watch, --refresh, ...
    opts: dict[str, list[str]] = {}
    for name, value in pairs:
        opts.setdefault(name, []).append(value)
    if ("--json" in opts) == ("--jsonl" in opts):
        raise _NotHere  # a table, or both (the CLI's error)
    import os

    if any(not r or os.path.isfile(r) for r in opts.get("--root", ())):
        raise _NotHere  # the CLI's error (a --root that is a file)
    return paths, opts


def status(args: Sequence[str]) -> bool:
    """Do this ``status`` command line as ``runwatch.cli`` would; False (nothing done) when it is not one for here."""
    try:
        paths, opts = _parse(args)
        from runwatch.cli_scan import SORT_KEYS

        sort = opts.get("--sort", ["run"])[-1]
        if sort not in SORT_KEYS:
            raise _NotHere
        wanted = split_statuses(opts.get("--status", []), STATUSES, _NotHere)
        failing = split_statuses(opts.get("--fail-on", []), STATUSES, _NotHere)
    except _NotHere:
        return False
    try:
        text, code = _scan(paths, opts, sort, wanted, failing)
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")  # as click ends a command on Ctrl-C
        sys.stderr.flush()
        sys.exit(1)
    except _UserMistake as e:
        sys.stderr.write(f"Error: {terminal_safe(str(e))}\n")
        sys.stderr.flush()
        sys.exit(EXIT_USAGE)
    except Exception:  # anything else: runwatch.cli does it again and reports it as it always has
        return False
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        from runwatch.closed_pipe import quiet_stdout

        quiet_stdout()  # a closed pipe (``| head``): exit 1, quietly, as click does
        sys.exit(1)
    if code:
        sys.exit(code)
    return True


class _UserMistake(Exception):
    """A user error of the core (runwatch.cli's ``user_errors``: printed, exit code 2)."""


def _scan(paths: list[str], opts: dict[str, list[str]], sort: str, wanted: set[str], failing: set[str]) -> tuple[str, int]:
    """(the output, the exit code) of the command: runwatch.cli's ``status`` for JSON output."""
    from runwatch.cli_scan import ProcessSources, Scanner, build_monitor, check_project, infer_root, json_output, status_rows, user_mistake
    from runwatch.cli_watch import first_scan
    from runwatch.project import Project
    from runwatch.settings import load_settings

    sources = ProcessSources(local=True, ssh=(), no_ssh="--no-ssh" in opts, slurm=None)
    try:
        with WalkReport():
            r = infer_root(opts.get("--root", [None])[-1], paths)
            project = Project.at(r, load_settings(r))
            check_project(project)
        monitor = build_monitor(project, sources)
        try:
            scanner = Scanner(project, paths, monitor, None, None, remember=False)
            with WalkReport():
                configs = scanner.configs()
            result = first_scan(scanner, configs)
            rows = status_rows(project, result, wanted, sort)
            text = json_output(project, result, rows, "json" if "--json" in opts else "jsonl")
            code = EXIT_FAIL_ON if failing and any(r.status.status in failing for r in rows) else 0
            return text, code
        finally:
            close = getattr(monitor, "close", None)
            if close is not None:
                close()
    except Exception as e:
        message = user_mistake(e)
        if message is None:
            raise
        raise _UserMistake(message) from None

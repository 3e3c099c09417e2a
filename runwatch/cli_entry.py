"""The ``runwatch`` console script: a one-shot ``status`` / ``show`` answered by the running agent before any heavy import.

``runwatch serve`` (or ``notify``) keeps every run of a project current and answers on a
local socket (``runwatch/agent_client.py``). A new process that only needs that answer
should not pay for click, the scan engine, the layouts and rich first: this entry reads
the command line itself, and when it is a ``status`` or ``show`` the agent can answer
(default process sources, no option that changes a decision), it finds the project root
and its settings file with light modules only (``runwatch.project_root``,
``runwatch.settings_source``), and hands the agent the request, the settings file's bytes
and its standard output (``runwatch.agent_client.print_answer``): the agent writes the
very bytes ``runwatch.cli`` would have printed, and this process exits with the agent's
exit code. Before the answer it has imported ``os``, ``sys``, ``socket`` and ``json``.

Anything else (another command, ``--refresh``, ``--watch``, ``--ssh``, ``--filter``,
``--columns``, a value it does not recognise, an error, no agent) goes to
``runwatch.cli:main`` unchanged, which decides, asks the agent or scans as always (a
``status --json`` / ``--jsonl`` without an agent: ``runwatch.cli_oneshot``, without click).
"""

from __future__ import annotations

import gc
import os
import sys

from runwatch.argv_split import Unsupported, split_args
from runwatch.status_names import STATUSES, split_statuses

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (the console script's path stays light)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# A copy of runwatch.cli_scan.SORT_KEYS (derived from the view model's sort table: importing it costs the
# scan engine); tests/test_cli_entry.py checks they are the same.
SORT_KEYS: tuple[str, ...] = ("run", "status", "progress", "updated", "eta", "kind", "best", "latest", "epochs", "total_epochs", "started")

_STATUS_VALUED = {"--sort", "--status", "--fail-on", "--root"}
_SHOW_VALUED = {"--lines", "-n", "--root"}


def _statuses(values: list[str]) -> list[str]:
    """``runwatch.cli_scan.parse_status_list``, sorted; an unknown status is for the CLI to report."""
    return sorted(split_statuses(values, STATUSES, Unsupported))


def _request(argv: Sequence[str]) -> tuple[str | None, list[str], dict[str, Any]]:
    """(--root, the paths the root is inferred from, the agent request) for a command line the agent can answer."""
    if not argv:
        raise Unsupported("no command")
    command, args = argv[0], list(argv[1:])
    if command == "status":
        paths, options = split_args(args, _STATUS_VALUED, {"--json", "--jsonl", "--local"})
        given = {name for name, _ in options}
        if "--json" in given and "--jsonl" in given:
            raise Unsupported("--json --jsonl")
        sort = "run"
        for name, value in options:
            if name == "--sort":
                if value not in SORT_KEYS:
                    raise Unsupported(value)
                sort = value
        request: dict[str, Any] = {
            "command": "status",
            "paths": paths,
            "status": _statuses([v for n, v in options if n == "--status"]),
            "fail_on": _statuses([v for n, v in options if n == "--fail-on"]),
            "sort": sort,
            "format": "json" if "--json" in given else "jsonl" if "--jsonl" in given else "table",
            "columns": None,
            "q": None,
            "hp": [],
        }
    elif command == "show":
        positional, options = split_args(args, _SHOW_VALUED, {"--json", "--local"})
        if len(positional) != 1:
            raise Unsupported("show takes one RUN")
        lines = 20
        for name, value in options:
            if name in ("--lines", "-n"):
                if not (value.isascii() and value.isdigit()):
                    raise Unsupported(value)
                lines = int(value)
        run = positional[0]
        paths = [run]
        given = {name for name, _ in options}
        # The agent resolves RUN as `show` does (a name, a config, a work dir); one that names no run,
        # or several, gets no answer, and the CLI reports it.
        request = {
            "command": "show",
            "run": os.path.abspath(run) if os.path.exists(run) else run,
            "lines": lines,
            "format": "json" if "--json" in given else "table",
        }
    else:
        raise Unsupported(command)
    roots = [v for n, v in options if n == "--root"]
    return (roots[-1] if roots else None), paths, request


def agent_answer(argv: Sequence[str]) -> int | None:
    """Have the project's running agent print its answer to this command line on standard output; its exit code,
    or None when it did not (nothing was printed): ``runwatch.cli`` handles it. BrokenPipeError and
    ``BrokeOff`` when the answer was cut off part way."""
    if os.environ.get("RUNWATCH_NO_AGENT"):
        return None
    try:
        root, paths, request = _request(argv)
        fd = sys.stdout.fileno()
    except (Unsupported, OSError, ValueError, AttributeError):  # a captured stdout: the CLI asks the agent itself
        return None
    from runwatch.agent_client import print_answer, terminal
    from runwatch.project_root import infer_root
    from runwatch.settings_source import find_settings_file, read_settings_file

    try:
        r = infer_root(root, paths)
        found = find_settings_file(r)
        settings_file = None if found is None else (os.path.basename(found[0]), read_settings_file(found[0]))
        request["terminal"] = terminal()
        if "paths" in request:
            request["paths"] = [os.path.abspath(p) if os.path.exists(p) else p for p in request["paths"]]
        sys.stdout.flush()
    except Exception:  # any doubt: the CLI decides, and reports what was wrong
        return None
    return print_answer(r, settings_file, request, fd)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: the agent's answer when it has one, else ``runwatch.cli:main``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None and args[:1] in (["status"], ["show"]) and "--watch" not in args:
        # A one-shot command (this process exits after it): what it allocates lives until then, so
        # cyclic GC passes over it (the imports, the store, the scan's runs, the records) would be wasted.
        gc.disable()
    from runwatch.agent_client import BrokeOff

    try:
        code = agent_answer(args)
    except BrokenPipeError:  # the reader went away (``| head``): as quiet as a tool killed by SIGPIPE
        from runwatch.closed_pipe import quiet_stdout

        quiet_stdout()
        sys.exit(1)
    except BrokeOff as e:
        sys.stderr.write(f"runwatch: the agent's answer broke off ({e}; the agent stopped?); run the command again\n")
        sys.exit(1)
    if code is not None and argv is None:
        exit_now(code)  # the agent wrote the answer: no teardown
    if code is None:
        if argv is None and args[:1] == ["status"]:
            # No agent: a ``status --json`` / ``--jsonl`` scans here without click (runwatch/cli_oneshot.py).
            from runwatch.cli_oneshot import status

            try:
                done = status(args)
            except SystemExit as e:  # --fail-on matched, a user error: its exit code
                if argv is None:
                    exit_now(0 if e.code is None else e.code if isinstance(e.code, int) else 1)
                raise
            if done:
                if argv is None:
                    exit_now(0)
                return
        _cli(args)
    elif code:
        sys.exit(code)


def exit_now(code: int) -> None:
    """End a one-shot command's process once its output is written: its streams flushed and its ``atexit``
    handlers run, but not the interpreter's teardown, which would free every object of the scan one by one
    (about 0.5 s of CPU at 10,000 runs, a quarter of the whole command)."""
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # (stdout's reader gone: as Python's own exit would say)
    threading = sys.modules.get("threading")
    if threading is not None:  # a thread still writing (a store, a cache) finishes, as at a normal exit
        for t in threading.enumerate():
            if t is not threading.main_thread() and not t.daemon:
                t.join()
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    atexit._run_exitfuncs()
    os._exit(code)


def _cli(args: list[str]) -> None:
    from runwatch.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``runwatch`` console script: a one-shot ``status`` / ``show`` answered by the running agent before any heavy import.

``runwatch serve`` (or ``notify``) keeps every run of a project current and answers on a
local socket (``runwatch/agent_client.py``). A new process that only needs that answer
should not pay for click, the scan engine, the layouts and rich first: this entry reads
the command line itself, and when it is a ``status`` or ``show`` the agent can answer
(default process sources, no option that changes a decision), it finds the project, its
settings and the socket with light modules only (``runwatch.project``, ``runwatch.settings``,
``runwatch.cli_agent``), asks, and writes the agent's bytes and exit code as
``runwatch.cli`` would have.

Anything else (another command, ``--refresh``, ``--watch``, ``--ssh``, ``--filter``,
``--columns``, a value it does not recognise, an error, no agent) goes to
``runwatch.cli:main`` unchanged, which decides, asks the agent or scans as always.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runwatch.status_names import STATUSES, split_statuses

if TYPE_CHECKING:
    from runwatch.agent_client import Answer

# A copy of runwatch.cli_scan.SORT_KEYS (derived from the view model's sort table: importing it costs the
# scan engine); tests/test_cli_entry.py checks they are the same.
SORT_KEYS: tuple[str, ...] = ("run", "status", "progress", "updated", "eta", "kind", "best", "latest", "epochs", "total_epochs", "started")

_STATUS_VALUED = {"--sort", "--status", "--fail-on", "--root"}
_SHOW_VALUED = {"--lines", "-n", "--root"}


class _Unsupported(Exception):
    """This command line is for ``runwatch.cli`` to handle."""


def _split(args: Sequence[str], valued: set[str], flags: set[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(positional arguments, [(option, value)]) of a command line, or _Unsupported for anything unexpected."""
    positional: list[str] = []
    options: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if not a.startswith("-") or a == "-":
            positional.append(a)
            continue
        name, eq, value = a.partition("=")
        if name in valued and name.startswith("--") and eq:
            options.append((name, value))
        elif a in valued:
            if i >= len(args):
                raise _Unsupported(a)
            options.append((a, args[i]))
            i += 1
        elif a in flags:
            options.append((a, ""))
        else:
            raise _Unsupported(a)  # --refresh, --watch, --ssh, --help, --, ...
    return positional, options


def _statuses(values: list[str]) -> list[str]:
    """``runwatch.cli_scan.parse_status_list``, sorted; an unknown status is for the CLI to report."""
    return sorted(split_statuses(values, STATUSES, _Unsupported))


def _request(argv: Sequence[str]) -> tuple[str | None, list[str], dict[str, Any]]:
    """(--root, the paths the root is inferred from, the agent request) for a command line the agent can answer."""
    if not argv:
        raise _Unsupported("no command")
    command, args = argv[0], list(argv[1:])
    if command == "status":
        paths, options = _split(args, _STATUS_VALUED, {"--json", "--jsonl", "--local"})
        given = {name for name, _ in options}
        if "--json" in given and "--jsonl" in given:
            raise _Unsupported("--json --jsonl")
        sort = "run"
        for name, value in options:
            if name == "--sort":
                if value not in SORT_KEYS:
                    raise _Unsupported(value)
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
        positional, options = _split(args, _SHOW_VALUED, {"--json", "--local"})
        if len(positional) != 1:
            raise _Unsupported("show takes one RUN")
        lines = 20
        for name, value in options:
            if name in ("--lines", "-n"):
                if not (value.isascii() and value.isdigit()):
                    raise _Unsupported(value)
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
        raise _Unsupported(command)
    roots = [v for n, v in options if n == "--root"]
    return (roots[-1] if roots else None), paths, request


def agent_answer(argv: Sequence[str]) -> Answer | None:
    """The project's running agent's answer to this command line (its header read), or None: ``runwatch.cli`` handles it."""
    if os.environ.get("RUNWATCH_NO_AGENT"):
        return None
    try:
        root, paths, request = _request(argv)
        from runwatch.cli_agent import open_answer
        from runwatch.project import Project, infer_root
        from runwatch.settings import load_settings

        r = infer_root(root, paths)
        return open_answer(Project.at(r, load_settings(r)), request)
    except Exception:  # any doubt: the CLI decides, and reports what was wrong
        return None


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: the agent's answer when it has one, else ``runwatch.cli:main``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None and args[:1] in (["status"], ["show"]) and "--watch" not in args:
        # A one-shot command (this process exits after it): what it allocates lives until then, so
        # cyclic GC passes over it (the imports, the store, the scan's runs, the records) would be wasted.
        gc.disable()
    answer = agent_answer(args)
    if answer is not None:
        from runwatch.cli_agent import exit_code

        sys.stdout.flush()
        try:
            fd = sys.stdout.fileno()
        except (OSError, ValueError):  # not a file (a caller's capture): through Python's stream
            fd = -1
        # The payload goes to stdout as it arrives: the very bytes runwatch.cli would print.
        if fd >= 0:
            ok = answer.copy_to(fd)
        else:
            payload = answer.payload()
            if payload is None:  # nothing written yet: the CLI asks again or scans
                return _cli(args)
            sys.stdout.buffer.write(payload)
            sys.stdout.flush()
            ok = True
        if not ok:
            sys.stderr.write("runwatch: the agent's answer broke off (the agent stopped?); run the command again\n")
            sys.exit(1)
        code = exit_code(answer)
        if code:
            sys.exit(code)
        return
    if argv is None and args[:1] == ["status"]:
        # No agent: a ``status --json`` / ``--jsonl`` scans here without click (runwatch/cli_oneshot.py).
        from runwatch.cli_oneshot import status

        if status(args):
            return
    _cli(args)


def _cli(args: list[str]) -> None:
    from runwatch.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":  # pragma: no cover
    main()

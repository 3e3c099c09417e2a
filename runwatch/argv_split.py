"""A console command line split the way click splits it, for the paths that answer before click is imported.

Used by the console entry (the agent's requests) and the one-shot ``status`` without an agent; anything it
does not know (an option of another command, ``--help``, ``--``) is ``Unsupported``: the caller hands the
command line to ``runwatch.cli``, which says what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence


class Unsupported(Exception):
    """This command line is for ``runwatch.cli`` to handle."""


def split_args(args: Sequence[str], valued: set[str], flags: set[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(positional arguments, [(option, value)]) of a command line, or ``Unsupported`` for anything unexpected."""
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
                raise Unsupported(a)
            options.append((a, args[i]))
            i += 1
        elif a in flags:
            options.append((a, ""))
        else:
            raise Unsupported(a)  # --refresh, --watch, --ssh, --help, --, ...
    return positional, options

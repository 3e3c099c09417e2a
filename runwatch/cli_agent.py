"""``runwatch status`` / ``show`` through the running agent: both sides of the CLI's use of the agent socket.

The client side (``ask``) sends what the command was asked (paths, filters, sort, format,
the terminal's width and colours) and writes the agent's answer as is. The agent side
(``answer``, handed to ``live/agent_socket.py`` by ``runwatch serve``) makes that answer
from its live index with the CLI's own code: the same rows, filters, sort, JSON documents
and table as a scan in the client would print (``tests/test_agent_socket.py`` compares
them). Answers are kept per request (a table's per terminal too) while the index's sequence number is unchanged.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

from cachetools import LRUCache

from runwatch.agent_client import ask as ask_agent
from runwatch.agent_client import terminal
from runwatch.state import STATE

# (index id, seq, request) -> (header extra, payload): a JSON answer, while nothing changed.
_ANSWERS: Any = STATE.table("cli_agent.answers", lambda: LRUCache(maxsize=8))
# index id -> (the index, {run key: its row}): the rows of the last answer, reused while their run's status is the same.
_ROWS: Any = STATE.table("cli_agent.rows", lambda: LRUCache(maxsize=4))
_ROW: Any = None


# ---------------------------------------------------------------- client side


def _arg(p: str) -> str:
    """A path argument as the agent (another working dir) must see it: absolute when it exists here."""
    return os.path.abspath(p) if os.path.exists(p) else p


def ask(project: Any, request: dict[str, Any]) -> tuple[int, bytes] | None:
    """(exit code, what to print) from the project's agent, or None: scan here."""
    request = dict(request, paths=[_arg(p) for p in request.get("paths", ())], terminal=terminal())
    got = ask_agent(project.root, project.settings, request)
    if got is None:
        return None
    code = got[0].get("exit_code", 0)
    return (code if isinstance(code, int) else 0), got[1]


# ---------------------------------------------------------------- agent side


def answer(index: Any, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The CLI's output for ``request``, made from the live index (called by the agent socket, index up to date)."""
    command = request.get("command")
    if command == "status":
        return _status(index, request)
    if command == "show":
        return _show(index, request)
    raise ValueError(f"unknown command {command!r}")


def _row_class() -> Any:
    from runwatch.cli_scan import Row

    from runwatch import json_out

    class KeptRow(Row):
        """A row whose records are made once: kept while its run's status object is the same (the hyperparameter
        columns of ``--hp`` aside: a record with them is made each time)."""

        @property
        def json_record(self) -> dict[str, Any]:
            if self.params is not None:
                return Row.json_record.fget(self)  # type: ignore[attr-defined]
            rec: dict[str, Any] | None = self.__dict__.get("_json_record")
            if rec is None:
                rec = self.__dict__["_json_record"] = Row.json_record.fget(self)  # type: ignore[attr-defined]
            return rec

        def fragment(self) -> bytes:
            """The record as it stands in the ``--json`` document's ``runs`` list (two levels deep), encoded."""
            if self.params is not None:
                return _fragment(json_out.dumps(self.json_record, indent=True, ascii=True))
            frag: bytes | None = self.__dict__.get("_fragment")
            if frag is None:
                frag = self.__dict__["_fragment"] = _fragment(json_out.dumps(self.json_record, indent=True, ascii=True))
            return frag

    return KeptRow


def _fragment(text: str) -> bytes:
    return ("    " + text.replace("\n", "\n    ")).encode()


# How the document's empty ``runs`` list reads once encoded with two-space indentation (a string holds no newline).
_EMPTY_RUNS = '\n  "runs": [],\n'


def _document(project: Any, result: Any, rows: list[Any]) -> bytes:
    """``json_out.dumps(json_payload(...), indent=True, ascii=True) + "\\n"``, encoded: the records' parts are each
    row's kept encoding, so an answer after a change encodes only the changed runs (tests compare the two)."""
    from runwatch import json_out
    from runwatch.cli_scan import json_payload

    doc = json_payload(project, result, rows)
    if not rows:
        return (json_out.dumps(doc, indent=True, ascii=True) + "\n").encode()
    doc["runs"] = []
    head, sep, tail = json_out.dumps(doc, indent=True, ascii=True).partition(_EMPTY_RUNS)
    if not sep:  # not the layout expected: the whole document the plain way
        doc["runs"] = [r.json_record for r in rows]
        return (json_out.dumps(doc, indent=True, ascii=True) + "\n").encode()
    return b"".join((head.encode(), b'\n  "runs": [\n', b",\n".join(r.fragment() for r in rows), b"\n  ],\n", tail.encode(), b"\n"))


def _rows(index: Any, paths: list[str]) -> list[Any]:
    """The index's runs as the CLI's rows; a run's row (and its records) is reused while its status is the same
    object (an evaluation makes a new one), so an answer after a change builds only the changed runs' records."""
    from runwatch.cli_scan import resolve_targets

    global _ROW
    if _ROW is None:
        _ROW = _row_class()
    with index._lock:
        entries = [(e.config, e.status, e.facts) for e in index.entries.values() if e.status is not None]
    kept = _ROWS.get(id(index))
    if kept is None or kept[0] is not index:
        kept = _ROWS[id(index)] = (index, {})
    memo: dict[str, Any] = kept[1]
    fresh: dict[str, Any] = {}

    def row(config: str, st: Any, f: Any) -> Any:
        r = memo.get(config)
        if r is None or r.status is not st or r.facts is not f:
            r = _ROW(st, f)
        fresh[config] = r
        return r

    if paths:
        wanted = {os.path.normpath(c): i for i, c in enumerate(resolve_targets(index.project, paths))}
        picked = [(wanted[os.path.normpath(c)], c, st, f) for c, st, f in entries if os.path.normpath(c) in wanted]
        if len(picked) < len(wanted):
            raise LookupError("a run the arguments name is not in the index yet")
        out = [row(c, st, f) for _, c, st, f in sorted(picked, key=lambda x: x[0])]
        memo.update(fresh)
        return out
    out = [row(c, st, f) for c, st, f in entries]
    kept[1].clear()
    kept[1].update(fresh)  # runs no longer listed are forgotten
    return out


def _console(request: dict[str, Any]) -> Any:
    from rich.console import Console

    term = request.get("terminal") or {}
    return Console(file=io.StringIO(), width=term.get("width"), force_terminal=bool(term.get("tty")), _environ=dict(term.get("env") or {}))


def _status(index: Any, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    from runwatch import json_out
    from runwatch.cli_scan import ScanResult, attach_params, filter_rows, sort_rows
    from runwatch.compare.query import parse_columns as parse_hp
    from runwatch.compare.query import parse_query

    fmt = request.get("format")
    # The document holds the records (they change with seq) and the process sources' errors (they may change alone).
    errors = tuple(sorted(index.snapshot.errors.items()))
    # A table depends on the terminal too (width, colours), and says "3 s ago": it is kept per terminal, within the second.
    table = fmt not in ("json", "jsonl")
    key = (id(index), index.seq, errors, int(time.time()) if table else 0, repr(sorted((k, repr(v)) for k, v in request.items() if k != "terminal" or table)))
    hit = _ANSWERS.get(key)
    if hit is not None:
        return hit
    wanted = set(request.get("status") or ())
    failing = set(request.get("fail_on") or ())
    result = ScanResult(_rows(index, list(request.get("paths") or ())), dict(index.snapshot.errors))
    query = parse_query(request.get("q"))
    hp = parse_hp(request.get("hp") or ())
    rows = sort_rows(filter_rows(result.rows, wanted, query, index.project), request.get("sort") or "run")
    for r in rows:  # a kept row may carry the columns of an earlier --hp answer
        if r.params is not None:
            r.params = None
    rows = attach_params(index.project, rows, hp)
    if fmt == "json":
        out = ({"exit_code": _exit_code(rows, failing)}, _document(index.project, result, rows))
        _ANSWERS[key] = out
        return out
    if fmt == "jsonl":
        text = "".join(json_out.dumps(r.json_record, ascii=True) + "\n" for r in rows)
    else:
        from runwatch.render import parse_columns, print_trimmed, status_view

        console = _console(request)
        columns = request.get("columns")
        print_trimmed(console, status_view(rows, result, width=console.width, columns=parse_columns(columns) if columns else None, hp=hp))
        text = console.file.getvalue()
    out = ({"exit_code": _exit_code(rows, failing)}, text.encode())
    _ANSWERS[key] = out
    return out


def _exit_code(rows: list[Any], failing: set[str]) -> int:
    return 1 if failing and any(r.status.status in failing for r in rows) else 0


def _show(index: Any, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    from runwatch import json_out

    rows = _rows(index, [request["run"]])
    if len(rows) != 1:
        raise LookupError("the run is not in the index")
    row = rows[0]
    lines = int(request.get("lines", 20))
    if request.get("format") == "json":
        from runwatch.view_model import run_detail as detail_record

        return {}, (json_out.dumps(detail_record(row.status, row.facts, log_lines=lines, project=index.project), indent=True, ascii=True) + "\n").encode()
    from runwatch.render import print_trimmed, run_detail

    console = _console(request)
    print_trimmed(console, run_detail(row, index.project.root, lines, project=index.project))
    return {}, console.file.getvalue().encode()

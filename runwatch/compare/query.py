"""Searching runs and showing their hyperparameters: the one rule behind every surface's search.

``runwatch status -q``, ``/api/runs?q=``, ``/api/compare/search`` and the page's search box all
ask ``parse_query(text).matches(record, params)``, so one query finds the same runs everywhere.

A query is words separated by spaces; a run matches when every word does:

- ``key=value`` (also ``!=``, ``>``, ``>=``, ``<``, ``<=``) tests a hyperparameter: ``key`` is the
  full dotted key (``optimizer.args.lr``) or its last parts (``lr``, ``args.lr``); numbers compare
  as numbers (``lr=1e-3`` finds ``0.001``), anything else as text, case-insensitively;
- any other word matches a run whose name or reason contains it, or one of whose metrics does
  (``mean_IoU``, ``class_IoU[2]``).

A word is also matched against the run's name as plain text, so a run named ``lr=0.1_bs=32``
is found by ``lr=0.1`` whatever its parameters say. Hyperparameters are read only for a query
that tests one (``needs_params``), once per run while its folder is unchanged (``params_of``).
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runwatch.errors import UserError
from runwatch.state import STATE

MAX_QUERY_CHARS = 400
MAX_TERMS = 20
MAX_COLUMNS = 12
_TEST = re.compile(r"^([A-Za-z_][\w.\[\]\-]*?)\s*(!=|>=|<=|==|=|>|<)\s*(.*)$")


class QueryError(UserError):
    """A query that cannot be understood (too long, an operator without a value)."""


@dataclass(frozen=True)
class Term:
    text: str  # the word as given, lower case
    key: str | None = None  # a hyperparameter test: its key, lower case
    op: str | None = None
    value: str | None = None  # lower case
    number: float | None = None  # the value as a number, when it is one

    def test(self, record: Mapping[str, Any], params: Callable[[], Mapping[str, Any]]) -> bool:
        name = str(record.get("run") or record.get("config") or "").lower()
        if self.text in name:
            return True
        if self.key is None:
            if self.text in str(record.get("reason") or "").lower():
                return True
            return any(self.text in m.lower() for m in metric_names(record))
        for _, v in param_candidates(params(), self.key):
            if self._compare(v):
                return True
        return False

    def _compare(self, v: Any) -> bool:
        num = _number(v)
        if self.op in ("=", "!="):
            if self.number is not None and num is not None:
                same = num == self.number or math.isclose(num, self.number, rel_tol=1e-9, abs_tol=0.0)
            else:
                same = _text(v) == self.value
            return same if self.op == "=" else not same
        if num is None or self.number is None:
            return False
        return {">": num > self.number, ">=": num >= self.number, "<": num < self.number, "<=": num <= self.number}[self.op or ">"]


@dataclass(frozen=True)
class RunQuery:
    text: str
    terms: tuple[Term, ...]

    @property
    def needs_params(self) -> bool:
        return any(t.key is not None for t in self.terms)

    def matches(self, record: Mapping[str, Any], params: Callable[[], Mapping[str, Any]] | Mapping[str, Any] | None = None) -> bool:
        """Whether every word matches the run (its record; ``params``: its hyperparameters, or how to get them)."""
        if callable(params):
            get = params
        else:
            fixed = params or {}

            def get() -> Mapping[str, Any]:
                return fixed

        memo: list[Mapping[str, Any]] = []

        def once() -> Mapping[str, Any]:
            if not memo:
                memo.append(get())
            return memo[0]

        return all(t.test(record, once) for t in self.terms)


def parse_query(text: str | None) -> RunQuery | None:
    """The query of a search box or ``-q``; None for an empty one. Raises QueryError when it cannot be understood."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the search is longer than {MAX_QUERY_CHARS} characters")
    words = _join_operators(text.split())
    if len(words) > MAX_TERMS:
        raise QueryError(f"the search has more than {MAX_TERMS} words")
    terms = []
    for w in words:
        low = w.lower()
        m = _TEST.match(low)
        if m is None:
            terms.append(Term(low))
            continue
        key, op, value = m.group(1), m.group(2), m.group(3).strip()
        if not value:
            raise QueryError(f"{w!r}: give a value after {op!r} (e.g. lr{op}0.01)")
        op = "=" if op == "==" else op
        number = _number_text(value)
        if op in (">", ">=", "<", "<=") and number is None:
            raise QueryError(f"{w!r}: {op} compares numbers; {value!r} is not one")
        terms.append(Term(low, key, op, _unquote(value), number))
    return RunQuery(text, tuple(terms))


def _join_operators(words: list[str]) -> list[str]:
    """``lr = 0.1`` and ``lr> 0.1``: an operator written apart joins its neighbours."""
    out: list[str] = []
    ops = ("!=", ">=", "<=", "==", "=", ">", "<")
    for w in words:
        if out and (w in ops or out[-1].endswith(ops)) and not (out[-1] in ops and w in ops):
            out[-1] += w
        else:
            out.append(w)
    return out


def _unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s


def _number_text(s: str) -> float | None:
    try:
        v = float(_unquote(s))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, str):
        return _number_text(v.strip())
    return None


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    return str(v).lower()


def metric_names(record: Mapping[str, Any]) -> list[str]:
    """The metric names a run's record carries (its best and latest scores, sub-metrics included)."""
    names: dict[str, None] = {}
    for field in ("latest_score", "best_score"):
        v = record.get(field)
        if isinstance(v, dict):
            _names(v, "", names, 0)
    return list(names)


def _names(scores: Mapping[str, Any], prefix: str, out: dict[str, None], depth: int) -> None:
    """Like ``flatten_metrics``, but a score written as a string (a strict record's ``"NaN"``) keeps its name."""
    for k, v in scores.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 8:
            _names(v, name + ".", out, depth + 1)
        elif isinstance(v, list | tuple):
            out.update(dict.fromkeys(f"{name}[{i}]" for i in range(min(len(v), 1000))))
        elif not isinstance(v, bool):
            out[name] = None


def param_candidates(params: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
    """The parameters ``key`` names: the key itself, else every key ending in ``.key`` (case-insensitive)."""
    key = key.lower()
    exact = [(k, v) for k, v in params.items() if k.lower() == key]
    if exact:
        return exact
    tail = "." + key
    return [(k, v) for k, v in params.items() if k.lower().endswith(tail)]


def param_column(params: Mapping[str, Any], key: str) -> Any:
    """A chosen column's value for one run: ``key`` itself, else the shortest key ending in ``.key``; None when absent."""
    found = param_candidates(params, key)
    if not found:
        return None
    return min(found, key=lambda kv: (len(kv[0]), kv[0]))[1]


def parse_columns(value: str | Iterable[str] | None) -> list[str]:
    """``--hp optimizer.args.lr,batch_size`` -> the keys, in order (at most MAX_COLUMNS)."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    keys = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if len(keys) > MAX_COLUMNS:
        raise QueryError(f"at most {MAX_COLUMNS} hyperparameter columns, got {len(keys)}")
    for k in keys:
        if len(k) > 200 or not re.match(r"^[\w.\[\]\-]+$", k):
            raise QueryError(f"{k[:60]!r} is not a hyperparameter key (letters, digits, _ . [ ] -)")
    return keys


def columns_of(params: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``{key: value}`` of the chosen columns for one run (None where it has no such key)."""
    return {k: param_column(params, k) for k in keys}


# ---------------------------------------------------------------- a run's hyperparameters, memoized

_PARAMS: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = STATE.table("compare.query.params")


def params_of(project: Any, key: str, work_dir: str | None = None) -> dict[str, Any]:
    """The run's hyperparameters (its layout's answer, ``Layout.hyperparameters``). A run-folder layout's
    are kept while the run's folder is unchanged (one stat); a config layout's (Pylon) memo rechecks the
    files the config read."""
    from runwatch.errors import LayoutError
    from runwatch.layouts import run_for

    try:
        run = run_for(project, key)
    except (LayoutError, OSError):
        return {}
    ask = run.key or run.work_dir
    if run.layout.reads_configs:
        return _ask(run.layout, project, ask)
    folder = work_dir or run.work_dir
    try:
        st = os.stat(folder)
        stamp: Any = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        stamp = None
    memo_key = (project.root, key)
    hit = _PARAMS.get(memo_key)
    if hit is not None and stamp is not None and hit[0] == stamp:
        return hit[1]
    params = _ask(run.layout, project, ask)
    if len(_PARAMS) > 50_000:
        _PARAMS.clear()
    _PARAMS[memo_key] = (stamp, params)
    return params


def _ask(layout: Any, project: Any, key: str) -> dict[str, Any]:
    try:
        return dict(layout.hyperparameters(project, key) or {})
    except Exception:  # a config the reader cannot evaluate: no parameters, never a failed search
        return {}


def filter_records(records: Iterable[Mapping[str, Any]], query: RunQuery | None, params: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> list[Any]:
    """The records ``query`` matches (all of them without one); ``params(record)`` is asked only when a word tests one."""
    if query is None:
        return list(records)
    return [r for r in records if query.matches(r, functools.partial(params, r))]


def index_params(index: Any) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """``params(record)`` over a live index (its entries by the record's id); none for a run it does not hold."""
    project = getattr(index, "project", None)

    def params(record: Mapping[str, Any]) -> Mapping[str, Any]:
        get = getattr(index, "get", None)
        entry = get(str(record.get("id") or "")) if get is not None and project is not None else None
        if entry is None or getattr(entry, "status", None) is None:
            return {}
        return params_of(project, entry.config, entry.status.work_dir)

    return params

"""A scores file's ``per_datapoint`` scores as columns: one float64 array per metric.

``validation_scores.json`` (per epoch) and ``evaluation_scores.json`` share one shape::

    {"aggregated": {...}, "per_datapoint": {"loss": [0.41, ...], "class_IoU": [[0.9, 0.5], ...]}}

Every metric is a column of one number per datapoint; a metric whose datapoints hold
lists (per-class scores) is one column per position (``class_IoU[0]``, ``class_IoU[1]``);
nested metrics (multi-task) are dotted (``depth.l1``). A missing score (``null``) and a
NaN are NaN. What is wrong with a file (no ``per_datapoint``, counts that differ between
metrics, NaN scores) is a warning naming the file, never an error.

The file is decoded with orjson (several times faster than the standard library on these
files, see docs/BENCHMARKS.md); a file orjson refuses (``NaN`` literals, which Python's
``json.dump`` writes) is decoded again by the standard library. When only some metrics are
asked for (the common-failure map over many runs), only their lists are decoded: the
``per_datapoint`` object is split at its keys and each wanted list decoded alone; any file
that does not split cleanly is decoded whole.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runwatch.readers.safe_open import read_regular

# A scores file larger than this is not read for its datapoints (the setting bounds the cache, this one file).
MAX_SCORES_BYTES = 1024 * 1024 * 1024
_MAX_COLUMNS = 4096
_MAX_DEPTH = 16


@dataclass
class DatapointTable:
    """The per-datapoint scores of one file: ``columns[metric]`` is a float64 array (NaN: no score)."""

    path: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # False: only some metrics were decoded (``bases`` names every metric of the file).
    complete: bool = True
    bases: list[str] = field(default_factory=list)
    # A partial table: every metric's column names (sub-metrics too) and datapoint count, counted without decoding.
    names: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """The number of datapoints: the most common column length (0 without columns)."""
        lengths = [len(c) for c in self.columns.values()] if self.complete or not self.counts else list(self.counts.values())
        if not lengths:
            return 0
        return max(set(lengths), key=lambda x: (lengths.count(x), x))

    @property
    def metric_names(self) -> list[str]:
        """Every column's name, those of metrics a partial read did not decode included."""
        return list(self.columns) if self.complete or not self.names else self.names

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.columns.values()) + 200 * len(self.columns) + 500

    def column(self, metric: str) -> np.ndarray | None:
        return self.columns.get(metric)


def decode(data: bytes | memoryview) -> Any:
    """The JSON document in ``data``: orjson, else (NaN / Infinity literals) the standard library."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - a dependency; kept working without it
        return json.loads(bytes(data))
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(bytes(data))


def read_table(path: str, bases: set[str] | None = None) -> DatapointTable:
    """The per-datapoint table of a scores file; problems become warnings naming the file.

    ``bases``: only these metrics (their list's name: ``class_IoU`` for ``class_IoU[3]``) are
    needed; the table is then partial (``complete`` False) when the file splits cleanly.
    """
    try:
        data = read_regular(path, MAX_SCORES_BYTES)
    except FileNotFoundError:
        return DatapointTable(path, warnings=[f"{path}: missing"])
    except OSError as e:
        return DatapointTable(path, warnings=[f"{path}: cannot read ({e.strerror or e})"])
    if bases:
        partial = _partial_table(data, path, bases)
        if partial is not None:
            return partial
    try:
        doc = decode(data)
    except (ValueError, RecursionError) as e:
        return DatapointTable(path, warnings=[f"{path}: not valid JSON (half-written?) ({str(e)[:120]})"])
    return table_from_document(doc, path)


def table_from_document(doc: Any, path: str) -> DatapointTable:
    """Columns of a decoded scores document (see the module's docstring)."""
    table = DatapointTable(path)
    per = doc.get("per_datapoint") if isinstance(doc, dict) else None
    if not isinstance(per, dict) or not per:
        table.warnings.append(f"{path}: no per_datapoint scores in the file")
        return table
    for name, values in _leaves(per, ""):
        if len(table.columns) >= _MAX_COLUMNS:
            table.warnings.append(f"{path}: more than {_MAX_COLUMNS} per-datapoint metrics; the rest left out")
            break
        if not isinstance(values, list):
            table.warnings.append(f"{path}: per_datapoint '{name}' is not a list; left out")
            continue
        for col_name, col in _columns(name, values, path, table.warnings):
            table.columns[col_name] = col
        table.bases.append(name)
    _check(table)
    return table


_KEY = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*([\[{])')
_PER = re.compile(rb'"per_datapoint"\s*:\s*\{')


def _keys(data: bytes, start: int) -> list[re.Match[bytes]]:
    """``_KEY.finditer(data, start)``, jumping from quote to quote (a match starts with one): a list of
    numbers holds none, so 11 MB of them cost a few ``memchr`` calls instead of a regex step per byte."""
    out: list[re.Match[bytes]] = []
    pos = start
    find, match = data.find, _KEY.match
    while True:
        q = find(b'"', pos)
        if q < 0:
            return out
        m = match(data, q)
        if m is None:
            pos = q + 1
        else:
            out.append(m)
            pos = m.end()


_WS = b" \t\r\n"


def _back(data: bytes, end: int, start: int) -> int:
    """``end`` moved back over whitespace (not before ``start``): rstrip without a copy."""
    while end > start and data[end - 1] in _WS:
        end -= 1
    return end


def _segments(data: bytes) -> dict[str, tuple[int, int]] | None:
    """``{metric: (start, end)}``: where each top-level list of ``per_datapoint`` lies in ``data``, or None
    when the object does not split cleanly (nested objects, a key after it, strings that look like keys).
    Nothing is copied: slices of a 10 MB document cost page faults."""
    m = _PER.search(data)
    if m is None:
        return None
    keys = _keys(data, m.end())
    if not keys or any(k.group(2) != b"[" for k in keys):
        return None
    last = keys[-1].end()
    end = _back(data, len(data), last)  # the document's closing brace, then the object's
    if data[end - 1 : end] != b"}":
        return None
    end = _back(data, end - 1, last)
    if data[end - 1 : end] != b"}":
        return None
    closing = end - 1
    out: dict[str, tuple[int, int]] = {}
    for i, k in enumerate(keys):
        start = k.end() - 1
        if i + 1 < len(keys):
            stop = _back(data, keys[i + 1].start(), start)
            if data[stop - 1 : stop] == b",":
                stop = _back(data, stop - 1, start)
        else:
            stop = _back(data, closing, start)
        try:
            name = json.loads(b'"' + k.group(1) + b'"')
        except ValueError:
            return None
        out[name] = (start, stop)
    return out


def _count(data: bytes, start: int, end: int) -> tuple[int, int | None]:
    """(datapoints, the width of a list-valued metric or None) of the list ``data[start:end]``, counted
    without decoding or copying it: one pass (its commas, or its inner lists' brackets; the first inner
    list decoded for its width). Its NaN scores are found when it is decoded."""
    a = start + 1
    while a < end and data[a] in _WS:
        a += 1
    b = _back(data, end - 1, a)
    if a >= b:
        return 0, None
    if data[a : a + 1] == b"[":
        close = data.find(b"]", a, b)
        try:
            first = json.loads(data[a : close + 1]) if close > 0 else None
        except ValueError:
            first = None
        return data.count(b"[", a, b), len(first) if isinstance(first, list) else None
    return data.count(b",", a, b) + 1, None


def _partial_table(data: bytes, path: str, bases: set[str]) -> DatapointTable | None:
    segments = _segments(data)
    if segments is None or not bases <= set(segments):
        return None
    table = DatapointTable(path, complete=False, bases=list(segments))
    view = memoryview(data)
    for name, (start, end) in segments.items():
        if name in bases:
            try:
                values = decode(view[start:end])
            except (ValueError, RecursionError):
                return None  # the whole document then says what is wrong
            if not isinstance(values, list):
                return None
            cols = _columns(name, values, path, table.warnings)
            for col_name, col in cols:
                table.columns[col_name] = col
            table.names.extend(c for c, _ in cols)
            table.counts[name] = len(values)
        else:  # counted, not decoded: its datapoints and its width
            n, width = _count(data, start, end)
            table.names.extend([f"{name}[{i}]" for i in range(width)] if width else [name])
            table.counts[name] = n
    _check(table)
    return table


def _leaves(node: dict[str, Any], prefix: str, depth: int = 0) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in node.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and depth < _MAX_DEPTH:
            out.extend(_leaves(v, name + ".", depth + 1))
        else:
            out.append((name, v))
    return out


def _columns(name: str, values: list[Any], path: str, warnings: list[str]) -> list[tuple[str, np.ndarray]]:
    """One column per metric, or one per position when every datapoint holds a list of the same length."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        return _columns_slow(name, values, path, warnings)
    if arr.ndim == 1:
        return [(name, arr)]
    if arr.ndim == 2:
        return [(f"{name}[{i}]", np.ascontiguousarray(arr[:, i])) for i in range(arr.shape[1])]
    warnings.append(f"{path}: per_datapoint '{name}' has {arr.ndim}-dimensional values; left out")
    return []


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _columns_slow(name: str, values: list[Any], path: str, warnings: list[str]) -> list[tuple[str, np.ndarray]]:
    """Mixed values: numbers, nulls, strings, lists of differing lengths; whatever is not a number is NaN."""
    width = max((len(v) for v in values if isinstance(v, list)), default=0)
    if width == 0:
        bad = sum(1 for v in values if v is not None and not isinstance(v, int | float))
        if bad:
            warnings.append(f"{path}: per_datapoint '{name}' has {bad} values that are not numbers (read as missing)")
        return [(name, np.array([_num(v) for v in values], dtype=np.float64))]
    ragged = sum(1 for v in values if not isinstance(v, list) or len(v) != width)
    if ragged:
        warnings.append(f"{path}: per_datapoint '{name}' has {ragged} datapoints whose list is not {width} long (read as missing)")
    out = []
    for i in range(width):
        out.append((f"{name}[{i}]", np.array([_num(v[i]) if isinstance(v, list) and i < len(v) else math.nan for v in values], dtype=np.float64)))
    return out


def _check(table: DatapointTable) -> None:
    """Warnings for columns whose length differs from the others' (a partial table: of every metric, the
    ones not decoded counted from their bytes) and for NaN scores (of the decoded ones)."""
    n = table.n
    lengths = {name: len(col) for name, col in table.columns.items()} if table.complete or not table.counts else table.counts
    for name, length in lengths.items():
        if length != n:
            table.warnings.append(f"{table.path}: per_datapoint '{name}' has {length} datapoints, the other metrics {n}")
    nan_metrics = [(name, int(k)) for name, col in table.columns.items() if (k := np.count_nonzero(np.isnan(col)))]
    if nan_metrics:
        shown = ", ".join(f"'{name}' {k}" for name, k in nan_metrics[:5]) + (f" and {len(nan_metrics) - 5} more metrics" if len(nan_metrics) > 5 else "")
        table.warnings.append(f"{table.path}: NaN or missing per-datapoint scores ({shown})")


def grid_side(n: int) -> int:
    """The side of the smallest square grid that holds ``n`` datapoints row by row: ceil(sqrt(n))."""
    if n <= 0:
        return 0
    s = math.isqrt(n)
    return s if s * s == n else s + 1

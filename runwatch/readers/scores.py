"""Scores files (``validation_scores.json`` / ``evaluation_scores.json``) and their comparison.

Only ``aggregated`` matters for progress, while ``per_datapoint`` grows with the
dataset (tens of MB). When ``aggregated`` is the first key, as Pylon writes it, we
decode just that value from the head of the file and check the tail for the closing
brace, so any file costs one or two small reads and no parse of ``per_datapoint``
(which was most of a cold scan's time even for small files).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from runwatch.readers.jsonfile import JSONProblem, _reject_constant, open_problem, read_json_tolerant
from runwatch.readers.safe_open import open_fd, open_regular

_HEAD_BYTES = 64 * 1024
_AGG_PREFIX = re.compile(rb'^\s*\{\s*"aggregated"\s*:\s*')
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# Past this, an ``aggregated`` value is read by the general reader (which has its own limit).
_MAX_AGGREGATED = 64 * 1024 * 1024

Scores = dict[str, Any]


def read_aggregated(path: str, opened: tuple[int, os.stat_result] | None = None) -> tuple[Scores | None, JSONProblem | None]:
    """The ``aggregated`` dict of a scores file, or (None, problem).

    ``opened``: (descriptor, its stat) from ``safe_open.open_fd(path)``, already open; it is closed here.
    """
    fast = _read_small(path, opened)
    if fast is not None:
        return fast
    try:
        with open_regular(path) as f:
            head = f.read(_HEAD_BYTES)
            size = os.fstat(f.fileno()).st_size
            if size > len(head):
                f.seek(max(size - 64, 0))
                tail = f.read()
            else:
                tail = head
            m = _AGG_PREFIX.match(head)
            if m is not None:
                value = _decode_value(f, head, m.end(), size)
                if value is not None:
                    if not tail.rstrip().endswith(b"}"):
                        return None, JSONProblem(f"{path}: half-written JSON (no closing brace)")
                    return _check_aggregated(value, path)
    except OSError as e:
        return None, open_problem(path, e, "a scores file")
    data, problem = read_json_tolerant(path)
    if problem is not None:
        return None, problem
    if not isinstance(data, dict) or "aggregated" not in data:
        return None, JSONProblem(f"{path}: no 'aggregated' scores in the file")
    return _check_aggregated(data["aggregated"], path)


def _read_small(path: str, opened: tuple[int, os.stat_result] | None = None) -> tuple[Scores | None, JSONProblem | None] | None:
    """The common case in one ``os.read``: a file under 64 KiB, well-formed, ``aggregated`` first.

    None means "not that case" (bigger file, other layout, any error): the general
    reader then decides, with its messages. ``opened``: see ``read_aggregated`` (closed here).
    """
    if opened is not None:
        fd = opened[0]
    else:
        try:
            fd, _ = open_fd(path)  # non-blocking open, regular files only: a FIFO cannot hang it
        except OSError:
            return None
    try:
        head = os.read(fd, _HEAD_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(head) >= _HEAD_BYTES:  # maybe more to read: the general path
        return None
    m = _AGG_PREFIX.match(head)
    if m is None or not head.rstrip().endswith(b"}"):
        return None
    try:
        # The matched prefix is ASCII, so its byte length is its length in characters.
        value, _ = _DECODER.raw_decode(head.decode("utf-8"), m.end())
    except (ValueError, RecursionError):
        return None
    return _check_aggregated(value, path)


def _decode_value(f: Any, head: bytes, start: int, size: int) -> Any | None:
    """Decode the JSON value at ``start``: from the head, else from one read of the file up to
    ``_MAX_AGGREGATED`` and one more decode; None when it is not complete there.

    Two attempts at most, so the cost is linear in the value's size (decoding again after
    every 256 KiB chunk made a 40 MB value cost two minutes).
    """
    value = _decode_at(head, start)
    if value is not None or len(head) >= size:
        return value
    f.seek(len(head))
    return _decode_at(head + f.read(min(size, _MAX_AGGREGATED) - len(head)), start)


def _decode_at(buf: bytes, start: int) -> Any | None:
    try:
        text = buf.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(buf) - 3:
            return None  # invalid UTF-8 inside: the general reader says so
        text = buf[: e.start].decode("utf-8")  # a character cut at the end of what was read
    try:
        # The matched prefix is ASCII, so its byte length is its length in characters.
        value, _ = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value


def _check_aggregated(value: Any, path: str) -> tuple[Scores | None, JSONProblem | None]:
    if not isinstance(value, dict):
        return None, JSONProblem(f"{path}: 'aggregated' is not an object")
    return value, None


# ---------------------------------------------------------------- comparison


def _leaves(scores: Any, directions: Any, prefix: str = "") -> list[tuple[str, float, int]]:
    """(key path, value, direction) for every scalar score that has a direction."""
    out: list[tuple[str, float, int]] = []
    if not isinstance(scores, dict) or not isinstance(directions, dict):
        return out
    for key, d in directions.items():
        if key not in scores:
            continue
        v = scores[key]
        path = f"{prefix}{key}"
        if isinstance(d, dict):
            out.extend(_leaves(v, d, path + "."))
        elif isinstance(d, int | float) and not isinstance(d, bool) and d in (1, -1):
            if isinstance(v, bool):
                continue
            if isinstance(v, int | float):
                out.append((path, float(v), int(d)))
            elif isinstance(v, list):
                # A per-class list compares element-wise: each element is its own key.
                for i, x in enumerate(v):
                    if isinstance(x, int | float) and not isinstance(x, bool):
                        out.append((f"{path}[{i}]", float(x), int(d)))
    return out


def compare_scores(current: Scores | None, best: Scores | None, directions: dict[str, Any] | None) -> int:
    """Partial order of Pylon's early stopping: 1 better, -1 worse, 0 incomparable or equal.

    Better only if at least one directed key is better and none is worse. NaN is
    never better (a diverged run must not become "best").
    """
    if current is None or best is None or not directions:
        return 0
    return compare_leaf_maps(leaf_map(current, directions), leaf_map(best, directions))


def leaf_map(scores: Scores, directions: dict[str, Any]) -> dict[str, tuple[float, int]]:
    """``{key path: (value, direction)}`` of the directed scalar scores (see ``_leaves``)."""
    out: dict[str, tuple[float, int]] = {}
    _leaves_into(out, scores, directions, "")
    return out


def _leaves_into(out: dict[str, tuple[float, int]], scores: Any, directions: Any, prefix: str) -> None:
    """``_leaves`` written straight into ``out`` (a replay builds one per epoch: no list, no tuples of three)."""
    if not isinstance(scores, dict) or not isinstance(directions, dict):
        return
    for key, d in directions.items():
        if key not in scores:
            continue
        v = scores[key]
        if isinstance(d, dict):
            _leaves_into(out, v, d, f"{prefix}{key}.")
        elif isinstance(d, int | float) and not isinstance(d, bool) and d in (1, -1):
            if isinstance(v, bool):
                continue
            if isinstance(v, int | float):
                out[f"{prefix}{key}"] = (float(v), int(d))
            elif isinstance(v, list):
                path = f"{prefix}{key}"
                for i, x in enumerate(v):
                    if isinstance(x, int | float) and not isinstance(x, bool):
                        out[f"{path}[{i}]"] = (float(x), int(d))


def compare_leaf_maps(cur: dict[str, tuple[float, int]], ref: dict[str, tuple[float, int]]) -> int:
    """``compare_scores`` on leaf maps already built (a replay builds each epoch's once)."""
    better = worse = False
    for k, (v, d) in cur.items():
        if k not in ref:
            continue
        r = ref[k][0]
        if math.isnan(v):
            worse = True
            continue
        if math.isnan(r):
            better = True
            continue
        if (v - r) * d > 0:
            better = True
        elif (v - r) * d < 0:
            worse = True
    if better and not worse:
        return 1
    if worse and not better:
        return -1
    return 0


def is_strictly_better(current: Scores | None, best: Scores | None, directions: dict[str, Any] | None) -> bool:
    return compare_scores(current, best, directions) == 1


def main_score(scores: Scores | None, directions: dict[str, Any] | None = None) -> tuple[str, float] | None:
    """The one number a table shows: the first directed scalar key, else the first scalar."""
    if not scores:
        return None
    if directions:
        for k, v, _ in _leaves(scores, directions):
            if "[" not in k:
                return k, v
    return _first_scalar(scores, "")


def _first_scalar(scores: Any, prefix: str) -> tuple[str, float] | None:
    if not isinstance(scores, dict):
        return None
    for k, v in scores.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            return f"{prefix}{k}", float(v)
        if isinstance(v, dict):
            found = _first_scalar(v, f"{prefix}{k}.")
            if found:
                return found
    return None


def flatten_scalars(scores: Any, prefix: str = "") -> dict[str, float]:
    """``{"depth.l1": 0.3, "loss": 0.1}``: every scalar score by its dotted path (lists left out)."""
    out: dict[str, float] = {}
    if isinstance(scores, dict):
        for k, v in scores.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[f"{prefix}{k}"] = float(v)
            elif isinstance(v, dict):
                out.update(flatten_scalars(v, f"{prefix}{k}."))
    return out


def direction_of(key: str, directions: dict[str, Any] | None) -> int | None:
    """The direction (+1/-1) of a dotted score key, or None when it has none."""
    node: Any = directions
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return int(node) if isinstance(node, int | float) and not isinstance(node, bool) and node in (1, -1) else None


def headline(best: Scores | None, latest: Scores | None, directions: dict[str, Any] | None) -> dict[str, Any]:
    """The main metric of a run, its best and latest values and its direction, for tables and charts."""
    found = main_score(best, directions) or main_score(latest, directions)
    if found is None:
        return {"main_metric": None, "main_best": None, "main_latest": None, "main_direction": None}
    key = found[0]
    return {
        "main_metric": key,
        "main_best": flatten_scalars(best).get(key) if best else None,
        "main_latest": flatten_scalars(latest).get(key) if latest else None,
        "main_direction": direction_of(key, directions),
    }

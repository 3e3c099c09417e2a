"""Property tests of the JSON readers: never raise, never return a wrong value.

The readers face files caught mid-write at any byte; "wrong value" (a truncated
file parsed into different scores) is worse than "no value", so every property
here checks both: no exception, and any value returned equals the true one.
"""

from __future__ import annotations

import json
import math
import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runwatch.progress_tracking import ProgressInfo
from runwatch.progress_tracking.progress_store import read_progress_json, save_progress_json
from runwatch.readers.jsonfile import loads_tolerant, read_json_tolerant, write_json_atomic
from runwatch.readers.scores import read_aggregated

from .conftest import examples

FAST = settings(max_examples=examples(200, 5000), deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=examples(60, 1500), deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=12)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=25)
score_trees = st.recursive(
    st.floats() | st.integers(-1000, 1000) | st.lists(st.floats(), max_size=4),
    lambda inner: st.dictionaries(st.text(min_size=1, max_size=8), inner, min_size=1, max_size=4),
    max_leaves=12,
).filter(lambda v: isinstance(v, dict))


def same(a, b) -> bool:
    """Equality where NaN equals NaN (json round trips keep NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


@FAST
@given(data=st.binary(max_size=400))
def test_loads_tolerant_on_bytes(data):
    value, problem = loads_tolerant(data, "x.json")
    try:
        truth = json.loads(data.decode("utf-8"))
        ok = bool(data.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError, RecursionError):
        ok = False
    if ok:
        assert problem is None and same(value, truth)
    else:
        assert value is None and problem and problem.startswith("x.json:")


@FAST
@given(v=values, cut=st.integers(0, 10**6))
def test_loads_tolerant_on_truncated_documents(v, cut):
    text = json.dumps(v, allow_nan=True)
    part = text[: cut % (len(text) + 1)]
    value, problem = loads_tolerant(part.encode(), "p.json")
    if problem is None:
        assert same(value, json.loads(part))
    if part == text:
        assert problem is None and same(value, v)


@SLOW
@given(agg=score_trees, pad=st.integers(0, 40_000), cut=st.integers(0, 10**7), first=st.booleans())
def test_read_aggregated_never_wrong(tmp_path_factory, agg, pad, cut, first):
    """Whole, padded past the fast-path head, or cut anywhere: the aggregated dict or a problem."""
    per = {"loss": [0.123456] * pad}
    doc = {"aggregated": agg, "per_datapoint": per} if first else {"per_datapoint": per, "aggregated": agg}
    full = json.dumps(doc, allow_nan=True).encode()
    data = full[: cut % (len(full) + 1)]
    path = str(tmp_path_factory.getbasetemp() / "scores.json")
    with open(path, "wb") as f:
        f.write(data)
    value, problem = read_aggregated(path)
    if value is not None:
        assert problem is None and same(value, agg)
    else:
        assert problem and path in problem
    if data == full:
        assert value is not None and same(value, agg)


@SLOW
@given(v=values)
def test_atomic_write_round_trip(tmp_path_factory, v):
    path = str(tmp_path_factory.getbasetemp() / "rt.json")
    write_json_atomic(path, v)
    back, problem = read_json_tolerant(path)
    assert problem is None and same(back, v)
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith(".tmp")]


progress_like = st.fixed_dictionaries(
    {},
    optional={
        "completed_epochs": st.integers(-5, 10**6) | st.floats() | st.text(max_size=3) | st.none(),
        "progress_percentage": st.floats() | st.integers() | st.none() | st.text(max_size=3),
        "early_stopped": st.booleans() | st.none() | st.integers(),
        "early_stopped_at_epoch": st.integers() | st.none() | st.text(max_size=3),
        "runner_type": st.sampled_from(["trainer", "evaluator", "multi_stage", "bogus"]) | st.none(),
        "total_epochs": st.integers(-1, 10**6) | st.none() | st.floats(),
        "extra": values,
    },
)


@SLOW
@given(d=progress_like | values)
@example(d={"completed_epochs": 0, "progress_percentage": float("inf")})  # found by this test: not strict JSON
@example(d={"completed_epochs": 3, "progress_percentage": float("nan")})
@example(d={"completed_epochs": 0, "progress_percentage": 0.0, "total_epochs": float("inf")})  # found by this test: not strict JSON
@example(d={"completed_epochs": 1, "progress_percentage": 1.0, "total_epochs": "3", "start_time": float("nan"), "best_epoch": True})
def test_read_progress_json_any_content(tmp_path_factory, d):
    """Any progress.json content: a ProgressInfo or a problem naming the file; never an exception."""
    wd = str(tmp_path_factory.getbasetemp() / "wd")
    os.makedirs(wd, exist_ok=True)
    for n in os.listdir(wd):
        os.unlink(os.path.join(wd, n))
    with open(os.path.join(wd, "progress.json"), "w") as f:
        json.dump(d, f, allow_nan=True)
    info, problem = read_progress_json(wd)
    assert (info is None) != (problem is None)
    if problem is not None:
        assert "progress.json" in problem
    else:
        assert isinstance(info, ProgressInfo)
        assert isinstance(info.completed_epochs, int)
        # Whatever was read can be written back as strict JSON.
        json.dumps(info.to_dict(), allow_nan=False)
        assert info.total_epochs is None or (type(info.total_epochs) is int and info.total_epochs >= 0)


@SLOW
@given(completed=st.integers(0, 10**5), pct=st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=100))
def test_saved_progress_reads_back(tmp_path_factory, completed, pct):
    wd = str(tmp_path_factory.getbasetemp() / "wd2")
    os.makedirs(wd, exist_ok=True)
    # Issue 19: written only with policy "missing", in the trainer's 4-field shape (its percentage:
    # completed / total), only where none is, and never before a first finished epoch.
    if os.path.exists(os.path.join(wd, "progress.json")):
        os.unlink(os.path.join(wd, "progress.json"))
    info = ProgressInfo(completed, pct, runner_type="trainer", total_epochs=completed + 1)
    problem, own = save_progress_json(wd, info, "missing")
    assert problem is None
    if completed == 0:
        assert own is None and not os.path.exists(os.path.join(wd, "progress.json"))
        return
    back, problem = read_progress_json(wd)
    assert problem is None and back.completed_epochs == completed and back.progress_percentage == min(100.0, completed * 100.0 / (completed + 1))

"""``/api/compare/...``: the comparison documents of ``runwatch.compare.views`` over the live index.

Runs are named by the index's ids (``runs=<id>,<id>``, at most ``MAX_RUNS``), never by a
path; every parameter is checked before any file is read, and the work runs off the event
loop. The answers are the documents ``runwatch compare --json`` prints. See docs/compare.md.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runwatch.compare.cache import cache_for
from runwatch.compare.query import QueryError, filter_records, index_params, parse_query
from runwatch.compare.runs import CompareRun, compare_run
from runwatch.compare.views import (
    CompareError,
    curves_doc,
    datapoint_doc,
    failure_map_doc,
    hardest_doc,
    hparams_doc,
    metrics_doc,
    score_map_doc,
)

MAX_RUNS = 200
MAX_PARAM_CHARS = 400
_ID = re.compile(r"^[0-9a-f]{1,40}$")


class BadParam(ValueError):
    pass


def _json(data: Any, status: int = 200, took_s: float | None = None) -> Response:
    try:
        import orjson

        body = orjson.dumps(data)
    except ImportError:  # pragma: no cover
        import json

        body = json.dumps(data, allow_nan=False).encode()
    headers = {"cache-control": "no-store"}
    if took_s is not None:  # how long the document took to build (the page's timings, benchmarks/compare_page_bench.py)
        headers["server-timing"] = f"build;dur={took_s * 1000:.1f}"
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _param(request: Request, name: str) -> str | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return None
    if len(v) > MAX_PARAM_CHARS:
        raise BadParam(f"{name} is longer than {MAX_PARAM_CHARS} characters")
    return v


def _number(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    raw = _param(request, name)
    if raw is None:
        return default
    try:
        v = float(raw)
    except ValueError:
        raise BadParam(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise BadParam(f"{name} must be between {lo:g} and {hi:g}, got {raw}")
    return v


def _epoch(request: Request) -> int | str | None:
    raw = _param(request, "epoch")
    if raw is None or raw in ("latest", "best"):
        return raw
    if not raw.isdigit() or len(raw) > 9:
        raise BadParam(f"epoch must be a number, latest or best, got {raw!r}")
    return int(raw)


def _x(request: Request) -> str:
    x = _param(request, "x") or "epoch"
    if x not in ("epoch", "step"):
        raise BadParam(f"x must be epoch or step, got {x!r}")
    return x


def routes(index: Any) -> list[Route]:
    """The compare endpoints over a live index (an agent's; a hub has none)."""

    def runs_of(request: Request, name: str = "runs") -> list[CompareRun]:
        raw = _param(request, name) if name == "run" else request.query_params.get(name)
        if raw is not None and len(raw) > MAX_RUNS * 41:
            raise BadParam(f"{name}: at most {MAX_RUNS} run ids")
        ids = [i.strip() for i in (raw or "").split(",") if i.strip()]
        if not ids:
            raise BadParam(f"{name}: give run ids (from /api/runs), comma-separated")
        if len(ids) > MAX_RUNS:
            raise BadParam(f"{name}: at most {MAX_RUNS} runs, got {len(ids)}")
        out = []
        for i in dict.fromkeys(ids):
            if not _ID.match(i):
                raise BadParam(f"{name}: {i[:60]!r} is not a run id")
            entry = index.get(i)
            if entry is None or entry.status is None:
                raise LookupError(f"no run with id {i} (ids come from /api/runs)")
            out.append(compare_run(index.project, entry.status, entry.facts, entry.id))
        return out

    def endpoint(build: Callable[[Request], Any]) -> Callable[[Request], Any]:
        def timed(request: Request) -> tuple[Any, float]:
            t = time.perf_counter()
            doc = build(request)
            return doc, time.perf_counter() - t

        async def handler(request: Request) -> Response:
            try:
                doc, took = await asyncio.to_thread(timed, request)
            except (BadParam, CompareError, QueryError) as e:
                return _json({"error": str(e)}, 400)
            except LookupError as e:
                return _json({"error": str(e)}, 404)
            return _json(doc, took_s=took)

        return handler

    def cache() -> Any:
        return cache_for(index.project)

    def metrics(request: Request) -> Any:
        return metrics_doc(runs_of(request))

    def curves(request: Request) -> Any:
        return curves_doc(runs_of(request), _param(request, "metric"), _x(request))

    def hparams(request: Request) -> Any:
        return hparams_doc(runs_of(request), _param(request, "metric"), _param(request, "sort"), all_keys=_param(request, "all") == "1")

    def score_map(request: Request) -> Any:
        (run,) = runs_of(request, "run")[:1]
        return score_map_doc(cache(), run, _param(request, "metric"), _epoch(request))

    def failures(request: Request) -> Any:
        return failure_map_doc(cache(), runs_of(request), _param(request, "metric"), _number(request, "percentile", 25.0, 0.0, 100.0), _epoch(request))

    def hardest(request: Request) -> Any:
        count = int(_number(request, "count", 20, 0, 1000))
        return hardest_doc(cache(), runs_of(request), _param(request, "metric"), count, _number(request, "percentile", 25.0, 0.0, 100.0), _epoch(request))

    def datapoint(request: Request) -> Any:
        i = _number(request, "index", -1, 0, 10**9)
        if i != int(i):
            raise BadParam("index must be a whole number")
        return datapoint_doc(cache(), runs_of(request), int(i), _param(request, "metric"))

    def run_index(request: Request) -> Any:
        """Every run's metric names and hyperparameters, for the main table's search and columns."""
        _, records = index.records()
        out: dict[str, Any] = {}
        for rec in records:
            entry = index.get(rec.get("id", "")) if rec else None
            if entry is None or entry.status is None:
                continue
            r = compare_run(index.project, entry.status, entry.facts, entry.id)
            out[r.id] = {"metrics": r.metric_names(), "params": r.hyperparameters()}
        return {"runs": out}

    def search(request: Request) -> Any:
        """The ids of the runs a search finds (runwatch.compare.query: the rule of /api/runs?q= and -q)."""
        query = parse_query(_param(request, "q"))
        _, records = index.records()
        return {"q": query.text if query else "", "ids": [r.get("id") for r in filter_records(records, query, index_params(index))]}

    return [
        Route("/api/compare/search", endpoint(search)),
        Route("/api/compare/metrics", endpoint(metrics)),
        Route("/api/compare/curves", endpoint(curves)),
        Route("/api/compare/hparams", endpoint(hparams)),
        Route("/api/compare/scoremap", endpoint(score_map)),
        Route("/api/compare/failures", endpoint(failures)),
        Route("/api/compare/hardest", endpoint(hardest)),
        Route("/api/compare/datapoint", endpoint(datapoint)),
        Route("/api/compare/index", endpoint(run_index)),
    ]

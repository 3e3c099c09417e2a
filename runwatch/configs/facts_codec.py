"""The one serialisation of config facts (a record of tuples) and of their dependencies.

Both cache files hold facts the same way: the SQLite store (``sqlite_store``) as the
record's JSON text, the hot file (``hot_file``) pickled; the in-memory cache keeps
records too. A record is ``(path, is_multi_stage, error, warnings, stages)``, each stage
``(runner, runner_kind, epochs, es_enabled, es_patience, metric, directions,
directions_source, work_dir, keys)`` with a class ref as ``(module, qualname)`` or None.
JSON turns its tuples into lists; decoding accepts either.

``READER_VERSION`` names the format and the reader's results: a new one is new file
names, so the files of another version are never read (they are rebuilt).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts, compact_facts
from runwatch.configs.loader import FileSig
from runwatch.state import STATE

READER_VERSION = 2

Deps = dict[str, FileSig]
FactsRecord = tuple[Any, ...]


def copy_tree(v: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars): ``deepcopy`` without its bookkeeping."""
    t = type(v)
    if t is dict:
        return {k: copy_tree(x) for k, x in v.items()}
    if t is list or t is tuple:
        return [copy_tree(x) for x in v] if t is list else tuple(copy_tree(x) for x in v)
    if t in (str, int, float, bool) or v is None:
        return v
    return copy.deepcopy(v)


def facts_to_record(f: ConfigFacts, copy_directions: bool = False) -> FactsRecord:
    """``f`` as plain tuples (``copy_directions``: the record owns its direction dicts)."""
    return (
        f.path,
        f.is_multi_stage,
        f.error,
        tuple(f.warnings),
        tuple(
            (
                None if s.runner is None else (s.runner.module, s.runner.qualname),
                s.runner_kind,
                s.epochs,
                s.early_stopping_enabled,
                s.early_stopping_patience,
                None if s.metric is None else (s.metric.module, s.metric.qualname),
                copy_tree(s.directions) if copy_directions else s.directions,
                s.directions_source,
                s.work_dir,
                tuple(s.keys),
            )
            for s in f.stages
        ),
    )


def facts_from_record(t: FactsRecord | list[Any], path: str | None = None, copy_directions: bool = False) -> ConfigFacts:
    """The facts of a record (``path``: instead of the record's; ``copy_directions``: for a
    record kept and decoded again, so that each caller gets its own direction dicts).

    Strings and refs are shared with other configs' (``compact_facts``); a record of the
    wrong shape raises ValueError, TypeError or IndexError.
    """
    rpath, multi, error, warnings, stages = t
    return compact_facts(
        ConfigFacts(
            path=rpath if path is None else path,
            stages=[
                StageFacts(
                    runner=None if r is None else ClassRef(r[0], r[1]),
                    runner_kind=kind,
                    epochs=epochs,
                    early_stopping_enabled=es,
                    early_stopping_patience=patience,
                    metric=None if m is None else ClassRef(m[0], m[1]),
                    directions=copy_tree(directions) if copy_directions else directions,
                    directions_source=source,
                    work_dir=work_dir,
                    keys=tuple(keys),
                )
                for r, kind, epochs, es, patience, m, directions, source, work_dir, keys in stages
            ],
            is_multi_stage=multi,
            error=error,
            warnings=list(warnings),
        ),
        share_directions=False,
    )


# ---------------------------------------------------------------------- dependencies
def deps_to_text(deps: Deps) -> str:
    return json.dumps(deps)


_DEPS_DECODED: dict[str, Deps] = STATE.table("configs.facts_codec.deps_decoded")


def deps_from_text(raw: str) -> Deps:
    """Decoded deps, shared by text: the configs of a project mostly have the same dependency set."""
    hit = _DEPS_DECODED.get(raw)
    if hit is None:
        hit = {p: (tuple(s) if s is not None else None) for p, s in json.loads(raw).items()}
        if len(_DEPS_DECODED) > 100_000:
            _DEPS_DECODED.clear()
        _DEPS_DECODED[raw] = hit
    return dict(hit)

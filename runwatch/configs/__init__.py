"""Read Pylon config files statically (no import, no execution) into ``ConfigFacts``.

``read_config`` / ``read_configs`` are what the rest of runwatch calls; see
``docs/configs.md`` for what is supported and how results are cached. The reader
is loaded on first use, so importing the facts types (as the core does) stays cheap.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, RunnerKind, StageFacts

_LAZY = {
    "heuristic_directions": "runwatch.configs.heuristics",
    "ConfigReadError": "runwatch.configs.reader",
    "find_config_root": "runwatch.configs.reader",
    "read_config": "runwatch.configs.reader",
    "read_config_strict": "runwatch.configs.reader",
    "read_configs": "runwatch.configs.reader",
}

__all__ = ["ClassRef", "ConfigFacts", "RunnerKind", "StageFacts", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runwatch.configs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""Read Pylon config files statically (no import, no execution) into ``ConfigFacts``.

``read_config`` / ``read_configs`` are what the rest of runwatch calls; see
``docs/configs.md`` for what is supported and how results are cached.
"""

from runwatch.configs.facts import ClassRef, ConfigFacts, RunnerKind, StageFacts
from runwatch.configs.heuristics import heuristic_directions
from runwatch.configs.reader import (
    ConfigReadError,
    find_config_root,
    read_config,
    read_config_strict,
    read_configs,
)

__all__ = [
    "ClassRef",
    "ConfigFacts",
    "ConfigReadError",
    "RunnerKind",
    "StageFacts",
    "find_config_root",
    "heuristic_directions",
    "read_config",
    "read_config_strict",
    "read_configs",
]

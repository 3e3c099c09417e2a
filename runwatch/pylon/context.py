"""What Pylon's API takes from the folder it runs in: the project (the current folder) and its configs.

Pylon computes every path from the current folder (``./configs``, ``./logs``); so does
this package. Configs handed over as dicts are Pylon's loaded configs (the runner a
class object) or the plan's form (``{'runner': {'class': X}}``); a tracker given no
config reads ``./configs/<rel>.py`` of its work dir statically (never importing it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from runwatch import ConfigFacts, Project, Settings, load_settings
from runwatch.pylon.cfg_log_conversion import get_config

__all__ = ["config_for_tracker", "normalize_config", "project", "settings"]


def project() -> Project:
    """The project Pylon's code runs in: the current folder."""
    return Project.at(os.getcwd())


def settings() -> Settings:
    return load_settings(os.getcwd())


def normalize_config(config: Any) -> Any:
    """The plan's ``{'runner': {'class': X}}`` as Pylon's ``{'runner': X}``; anything else unchanged."""
    if isinstance(config, Mapping):
        runner = config.get("runner")
        if isinstance(runner, Mapping) and "class" in runner:
            return {**config, "runner": runner["class"]}
        return config if isinstance(config, dict) else dict(config)
    if isinstance(config, list | tuple):
        return [normalize_config(c) for c in config]
    return config


def config_file_facts(work_dir: str, s: Settings | None = None) -> ConfigFacts | None:
    """Facts of ``./configs/<rel>.py`` for the work dir ``./logs/<rel>``, or None when there is no such file."""
    try:
        path = get_config(work_dir)
    except ValueError:  # another drive (Windows): no relative path
        return None
    if not os.path.isfile(path):
        return None
    from runwatch.configs import read_config  # deferred: the static reader loads on first use

    facts: ConfigFacts = read_config(os.path.abspath(path), root=os.getcwd(), settings=s if s is not None else settings())
    return facts


def config_for_tracker(work_dir: str, config: Any, s: Settings | None = None) -> Any:
    """The config a runwatch tracker is built with: the caller's (normalized), or the work dir's config file.

    Pylon's trainer progress always takes the epoch count from ``./configs/<rel>.py``,
    so a dict without ``epochs`` (or no config at all) is completed from the file.
    """
    config = normalize_config(config)
    if config is None or (isinstance(config, dict) and "epochs" not in config):
        facts = config_file_facts(work_dir, s)
        if facts is not None and facts.error is None:
            return facts
    return config

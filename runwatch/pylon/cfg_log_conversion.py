"""Pylon's ``utils.automation.cfg_log_conversion``: config path <-> work dir, relative to the current folder.

Pylon computes both from the folder it is started in (its project root), so the
answers are relative paths: ``get_work_dir("./configs/a/b.py") == "./logs/a/b"`` and
``get_config("./logs/a/b") == "./configs/a/b.py"``. The folder names come from the
project settings (``configs_dir`` / ``logs_dir``, ``configs`` and ``logs`` unless the
settings file of the current folder says otherwise).
"""

from __future__ import annotations

import os

from runwatch import load_settings

__all__ = ["get_config", "get_work_dir"]


def _dirs() -> tuple[str, str]:
    s = load_settings(os.getcwd())
    return os.path.join(".", s.configs_dir), os.path.join(".", s.logs_dir)


def get_work_dir(config_file: str) -> str:
    """``./logs/<rel>`` for ``./configs/<rel>.py`` (any spelling of the config path)."""
    configs, logs = _dirs()
    return os.path.join(logs, os.path.splitext(os.path.relpath(os.fspath(config_file), start=configs))[0])


def get_config(work_dir: str) -> str:
    """``./configs/<rel>.py`` for the work dir ``./logs/<rel>``."""
    configs, logs = _dirs()
    return os.path.join(configs, os.path.relpath(os.fspath(work_dir), logs)) + ".py"

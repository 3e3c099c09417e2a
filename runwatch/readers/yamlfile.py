"""Tolerant YAML reading (Lightning's ``hparams.yaml`` and LightningCLI's ``config.yaml``).

Like ``jsonfile``: ``(value, problem)``, never an exception; ``yaml.safe_load`` only,
so a YAML file is data, never code.
"""

from __future__ import annotations

import os
from typing import Any

MAX_YAML_BYTES = 16 * 1024 * 1024


def read_yaml_tolerant(path: str) -> tuple[Any, str | None]:
    """Parse a YAML file; missing, oversized, unreadable or malformed -> (None, problem naming the file)."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_YAML_BYTES:
                return None, f"{path}: larger than {MAX_YAML_BYTES} bytes, not parsed"
            data = f.read()
    except FileNotFoundError:
        return None, f"{path}: missing"
    except OSError as e:
        return None, f"{path}: cannot read ({e.strerror or e})"
    import yaml  # deferred: only runs of YAML-writing layouts need it

    try:
        return yaml.safe_load(data), None
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, f"{path}: malformed YAML ({first})"
    except RecursionError:
        return None, f"{path}: YAML nested too deeply"

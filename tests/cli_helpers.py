"""The ``runwatch`` command line and the server's JSON, as the tests call them: a new process, wide plain output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's runwatch, whatever is installed; a wide terminal without colours.
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))


def rw(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``runwatch ARGS`` run to its end (exit status not checked)."""
    return subprocess.run(
        [sys.executable, "-m", "runwatch.cli", *args], capture_output=True, text=True, cwd=cwd, env=ENV if env is None else env, timeout=timeout, check=False
    )


def get_json(url: str, timeout: float = 30) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

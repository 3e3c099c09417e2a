"""A server answering the agent socket (the CLI's fast path) on a generated tree, for the agent's tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from runwatch import cli_agent
from runwatch.server import BackgroundServer
from runwatch.testing import generate_tree


def served_tree(tmp_path: Any, monkeypatch: Any, **tree: Any) -> Iterator[tuple[Any, BackgroundServer]]:
    """(tree, server) once the server's first scan is done; its socket under ``tmp_path/run``. ``tree``: generate_tree's options."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.makedirs(tmp_path / "run", mode=0o700)
    tree_ = generate_tree(str(tmp_path / "proj"), **tree)
    with BackgroundServer(tree_.root, agent_answer=cli_agent.answer) as server:
        deadline = time.time() + 60
        while (server.index.scanning or server.index.seq == 0) and time.time() < deadline:
            time.sleep(0.05)
        yield tree_, server

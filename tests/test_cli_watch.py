"""``runwatch status --watch`` in a real terminal (tmux): the screen updates after a new epoch."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from runwatch.testing.generator import generate_tree, write_epoch

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


SOCKET = f"runwatch-test-{os.getpid()}"  # a private tmux server: nobody else's options or sessions


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=True, timeout=10).stdout


def wait_screen(session: str, predicate, timeout: float = 30.0) -> str:
    deadline = time.time() + timeout
    screen = ""
    while time.time() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if predicate(screen):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"screen never matched; last screen:\n{screen}")


def test_watch_redraws_in_place_after_a_new_epoch(tmp_path) -> None:
    tree = generate_tree(str(tmp_path), 8, seed=5, scenarios=("running",), multi_stage=0)
    run = tree.runs[0]
    line_of = lambda screen: next((ln for ln in screen.splitlines() if ln.startswith(run.rel + " ")), "")
    session = f"rw-{uuid.uuid4().hex[:8]}"
    cmd = f"{shlex.quote(sys.executable)} -m runwatch.cli status --watch --interval 0.5 --no-local --root {shlex.quote(tree.root)}"
    tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", "-c", tree.root, cmd)
    try:
        before = f"{run.completed_epochs}/{run.total_epochs}"
        screen = wait_screen(session, lambda s: before in line_of(s))
        assert "runwatch · " in screen and "Ctrl-C to quit" in screen
        assert f"{len(tree.runs)} runs" in screen
        # The trainer finishes the epoch it was writing.
        write_epoch(os.path.join(tree.root, "logs", *run.rel.split("/")), run.completed_epochs, {run.main_key: 0.5}, None, 4, random.Random(0))
        after = f"{run.completed_epochs + 1}/{run.total_epochs}"
        screen = wait_screen(session, lambda s: after in line_of(s))
        # Redrawn in place: the table header appears once, not once per refresh.
        assert sum(1 for ln in screen.splitlines() if "progress" in ln and "updated" in ln) == 1, screen
        tmux("send-keys", "-t", session, "C-c")
        wait_screen(session, lambda s: "Traceback" not in s and "Aborted" not in s, timeout=5)
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True, check=False)

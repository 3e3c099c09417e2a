"""``runwatch status --watch`` in a real terminal (tmux): the screen updates after a new epoch."""

from __future__ import annotations

import os
import random
import shlex
import shutil

import pytest

from runwatch.testing.generator import generate_tree, write_epoch
from tests.test_cli_terminal import RW, pane, tmux  # noqa: F401  (the tmux pane fixture)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


def test_watch_redraws_in_place_after_a_new_epoch(tmp_path, pane) -> None:
    start, capture, _ = pane
    tree = generate_tree(str(tmp_path), 8, seed=5, scenarios=("running",), multi_stage=0)
    run = tree.runs[0]
    line_of = lambda screen: next((ln for ln in screen.splitlines() if ln.startswith(run.rel + " ")), "")
    session = start(f"{RW} status --watch --interval 0.5 --no-local --root {shlex.quote(tree.root)}", 200, 50, tree.root)
    before = f"{run.completed_epochs}/{run.total_epochs}"
    screen = capture(session, lambda s: before in line_of(s))
    assert "runwatch · " in screen and "Ctrl-C to quit" in screen
    assert f"{len(tree.runs)} runs" in screen
    # The trainer finishes the epoch it was writing.
    write_epoch(os.path.join(tree.root, "logs", *run.rel.split("/")), run.completed_epochs, {run.main_key: 0.5}, None, 4, random.Random(0))
    after = f"{run.completed_epochs + 1}/{run.total_epochs}"
    screen = capture(session, lambda s: after in line_of(s))
    # Redrawn in place: the table header appears once, not once per refresh.
    assert sum(1 for ln in screen.splitlines() if "progress" in ln and "updated" in ln) == 1, screen
    tmux("send-keys", "-t", session, "C-c")
    screen = capture(session, timeout=5)
    assert "Traceback" not in screen and "Aborted" not in screen, screen

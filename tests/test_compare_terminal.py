"""``runwatch compare`` as a person sees it: real tmux panes of 80 and 120 columns, over runs written by
real (imitation) Pylon trainers, with a run name and a hyperparameter holding escape sequences and markup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from compare_project import add_run, build, trainer
from tests.test_cli_terminal import RW, fitting_lines, pane  # noqa: F401  (the tmux pane fixture)

pytestmark = pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux not installed")

ESC_NAME = "evil\x1b]2;PWNED\x07\x1b[2J\x1b[31mred"
NOTE = "[bold red]loud[/bold red]\x1b]0;PWNED\x07"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmp_term") / "proj")
    build(root)
    rel = f"exp/{ESC_NAME}"
    body = trainer(rel, "0.1", seed=77, scores=[0.45, 0.5, 0.55])[:-1] + f", 'note': {NOTE!r}}}"
    add_run(root, rel, body)
    return root


@pytest.mark.parametrize("width", [80, 120])
def test_compare_in_a_terminal(pane, project, width):
    start, capture, title = pane
    name = start(f"echo MARKER-BEFORE; {RW} compare exp --no-local --hardest 5", width, 70, project)
    screen = capture(name)
    lines = fitting_lines(screen, width)
    assert "MARKER-BEFORE" in screen  # \x1b[2J did not clear the screen
    assert "PWNED" not in title(name)  # nor \x1b]2; retitle the pane
    assert "evil\\x1b]2;PWNED\\x07\\x" in screen  # the name shown escaped (folded in its column at 80)
    assert "acc ↑ per epoch" in screen and "hyperparameters that differ" in screen and "hardest datapoints (acc)" in screen
    for k in range(3):
        assert f"exp/lr0.1_run_{k}" in screen and f"exp/lr0.01_run_{k}" in screen
    assert "exp/lr0.1 (mean of 3)" in screen and "exp/lr0.01 (mean of 3)" in screen
    # The same numbers as --json: the hardest datapoints, in order.
    r = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "compare", "exp", "--no-local", "--hardest", "5", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
        check=True,
    )
    doc = json.loads(r.stdout)
    hardest = [line.split()[0] for line in lines[lines.index(next(x for x in lines if x.startswith("hardest datapoints"))) + 2 :][:5]]
    assert hardest == [str(it["index"]) for it in doc["hardest"]["items"]]
    fm = doc["failures"]
    assert f"{sum(1 for v in fm['values'] if v == 0.0)} of {fm['n']} datapoints fail in every one of {len(fm['runs'])} runs" in " ".join(screen.split())


def test_compare_hyperparameter_values_are_escaped(project):
    r = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "compare", "exp", "--no-local", "--what", "hparams"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=os.getcwd(), COLUMNS="400", NO_COLOR="1", TERM="dumb"),
        check=True,
    )
    i = r.stdout.find("\x1b")
    assert i < 0, repr(r.stdout[max(0, i - 120) : i + 60])
    assert "[bold red]lou…" in r.stdout  # literally, not styled (cut to its column)


def test_score_map_in_the_terminal_follows_the_scores(project):
    """``--what map`` without colour: one shade per datapoint (the grid fits), darker is better by the metric's direction."""
    r = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "compare", "exp/eval", "--no-local", "--what", "map", "--metric", "loss"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=os.getcwd(), COLUMNS="100", NO_COLOR="1", TERM="dumb"),
        check=True,
    )
    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("score map: exp/eval"))
    with open(os.path.join(project, "logs", "exp", "eval", "evaluation_scores.json")) as f:
        loss = json.load(f)["per_datapoint"]["loss"]
    assert f"worst {max(loss):.4f} (light) to best {min(loss):.4f} (dark)" in r.stdout
    assert lines[head + 1].startswith("  worst")
    grid = lines[head + 2 : head + 2 + 18]
    shades = " ░▒▓█"
    for i, v in enumerate(loss):
        t = 1.0 - (v - min(loss)) / (max(loss) - min(loss))  # lower is better: the smallest loss darkest
        row, col = divmod(i, 18)
        got = grid[row][col] if col < len(grid[row]) else " "
        assert got == shades[min(4, int((1.0 - t) * 4.999))], (i, v, got)

"""``runwatch status`` / ``show`` as a person sees them: real tmux panes of 80, 100 and 120 columns.

The status word is never cut, a 20-line ``--watch`` keeps its summary and counts the
rows it hides, and names or log lines holding escape sequences or rich markup are
shown literally: the pane's title, its screen and the table survive them.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from cli_helpers import rw
from runwatch.run_status import STATUSES
from runwatch.testing.generator import generate_tree

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")

SOCKET = [f"runwatch-term-{os.getpid()}"]  # a private tmux server per test: nobody else's options or sessions
RW = f"{shlex.quote(sys.executable)} -m runwatch.cli"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET[0], "-f", "/dev/null", *args], capture_output=True, text=True, check=True, timeout=10).stdout


def fitting_lines(screen: str, width: int) -> list[str]:
    """The screen's lines, each of which must fit the pane's ``width``."""
    lines = screen.splitlines()
    assert all(len(line) <= width for line in lines), screen
    return lines


@pytest.fixture
def pane():
    """Start a command in a fresh tmux pane of a given size; yields (start, capture, title)."""
    sessions: list[str] = []
    SOCKET[0] = f"runwatch-term-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def start(cmd: str, width: int, height: int, cwd: str) -> str:
        name = f"rw-{uuid.uuid4().hex[:8]}"
        env = f"env -u COLUMNS -u LINES PYTHONPATH={shlex.quote(os.environ.get('PYTHONPATH', os.getcwd()))} NO_COLOR=1 TERM=xterm-256color"
        # The shell stays after the command so the last screen can be read.
        tmux(
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            cwd,
            f"{env} sh -c {shlex.quote('trap true INT; ' + cmd + '; echo __DONE__; sleep 60')}",
        )
        size = tmux("display-message", "-p", "-t", name, "#{pane_width}x#{pane_height}").strip()
        assert size == f"{width}x{height}", size
        sessions.append(name)
        return name

    def capture(name: str, until=lambda s: "__DONE__" in s, timeout: float = 40.0) -> str:
        """The pane's screen once ``until`` holds for it (by default: once its command is done)."""
        deadline = time.time() + timeout
        screen = ""
        while time.time() < deadline:
            screen = tmux("capture-pane", "-p", "-t", name)
            if until(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"screen never matched; last screen:\n{screen}")

    def title(name: str) -> str:
        return tmux("display-message", "-p", "-t", name, "#{pane_title}").strip()

    yield start, capture, title
    subprocess.run(["tmux", "-L", SOCKET[0], "kill-server"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return generate_tree(str(tmp_path_factory.mktemp("term") / "proj"), 40, seed=3)


def run_lines(screen: str, tree) -> list[str]:
    rels = tuple(e.rel for e in tree.runs)
    first = lambda ln: ln.split(" ", 1)[0]
    return [ln for ln in screen.splitlines() if first(ln) in rels or ("…" in first(ln) and "/" in first(ln))]


def status_of(line: str) -> str | None:
    words = [w for w in line.split() if w in STATUSES]
    return words[0] if words else None


@pytest.mark.parametrize("width", [80, 100, 120])
def test_status_never_cuts_the_status_word(pane, tree, width) -> None:
    start, capture, _ = pane
    name = start(f"{RW} status --no-local --sort status", width, 60, tree.root)
    screen = capture(name)
    rows = run_lines(screen, tree)
    assert len(rows) == len(tree.runs), screen
    expected = {e.rel: ("failed" if e.status == "stuck" else e.status) for e in tree.runs}
    for ln in rows:
        assert len(ln) <= width
        assert status_of(ln) is not None, f"status cut at {width} columns: {ln!r}"
        rel = ln.split(" ", 1)[0]
        if rel in expected:
            assert status_of(ln) == expected[rel], ln
    assert "…" not in "".join(ln.split(" ", 1)[1] for ln in rows)  # no cell cut either
    lines = screen.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith(f"{len(tree.runs)} runs · "))
    summary = " ".join(lines[at : at + 2])  # at 80 columns the summary may wrap once, at a word
    assert "overall" in summary
    if width < 120:  # something had to go, and the footer says what
        assert f"hidden at {width} columns:" in screen and "--columns" in screen
    header = next(ln for ln in screen.splitlines() if ln.startswith("run "))
    assert "status" in header.split() and "progress" in header.split()


@pytest.mark.parametrize("width", [80, 100, 120])
def test_watch_in_20_lines_keeps_the_summary_and_counts_hidden_rows(pane, tree, width) -> None:
    start, capture, _ = pane
    name = start(f"{RW} status --watch --interval 0.5 --no-local --sort status", width, 20, tree.root)
    screen = capture(name, lambda s: f"{len(tree.runs)} runs · " in s and "more runs below" in s)
    lines = screen.splitlines()
    assert len(lines) <= 20
    assert any(ln.startswith("runwatch · ") for ln in lines)  # the title
    rows = run_lines(screen, tree)
    assert rows and all(status_of(ln) for ln in rows), screen
    more = next(ln for ln in lines if "more runs below" in ln)
    hidden = int(more.split("…", 1)[1].split()[0])
    assert hidden + len(rows) == len(tree.runs), screen
    assert "..." not in screen  # rich's own crop marker: nothing cut without a count
    tmux("send-keys", "-t", name, "C-c")
    screen = capture(name, timeout=10)
    assert "Traceback" not in screen


def test_columns_option_picks_the_columns(pane, tree) -> None:
    start, capture, _ = pane
    name = start(f"{RW} status --no-local --columns run,status,best", 80, 60, tree.root)
    screen = capture(name)
    header = next(ln for ln in screen.splitlines() if ln.startswith("run "))
    assert header.split() == ["run", "status", "best"]
    assert "hidden at" not in screen


ESC_NAME = "evil\x1b]2;PWNED\x07\x1b[2J\x1b[31mred"
MARKUP_NAMES = ("[bold red]loud[/bold red]", "close[/]tag", "run[1]")


@pytest.fixture
def hostile_tree(tmp_path):
    """A project whose run names and log lines hold escape sequences and rich markup."""
    tree = generate_tree(str(tmp_path / "proj"), 6, seed=2, multi_stage=0)
    src = next(e for e in tree.runs if e.kind == "trainer" and e.completed_epochs and e.status in ("finished", "outdated"))
    crashed = next(e for e in tree.runs if e.kind == "trainer" and e.has_error)
    for name in (ESC_NAME, *MARKUP_NAMES):
        rel_dir = os.path.dirname(src.rel)
        os.makedirs(os.path.dirname(os.path.join(tree.root, "configs", rel_dir, name)), exist_ok=True)  # "[/bold red]" holds a "/"
        shutil.copy(os.path.join(tree.root, "configs", src.rel + ".py"), os.path.join(tree.root, "configs", rel_dir, name + ".py"))
        shutil.copytree(os.path.join(tree.root, "logs", src.rel), os.path.join(tree.root, "logs", rel_dir, name))
    logs = sorted(glob.glob(os.path.join(tree.root, "logs", *crashed.rel.split("/"), "train_val*.log")), key=os.path.getmtime)
    with open(logs[-1], "a") as f:
        f.write('Traceback (most recent call last):\n  File "main.py", line 9, in <module>\nRuntimeError: boom\x1b]0;PWNED\x07\x1b[2J\x1b[H [/] [bold]x\n')
    return tree, os.path.dirname(src.rel), crashed


def test_escape_sequences_and_markup_in_names_and_logs_are_shown_literally(pane, hostile_tree) -> None:
    tree, rel_dir, crashed = hostile_tree
    start, capture, title = pane
    name = start(f"echo MARKER-BEFORE; {RW} status --no-local; {RW} show {shlex.quote(crashed.rel)} --no-local -n 5", 200, 80, tree.root)
    screen = capture(name)
    assert "MARKER-BEFORE" in screen  # \x1b[2J did not clear the screen
    assert "PWNED" not in title(name)  # \x1b]2; did not retitle the pane
    assert "evil\\x1b]2;PWNED\\x07\\x1b[2J\\x1b[31mred" in screen  # shown escaped, in the table
    for markup in MARKUP_NAMES:
        assert f"{rel_dir}/{markup}" in screen, markup  # literally: not styled, not hidden
    assert "RuntimeError: boom\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[H [/] [bold]x" in screen  # error line and log tail
    assert "Traceback" not in screen.replace("Traceback (most recent call last):", "")


@pytest.mark.parametrize("markup", MARKUP_NAMES)
def test_show_finds_a_run_by_its_exact_name_whatever_it_holds(hostile_tree, markup) -> None:
    tree, rel_dir, _ = hostile_tree
    r = rw("show", f"{rel_dir}/{markup}", "--no-local", cwd=tree.root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(f"{rel_dir}/{markup}  ")
    assert all(ln == ln.rstrip() for ln in r.stdout.splitlines()), "show pads lines with trailing spaces"


def test_watch_survives_a_closing_tag_in_a_name(pane, hostile_tree) -> None:
    tree, rel_dir, _ = hostile_tree
    start, capture, _ = pane
    name = start(f"{RW} status --watch --interval 0.3 --no-local", 200, 40, tree.root)
    screen = capture(name, lambda s: f"{rel_dir}/close[/]tag" in s and " runs · " in s)
    time.sleep(1.0)  # a few refreshes
    screen = tmux("capture-pane", "-p", "-t", name)
    assert "Traceback" not in screen and "MarkupError" not in screen and f"{rel_dir}/close[/]tag" in screen


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("plain/run_1", "plain/run_1"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("title\x1b]0;x\x07", "title\\x1b]0;x\\x07"),
        ("c1\x9bcsi", "c1\\x9bcsi"),
        ("line\nbreak\ttab\r", "line\\nbreak\\ttab\\r"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        (os.fsdecode(b"bad\xffutf8"), "bad\\xffutf8"),
        ("[bold red]x[/]", "[bold red]x[/]"),
    ],
)
def test_terminal_safe_escapes_every_control(raw, shown) -> None:
    from runwatch.terminal_text import terminal_safe

    assert terminal_safe(raw) == shown
    assert terminal_safe("a\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"
    shown.encode("utf-8")  # printable whatever the name's bytes


def test_demo_terminal_keeps_live_runs_above_the_cut(pane, tmp_path) -> None:
    start, capture, _ = pane
    root = tmp_path / "demo"
    name = start(f"{RW} demo {shlex.quote(str(root))} --terminal --runs 13", 100, 20, str(tmp_path))
    screen = capture(
        name, lambda s: sum(1 for ln in s.splitlines() if ln.startswith("live/") and " running " in ln) >= 4 and "more runs below" in s, timeout=90
    )
    lines = screen.splitlines()
    assert len(lines) <= 20 and any(" runs · " in ln for ln in lines)
    tmux("send-keys", "-t", name, "C-c")
    screen = capture(name, timeout=30)
    assert "runwatch demo stopped" in screen and "Traceback" not in screen


def test_reason_and_in_progress_fields_render_when_records_carry_them(tree) -> None:
    """The status rules' newer fields (reason, error_line, in_progress...) show in the table and in show."""
    import io

    from rich.console import Console

    from runwatch.cli_scan import Scanner
    from runwatch.project import Project
    from runwatch.render import print_trimmed, run_detail, status_view

    project = Project.at(tree.root)
    result = Scanner(project, []).scan()
    never = next(r for r in result.rows if r.status.run == next(e.rel for e in tree.runs if e.scenario == "never_launched"))
    running = next(r for r in result.rows if r.status.status == "running" and r.status.progress.runner_type == "trainer")
    never.__dict__["record"] = {**never.record, "reason": "never_started", "reason_detail": "no work dir: the run was never launched"}
    running.__dict__["record"] = {
        **running.record,
        "in_progress": {"phase": "training", "epoch": 3, "iteration": 50, "iterations": 200},
        "sessions": 2,
        "output_tail": ["step 1", "\x1b[2Jboom"],
        "error_source": "stdout",
    }
    out = io.StringIO()
    console = Console(file=out, width=160, no_color=True)
    print_trimmed(console, status_view([never, running], result, width=160))
    text = out.getvalue()
    assert "failed (not started)" in text  # the reason, compactly, in the status cell
    assert "+25%" in text
    out = io.StringIO()
    print_trimmed(Console(file=out, width=160, no_color=True), run_detail(running, tree.root))
    shown = out.getvalue()
    assert "\\x1b[2Jboom" in shown
    p = running.status.progress
    if getattr(p, "in_progress", None) is None:  # cores that carry these fields put them on the progress itself
        assert "training epoch 3 iteration 51/200" in shown
    if getattr(p, "sessions", None) is None:
        assert "2 (resumed 1x)" in shown


# ---------------------------------------------------------------- what a new reader needs on screen (issue 28)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_every_width_says_early_stop_names_the_best_score_and_explains_its_signs(pane, tree, width) -> None:
    """At every width an early-stopped run says so (``ES`` in its progress, explained), a best value is never
    shown without its metric's name and direction, and the ``!`` column and ``+N%`` are explained on screen."""
    start, capture, _ = pane
    name = start(f"{RW} status --no-local --sort status", width, 70, tree.root)
    screen = capture(name)
    rows = {ln.split(" ", 1)[0]: ln for ln in run_lines(screen, tree)}
    stopped = [e for e in tree.runs if e.early_stopped and e.status == "finished"]
    assert stopped
    for e in stopped:
        assert f"{e.completed_epochs}/" in rows[e.rel] and " ES" in rows[e.rel], rows[e.rel]
    assert "ES = stopped early" in screen
    header = next(ln for ln in screen.splitlines() if ln.startswith("run ")).split()
    if "best" in header:
        assert "metric" in header, header
        scored = [ln for ln in rows.values() if "↑" in ln or "↓" in ln]
        assert scored, screen  # the direction beside the metric's name
    if "!" in header:
        assert "! = ✗ error, ⚠N warnings" in screen
    if any(" +" in ln and "%" in ln for ln in rows.values()):
        assert "+N% = current epoch done" in screen


@pytest.mark.parametrize("width", [80, 100, 120])
def test_never_started_runs_read_apart_from_broken_ones(pane, tree, width) -> None:
    """A run that never started stays ``failed`` (a launcher relaunches it) but reads ``not started``, without the ✗
    of an error, and the summary counts it apart: ``N failed (M not started)``."""
    start, capture, _ = pane
    name = start(f"{RW} status --no-local --sort status", width, 70, tree.root)
    screen = capture(name)
    never = [e for e in tree.runs if e.scenario in ("never_launched", "evaluator_never_launched")]
    assert never
    rows = {ln.split(" ", 1)[0]: ln for ln in run_lines(screen, tree)}
    for e in never:
        assert "failed (not started)" in rows[e.rel] and "✗" not in rows[e.rel], rows[e.rel]
    failed = sum(1 for ln in rows.values() if status_of(ln) == "failed")
    flat = " ".join(screen.split())
    assert f"{failed} failed ({len(never)} not started)" in flat, flat


def test_columns_run_reason_prints_the_reason(pane, tree) -> None:
    """``--columns run,reason`` without ``status``: the reason is a column of its own, never silently dropped."""
    start, capture, _ = pane
    name = start(f"{RW} status --no-local --columns run,reason", 100, 60, tree.root)
    screen = capture(name)
    header = next(ln for ln in screen.splitlines() if ln.startswith("run "))
    assert header.split() == ["run", "reason"]
    rows = {ln.split(" ", 1)[0]: ln for ln in run_lines(screen, tree)}
    never = next(e for e in tree.runs if e.scenario == "never_launched")
    assert rows[never.rel].split(None, 1)[1].strip() == "not started"


def test_explicit_paths_in_every_spelling_name_each_run_once(pane, tree) -> None:
    """A config path, its work dir, the run's name and an absolute path of the same run: one row, named as every
    other row is (relative, never absolute), and the summary's epochs are that run's, not twice them."""
    start, capture, _ = pane
    e = next(x for x in tree.runs if x.status == "finished" and x.kind == "trainer")
    other = next(x for x in tree.runs if x.status == "finished" and x.kind == "trainer" and x.rel != e.rel)
    spellings = [
        f"configs/{e.rel}.py",
        f"logs/{e.rel}",
        f"logs/{e.rel}/",
        e.rel,
        os.path.join(tree.root, "configs", e.rel + ".py"),
        os.path.join(tree.root, "logs", other.rel),
    ]
    name = start(f"{RW} status --no-local " + " ".join(shlex.quote(x) for x in spellings), 120, 30, tree.root)
    screen = capture(name)
    rows = run_lines(screen, tree)
    assert sorted(ln.split(" ", 1)[0] for ln in rows) == sorted([e.rel, other.rel]), screen
    assert tree.root not in screen.split("__DONE__")[0].split("\n", 1)[1]  # no absolute name (the command line aside)
    flat = " ".join(screen.split())
    assert "2 runs · 2 finished" in flat
    done = e.completed_epochs + other.completed_epochs
    import re

    m = re.search(r"(\d+)/(\d+) epochs", flat)
    assert m and int(m.group(1)) == done and int(m.group(1)) <= int(m.group(2)), flat


EVENTS_WRITER = r"""
import sys, time
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
w = EventFileWriter(sys.argv[1])
for step in range(3):
    for tag, value in (("val_loss", 1.0 / (step + 1)), ("epoch", float(step))):
        v = summary_pb2.Summary.Value(tag=tag, simple_value=value)
        w.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[v])))
w.close()
"""


def test_show_of_a_lightning_run_names_its_folder_not_dot(pane, tmp_path) -> None:
    """``runwatch show .`` inside a Lightning run folder: the header names the run's folder (one row, it has no
    config apart from it), never ``config .`` and ``work dir .``."""
    pytest.importorskip("tensorboard")
    run = tmp_path / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    (run / "hparams.yaml").write_text("lr: 0.1\nmax_epochs: 5\n")
    subprocess.run([sys.executable, "-c", EVENTS_WRITER, str(run)], check=True, timeout=60)  # TensorBoard's own writer
    start, capture, _ = pane
    name = start(f"{RW} show . --no-local", 100, 40, str(run))
    screen = capture(name)
    lines = [ln.split() for ln in screen.splitlines()]
    assert ["config", "."] not in lines and ["work", "dir", "."] not in lines, screen
    assert any(ln[:2] == ["run", "folder"] for ln in lines), screen

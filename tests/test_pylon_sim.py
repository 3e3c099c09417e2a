"""runwatch on runs of a tiny Pylon imitation (tests/pylon_sim), launched as Pylon launches them.

The imitation writes its files the way the reference page says Pylon does (background
threads, its own progress.json after every epoch, one more epoch after early stopping
fires, tracebacks only on stderr, list configs run stage by stage); the expected answers
come from what the runs did, never from runwatch's rules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from cli_helpers import ENV, rw
from runwatch import get_all_run_status, get_run_status

SIM = os.path.join(os.path.dirname(__file__), "pylon_sim")
TRAINER_FIELDS = {"completed_epochs", "progress_percentage", "early_stopped", "early_stopped_at_epoch"}

HEADER = """from runners.trainers import SupervisedSingleTaskTrainer
from runners.evaluators import BaseEvaluator
from metrics.sim_metric import SimMetric
from utils.early_stopping import EarlyStopping

"""


def trainer_dict(rel: str, epochs: int, patience: int | None = None, work_dir: str | None = None, **sim) -> str:
    es = f", 'early_stopping': {{'class': EarlyStopping, 'args': {{'enabled': True, 'epochs': {patience}}}}}" if patience else ""
    return (
        f"{{'runner': SupervisedSingleTaskTrainer, 'work_dir': {work_dir or './logs/' + rel!r}, 'epochs': {epochs}, "
        f"'metric': {{'class': SimMetric, 'args': {{}}}}{es}, 'sim': {sim!r}}}"
    )


def copy_sim(tmp_path):
    """A copy of the simulated Pylon project (empty configs/ and logs/) under ``tmp_path``."""
    root = tmp_path / "proj"
    shutil.copytree(SIM, root, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    (root / "configs").mkdir()
    (root / "logs").mkdir()
    return root


@pytest.fixture()
def project(tmp_path):
    return copy_sim(tmp_path)


def write_config(root, rel: str, body: str) -> str:
    path = root / "configs" / f"{rel}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"config = {body}\n")
    return f"./configs/{rel}.py"


def launch(root, config: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python main.py --config-filepath ./configs/...`` in the project root, to the end."""
    r = subprocess.run(
        [sys.executable, "main.py", "--config-filepath", config], cwd=root, capture_output=True, text=True, timeout=60, env=dict(os.environ, **(env or {}))
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def strict_pylon_read(path: str) -> dict:
    """Pylon's own reader: ``ProgressInfo(**data)`` with exactly the trainer's fields (any other key raises)."""
    from dataclasses import dataclass

    @dataclass
    class PylonProgressInfo:
        completed_epochs: int
        progress_percentage: float
        early_stopped: bool = False
        early_stopped_at_epoch: int | None = None

    with open(path) as f:
        data = json.load(f)
    PylonProgressInfo(**data)  # raises TypeError on an unknown key
    return data


def every_progress_json(root) -> dict[str, bytes]:
    out = {}
    for d, _, files in os.walk(root):
        if "progress.json" in files:
            with open(os.path.join(d, "progress.json"), "rb") as f:
                out[os.path.join(d, "progress.json")] = f.read()
    return out


def status(root, config: str, **kw):
    # sleep_time 0: "running" only from evidence, never from a recent log (these runs exited moments ago).
    return get_run_status(config, root=str(root), **{"sleep_time": 0, **kw})


# ---------------------------------------------------------------- early stopping


EARLY = {"scores": [0.8, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]}  # best at epoch 0; the rule fires after 3 epochs


def test_early_stop_one_epoch_late_is_read_from_the_trainer(project):
    cfg = write_config(project, "es/run", trainer_dict("es/run", 10, patience=2, **EARLY))
    launch(project, cfg)
    wd = project / "logs" / "es" / "run"
    # What the run did: one more epoch after the rule fired, then its own record.
    assert sorted(n for n in os.listdir(wd) if n.startswith("epoch_")) == [f"epoch_{i}" for i in range(4)]
    own = json.loads((wd / "progress.json").read_text())
    assert own == {"completed_epochs": 4, "progress_percentage": 40.0, "early_stopped": True, "early_stopped_at_epoch": 4}
    before = every_progress_json(project)
    rs = status(project, cfg)
    p = rs.progress
    assert (rs.status, p.completed_epochs, p.total_epochs, p.progress_percentage) == ("finished", 4, 10, 100.0)
    assert (p.early_stopped, p.early_stopped_at_epoch, p.early_stop_source) == (True, 4, "trainer")
    assert p.best_epoch == 0 and p.sessions == 1
    assert not any("checkpoint_best" in w for w in p.warnings or [])
    out = rw("show", "--sleep-time", "0", cfg, cwd=project)
    assert out.returncode == 0, out.stderr
    assert "at epoch 4 (the trainer's own progress.json says so)" in out.stdout
    assert "the rule fires after 3 epochs, and a trainer stops after that epoch or the next (3 or 4 epochs)" in out.stdout
    j = json.loads(rw("status", "--json", "--sleep-time", "0", cwd=project).stdout)
    rec = next(r for r in (j["runs"] if isinstance(j, dict) else j) if r.get("run") == "es/run")
    assert (rec["status"], rec["early_stopped"], rec["early_stopped_at_epoch"], rec["early_stop_source"]) == ("finished", True, 4, "trainer")
    assert every_progress_json(project) == before  # byte-identical after API and CLI scans


def test_early_stop_from_the_log_then_from_the_replay(project):
    cfg = write_config(project, "es/run", trainer_dict("es/run", 10, patience=2, **EARLY))
    launch(project, cfg)
    wd = project / "logs" / "es" / "run"
    (wd / "progress.json").unlink()  # an older trainer version's dir: no record of its own
    p = status(project, cfg).progress
    assert (p.early_stopped, p.early_stopped_at_epoch, p.early_stop_source) == (True, 4, "log")
    log = wd / "train_val_0.log"
    log.write_text("".join(line for line in log.read_text().splitlines(True) if "early" not in line.lower()))
    rs = status(project, cfg)
    p = rs.progress
    assert (rs.status, p.early_stopped, p.early_stopped_at_epoch, p.early_stop_source, p.progress_percentage) == ("finished", True, 4, "replay", 100.0)


def test_trainer_saying_not_stopped_wins_over_the_replay(project):
    cfg = write_config(project, "es/run", trainer_dict("es/run", 10, patience=2, **EARLY))
    # Crash at the start of epoch 3: the rule fired after 3 epochs but the trainer never finished its extra epoch.
    r = launch(project, cfg, env={"SIM_CRASH_AT_EPOCH": "3"}, check=False)
    assert r.returncode != 0 and "RuntimeError: CUDA out of memory" in r.stderr
    wd = project / "logs" / "es" / "run"
    assert "Traceback" not in (wd / "train_val_0.log").read_text()  # tracebacks go to stderr only
    assert json.loads((wd / "progress.json").read_text())["early_stopped"] is False
    rs = status(project, cfg)
    p = rs.progress
    assert (p.completed_epochs, p.early_stopped, p.early_stop_source) == (3, False, "trainer")
    assert rs.status == "failed"


# ---------------------------------------------------------------- runwatch writes nothing of the trainer's


def test_progress_json_policies_on_real_runs(project):
    new = write_config(project, "pj/new", trainer_dict("pj/new", 3))
    old = write_config(project, "pj/old", trainer_dict("pj/old", 3, no_progress_json=True))
    launch(project, new)
    launch(project, old)
    trainer_file = (project / "logs/pj/new/progress.json").read_bytes()
    status(project, new), status(project, old)
    rw("status", "--json", cwd=project)
    assert not (project / "logs/pj/old/progress.json").exists()  # default: runwatch writes none
    (project / "runwatch.toml").write_text('progress_json = "missing"\n')
    get_all_run_status([new, old], root=str(project), sleep_time=0)
    rw("status", "--json", cwd=project)
    assert (project / "logs/pj/new/progress.json").read_bytes() == trainer_file
    for path in every_progress_json(project):
        assert set(strict_pylon_read(path)) == TRAINER_FIELDS, path
    assert strict_pylon_read(str(project / "logs/pj/old/progress.json")) == {
        "completed_epochs": 3,
        "progress_percentage": 100.0,
        "early_stopped": False,
        "early_stopped_at_epoch": None,
    }
    assert not [n for d, _, fs in os.walk(project / "logs") for n in fs if n.endswith(".tmp") or "runwatch" in n]


# ---------------------------------------------------------------- list configs


def test_list_config_sharing_a_work_dir_ends_at_the_largest_stage(project):
    rel = "multi/shared"
    cfg = write_config(project, rel, f"[{trainer_dict(rel, 2)}, {trainer_dict(rel, 3)}]")
    launch(project, cfg)
    wd = project / "logs" / "multi" / "shared"
    assert sorted(n for n in os.listdir(wd) if n.startswith("epoch_")) == ["epoch_0", "epoch_1", "epoch_2"]
    rs = status(project, cfg)
    p = rs.progress
    assert (rs.status, p.completed_epochs, p.total_epochs, p.progress_percentage) == ("finished", 3, 3, 100.0)
    assert p.current_stage is None
    assert [(s.completed_epochs, s.total_epochs) for s in p.stages] == [(2, 2), (3, 3)]
    assert p.sessions == 2  # each stage is a session of its own trainer


def test_list_config_with_separate_work_dirs(project):
    rel = "multi/separate"
    cfg = write_config(project, rel, f"[{trainer_dict(rel, 2)}, {trainer_dict(rel, 3, work_dir='./logs/multi/separate_finetune')}]")
    launch(project, cfg)
    rs = status(project, cfg)
    p = rs.progress
    assert (rs.status, p.completed_epochs, p.total_epochs, p.progress_percentage) == ("finished", 5, 5, 100.0)
    assert [(s.completed_epochs, s.total_epochs) for s in p.stages] == [(2, 2), (3, 3)]
    shutil.rmtree(project / "logs/multi/separate_finetune/epoch_2")  # the second stage's last epoch undone
    rs = status(project, cfg)
    p = rs.progress
    assert (p.completed_epochs, p.total_epochs, p.current_stage) == (4, 5, 1)
    assert [(s.completed_epochs, s.total_epochs) for s in p.stages] == [(2, 2), (2, 3)]
    out = rw("show", "--sleep-time", "0", cfg, cwd=project)
    assert "1: 2/2,  2: 2/3 (current)" in out.stdout, out.stdout


# ---------------------------------------------------------------- inside an epoch, inside an evaluation


def _start_paused(project, cfg, at: str, tmp_path):
    pause = tmp_path / f"pause-{at.replace(':', '_')}"
    pause.write_text("")
    env = dict(os.environ, SIM_PAUSE_FILE=str(pause), SIM_PAUSE_AT=at)
    proc = subprocess.Popen([sys.executable, "main.py", "--config-filepath", cfg], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while not os.path.exists(str(pause) + ".reached"):
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
        time.sleep(0.02)
    return proc, pause


def test_progress_inside_an_epoch_and_an_evaluation(project, tmp_path):
    cfg = write_config(project, "live/train", trainer_dict("live/train", 4, iterations=4))
    proc, pause = _start_paused(project, cfg, "train:1:2", tmp_path)
    try:
        p = status(project, cfg).progress
        assert p.completed_epochs == 1
        assert p.in_progress == {"phase": "training", "epoch": 1, "iteration": 2, "iterations": 4}
        assert p.progress_percentage == pytest.approx((1 + 3 / 4) * 100 / 4)
    finally:
        pause.unlink()
        proc.wait(30)
    p = status(project, cfg).progress
    assert (p.completed_epochs, p.in_progress, p.progress_percentage) == (4, None, 100.0)

    ev = write_config(project, "live/eval", "{'runner': BaseEvaluator, 'work_dir': './logs/live/eval', 'sim': {'iterations': 8}}")
    proc, pause = _start_paused(project, ev, "eval:3", tmp_path)
    try:
        p = status(project, ev).progress
        assert (p.runner_type, p.completed_epochs) == ("evaluator", 0)
        assert p.in_progress == {"phase": "evaluation", "epoch": None, "iteration": 3, "iterations": 8}
        assert p.progress_percentage == pytest.approx(50.0)
    finally:
        pause.unlink()
        proc.wait(30)
    p = status(project, ev).progress
    assert (p.completed_epochs, p.progress_percentage, p.in_progress) == (1, 100.0, None)


def test_eta_counts_the_epoch_under_way():
    from runwatch.progress_tracking.pylon_evidence import epoch_fraction

    assert epoch_fraction({"phase": "training", "epoch": 2, "iteration": 0, "iterations": 4}, 2) == 0.25
    assert epoch_fraction({"phase": "validation", "epoch": 2, "iteration": 0, "iterations": 4}, 2) == 1.0
    assert epoch_fraction({"phase": "training", "epoch": 1, "iteration": 3, "iterations": 4}, 2) is None  # an old line


# ---------------------------------------------------------------- sessions, config at launch, best link


def test_resumed_run_changed_config_and_best_link(project):
    cfg = write_config(project, "res/run", trainer_dict("res/run", 4, scores=[0.5, 0.6, 0.7, 0.8]))
    r = launch(project, cfg, env={"SIM_CRASH_AT_EPOCH": "2"}, check=False)
    assert r.returncode != 0
    launch(project, cfg)  # resumed: a new train_val_1.log and git_1.log
    wd = project / "logs" / "res" / "run"
    assert {"train_val_0.log", "train_val_1.log", "git_0.log", "git_1.log"} <= set(os.listdir(wd))
    rs = status(project, cfg)
    p = rs.progress
    assert (rs.status, p.completed_epochs, p.sessions, p.best_epoch) == ("finished", 4, 2, 3)
    assert not [w for w in p.warnings or [] if "config changed" in w or "checkpoint_best" in w]
    # The config file edited after the launch: a warning, from the config.json the run saved.
    write_config(project, "res/run", trainer_dict("res/run", 6, scores=[0.5, 0.6, 0.7, 0.8]))
    p = status(project, cfg).progress
    assert p.total_epochs == 6
    assert any("config changed since launch (epochs 4 at launch, 6 now)" in w for w in p.warnings), p.warnings
    # The best-checkpoint link disagreeing with the scores: a warning.
    write_config(project, "res/run", trainer_dict("res/run", 4, scores=[0.5, 0.6, 0.7, 0.8]))
    os.unlink(wd / "checkpoint_best.pt")
    os.symlink("epoch_1/checkpoint.pt", wd / "checkpoint_best.pt")
    p = status(project, cfg).progress
    assert any("checkpoint_best.pt: points at epoch 1 but the scores' best epoch is 3" in w for w in p.warnings), p.warnings


# ---------------------------------------------------------------- never stale


_NEW_PROCESS = """
import json, sys
from runwatch import get_all_run_status
r = get_all_run_status([sys.argv[2]], root=sys.argv[1])
p = next(iter(r.values())).progress
print(json.dumps({"best": p.best_score, "best_epoch": p.best_epoch, "latest": p.latest_score}))
"""


def test_rewritten_scores_of_a_finished_epoch_show_at_once(project):
    cfg = write_config(project, "stale/run", trainer_dict("stale/run", 3, scores=[0.5, 0.6, 0.7]))
    launch(project, cfg)
    rs = get_all_run_status([cfg], root=str(project), sleep_time=0)[cfg]
    assert rs.progress.best_epoch == 2 and rs.progress.best_score["acc"] == 0.7
    # Re-validation rewrites epoch 0's scores in place: same size, the dir's mtime does not move.
    path = project / "logs/stale/run/epoch_0/validation_scores.json"
    dir_mtime = os.stat(path.parent).st_mtime_ns
    text = path.read_text()
    with open(path, "r+") as f:
        f.write(text.replace('"acc": 0.5', '"acc": 0.9'))
    assert os.stat(path.parent).st_mtime_ns == dir_mtime
    rs = get_all_run_status([cfg], root=str(project), sleep_time=0)[cfg]  # same process, store and trackers warm
    assert (rs.progress.best_epoch, rs.progress.best_score["acc"]) == (0, 0.9)
    with open(path, "r+") as f:
        f.write(text.replace('"acc": 0.5', '"acc": 0.8'))
    out = subprocess.run([sys.executable, "-c", _NEW_PROCESS, str(project), cfg], capture_output=True, text=True, timeout=60, env=ENV)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"best": {"acc": 0.8, "loss": 0.5}, "best_epoch": 0, "latest": {"acc": 0.7, "loss": 0.3}}


# ---------------------------------------------------------------- launched in tmux, as Pylon's launcher does


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_run_in_a_tmux_session_seen_live_then_finished(project, tmp_path):
    cfg = write_config(project, "live/tmux", trainer_dict("live/tmux", 3, iterations=4))
    pause = tmp_path / "pause-tmux"
    pause.write_text("")
    sock = f"runwatch-test-{os.getpid()}"
    command = f"cd {project} && SIM_PAUSE_FILE={pause} SIM_PAUSE_AT=train:1:1 {sys.executable} main.py --config-filepath {cfg} > {tmp_path / 'pane.out'} 2>&1"
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "live-tmux-GPU-0", command], check=True, timeout=10)
    try:
        deadline = time.time() + 30
        while not os.path.exists(str(pause) + ".reached"):
            assert time.time() < deadline, (tmp_path / "pane.out").read_text() if (tmp_path / "pane.out").exists() else "no output"
            time.sleep(0.05)
        out = rw("status", "--json", "live/tmux", cwd=project)
        assert out.returncode in (0, 1), out.stderr
        (rec,) = json.loads(out.stdout)["runs"]
        assert rec["process_info"] is not None and "main.py" in rec["process_info"]["cmd"]
        assert rec["completed_epochs"] == 1 and rec["in_progress"] == {"phase": "training", "epoch": 1, "iteration": 1, "iterations": 4}
        assert rec["progress_percentage"] == pytest.approx((1 + 2 / 4) * 100 / 3)
        pause.unlink()
        deadline = time.time() + 30
        while subprocess.run(["tmux", "-L", sock, "has-session", "-t", "live-tmux-GPU-0"], capture_output=True).returncode == 0:
            assert time.time() < deadline
            time.sleep(0.05)
        (rec,) = json.loads(rw("status", "--json", "--sleep-time", "0", "live/tmux", cwd=project).stdout)["runs"]
        assert (rec["status"], rec["completed_epochs"], rec["total_epochs"], rec["in_progress"], rec["sessions"]) == ("finished", 3, 3, None, 1)
    finally:
        if pause.exists():
            pause.unlink()
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)


# ---------------------------------------------------------------- the same on a generated tree, and the rule's edges


def test_generated_tree_progress_json_untouched_and_strict(tmp_path):
    from runwatch.testing.generator import generate_tree

    tree = generate_tree(str(tmp_path / "t"), 13, seed=3, max_epochs=6, n_points=2, n_seeds=2)
    before = every_progress_json(tree.root)
    assert before
    configs = [r.config_path for r in tree.runs]
    get_all_run_status(configs, root=tree.root)
    rw("status", "--json", "--no-local", cwd=tree.root)
    assert every_progress_json(tree.root) == before
    with open(os.path.join(tree.root, "runwatch.toml"), "a") as f:
        f.write('progress_json = "missing"\n')
    for path in before:
        os.unlink(path)
    get_all_run_status(configs, root=tree.root)
    written = every_progress_json(tree.root)
    assert written  # created where none was
    for path in written:
        assert set(strict_pylon_read(path)) == TRAINER_FIELDS, path


def test_decide_early_stop_edges():
    from runwatch.progress_tracking.early_stopping import EarlyStopTrace, decide_early_stop
    from runwatch.readers.logs import LogFacts

    fired_after_3 = EarlyStopTrace(best_index=0, stop_at=3)
    assert decide_early_stop(fired_after_3, 3, 10, None, None, 2) == (True, 3, "replay")  # stopped in time
    assert decide_early_stop(fired_after_3, 4, 10, None, None, 2) == (True, 4, "replay")  # the usual extra epoch
    assert decide_early_stop(fired_after_3, 5, 10, None, None, 2) == (False, None, "replay")  # kept going: not this rule
    assert decide_early_stop(fired_after_3, 2, 10, None, None, 2) == (False, None, "replay")
    assert decide_early_stop(EarlyStopTrace(0, 9), 10, 10, None, None, 2) == (False, None, "replay")  # ran to the end
    trainer_no = {"completed_epochs": 4, "progress_percentage": 40.0, "early_stopped": False, "early_stopped_at_epoch": None}
    assert decide_early_stop(fired_after_3, 4, 10, trainer_no, None, 2) == (False, None, "trainer")
    trainer_yes = dict(trainer_no, early_stopped=True, early_stopped_at_epoch=4)
    assert decide_early_stop(EarlyStopTrace(0, None), 4, 10, trainer_yes, None, None) == (True, 4, "trainer")
    assert decide_early_stop(EarlyStopTrace(0, None), 5, 10, trainer_yes, None, 2) == (False, None, "replay")  # about other epochs
    log = LogFacts()
    log.stopped_early_at = 4
    assert decide_early_stop(EarlyStopTrace(0, None), 4, 10, None, log, 2) == (True, 4, "log")
    assert decide_early_stop(EarlyStopTrace(0, None), 5, 10, None, log, 2) == (False, None, "replay")
    assert decide_early_stop(EarlyStopTrace(0, None), 5, 10, None, None, None) == (False, None, None)


def test_a_file_removed_from_an_old_epoch_shows_at_once(project):
    cfg = write_config(project, "stale/gap", trainer_dict("stale/gap", 6, scores=[0.5, 0.6, 0.7, 0.8, 0.9, 0.95]))
    launch(project, cfg)
    assert get_all_run_status([cfg], root=str(project), sleep_time=0)[cfg].progress.completed_epochs == 6
    os.unlink(project / "logs/stale/gap/epoch_1/optimizer_buffer.json")  # the epoch dir's mtime moves, no other
    p = get_all_run_status([cfg], root=str(project), sleep_time=0)[cfg].progress
    assert p.completed_epochs == 1 and any("gap in the epochs" in w for w in p.warnings), p.warnings


def test_watch_finished_epochs_off_trades_freshness_of_old_epochs_for_stats(project):
    (project / "runwatch.toml").write_text("watch_finished_epochs = false\n")
    cfg = write_config(project, "stale/off", trainer_dict("stale/off", 3, scores=[0.5, 0.6, 0.7]))
    launch(project, cfg)
    assert get_all_run_status([cfg], root=str(project), sleep_time=0)[cfg].progress.best_epoch == 2
    path = project / "logs/stale/off/epoch_0/validation_scores.json"
    text = path.read_text()
    with open(path, "r+") as f:
        f.write(text.replace('"acc": 0.5', '"acc": 0.9'))
    assert get_all_run_status([cfg], root=str(project), sleep_time=0)[cfg].progress.best_epoch == 2  # as documented
    assert get_all_run_status([cfg], root=str(project), sleep_time=0, force_refresh=True)[cfg].progress.best_epoch == 0


def test_launch_config_reader_is_conservative():
    from runwatch.readers.launch_config import LaunchFacts, launch_differences, parse_launch_config

    text = (
        "{'runner': <class 'runners.trainers.X'>, 'epochs': 10, 'early_stopping': {'class': <class 'u.EarlyStopping'>, "
        "'args': {'enabled': True, 'epochs': 3}}, 'metric': {'class': <class 'metrics.m.SimMetric'>, 'args': {'f': "
        "functools.partial(<function f at 0x7f>, 3)}}, 'device': device(type='cuda'), 'x': <class 'a.<locals>.B'>}"
    )
    assert parse_launch_config(text) == [LaunchFacts(epochs=10, early_stopping=(True, 3), metric="SimMetric")]
    assert len(parse_launch_config(f"[{text}, {text}]")) == 2
    for bad in ("", "{", "not python at all (", "[" * 100000, "{'metric': {'class': <class '\x1b[31mevil'>}}"):
        got = parse_launch_config(bad)
        assert got is None or got == [LaunchFacts()], (bad[:20], got)
    launch = LaunchFacts(epochs=10, early_stopping=(True, 3), metric="SimMetric")
    assert launch_differences(launch, 10, (True, 3), "SimMetric") == []
    assert launch_differences(launch, 12, (True, 5), "Other") == [
        "epochs 10 at launch, 12 now",
        "early-stopping patience 3 at launch, 5 now",
        "metric SimMetric at launch, Other now",
    ]
    assert launch_differences(launch, None, None, None) == []  # unknown today: no claim

"""Ultralytics YOLO, timm, MMEngine and Keras runs written by the real packages, read through their layouts.

One session-scoped fixture trains each framework on the CPU, offline, in two subprocesses: one that
finishes its runs (complete, early-stopped where the framework has it, and a crash last), and one held
mid-run (``hold``: read alive, then killed). Everything else reads those folders through the API, the
CLI and the server. The YOLO and timm writers need torchvision, whose compiled operators do not load
with the CPU torch: they run in the venv of the "frameworks" extra (.frameworks-venv, made by .ci/run; see
pyproject.toml) and register pure-Python stand-ins first (tests/layout_writers/torchvision_standin.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WRITERS = os.path.join(HERE, "layout_writers")
ROOT = os.path.dirname(HERE)
NEEDED = ("torch", "mmengine", "keras")
# The python of the "frameworks" extra's venv (YOLO, timm, torchvision): RUNWATCH_FRAMEWORKS_PYTHON, else .ci/run's.
FRAMEWORKS_PYTHON = os.environ.get("RUNWATCH_FRAMEWORKS_PYTHON") or os.path.join(ROOT, ".frameworks-venv", "bin", "python")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED), reason="needs the test extra: " + ", ".join(NEEDED)),
    pytest.mark.skipif(not os.access(FRAMEWORKS_PYTHON, os.X_OK), reason="needs the frameworks extra's venv (.ci/run makes .frameworks-venv)"),
]


def _env(root):
    return {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": os.path.join(root, ".yolo"),  # Ultralytics' settings.json, not the user's
        "MPLCONFIGDIR": os.path.join(root, ".mpl"),
        "KERAS_BACKEND": "torch",
        "KERAS_HOME": os.path.join(root, ".keras"),
        "HF_HUB_OFFLINE": "1",
    }


def _wait(pred, timeout, procs):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        for p in procs:
            if p.poll() not in (None, 0) and not getattr(p, "may_fail", False):
                raise AssertionError(f"writer failed: {p.args}\n{p.stderr.read().decode(errors='replace')[-3000:]}")
        time.sleep(0.2)
    raise AssertionError("writers did not get there in time")


@pytest.fixture(scope="session")
def fw(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("frameworks"))
    env = _env(root)
    yolo, timm_out, mm, keras_root = (os.path.join(root, d) for d in ("yolo", "timm", "mm", "keras"))
    for d in (yolo, timm_out, mm, keras_root):
        os.makedirs(d)

    def start(script, *args, may_fail=False, log=None):
        err = open(log, "wb") if log else subprocess.PIPE
        python = FRAMEWORKS_PYTHON if script in ("yolo_run.py", "timm_run.py") else sys.executable
        p = subprocess.Popen([python, os.path.join(WRITERS, script), *args], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err)
        p.may_fail = may_fail
        return p

    # The crash is each writer's last mode: it ends the process with its traceback.
    done = {
        "yolo": start("yolo_run.py", yolo, "complete", "early", "crash", may_fail=True, log=os.path.join(root, "yolo.err")),
        "timm": start("timm_run.py", timm_out, "complete", "loss", "crash", may_fail=True, log=os.path.join(root, "timm.err")),
        "mm": start("mmengine_run.py", mm, "complete", "iters", "early", "pyargs", "pyiters", "crash", may_fail=True, log=os.path.join(root, "mm.err")),
        "keras": start("keras_run.py", keras_root, "complete", "early", "crash", may_fail=True, log=os.path.join(root, "keras.err")),
    }
    held = {
        "yolo": start("yolo_run.py", yolo, "hold", f"project={yolo}", "name=hold"),
        "timm": start("timm_run.py", timm_out, "hold", "--output", timm_out, "--experiment", "hold"),
        "mm": start("mmengine_run.py", mm, "hold", "--work-dir", os.path.join(mm, "work_dirs", "toy_hold")),
        "keras": start("keras_run.py", keras_root, "hold"),
        # No command line names these runs: found by the files they hold open (CSVLogger's, MMEngine's log).
        "keras_plain": start("keras_run.py", keras_root, "plainhold"),
        "mm_pyargs": start("mmengine_run.py", mm, "pyhold"),
    }
    flags = [os.path.join(d, "hold.held") for d in (yolo, timm_out, mm, keras_root)]
    flags += [os.path.join(keras_root, "plainhold.held"), os.path.join(mm, "pyhold.held")]
    procs = list(done.values()) + list(held.values())
    try:
        _wait(lambda: all(p.poll() is not None for p in done.values()) and all(os.path.exists(f) for f in flags), 420, procs)
        for name, p in done.items():
            err = open(os.path.join(root, f"{name}.err"), "rb").read()
            assert p.returncode == 1 and b"boom:" in err, (name, p.returncode, err[-3000:].decode(errors="replace"))
        # A lab that keeps the trainer's output in the run folder (`2>&1 | tee runs/x/train_val.log`):
        with open(os.path.join(yolo, "crash", "train_val.log"), "wb") as f:
            f.write(open(os.path.join(root, "yolo.err"), "rb").read())
        yield {"root": root, "held": held, "timm_dirs": {m: open(os.path.join(timm_out, f"{m}.path")).read() for m in ("complete", "loss", "crash")}}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def status_json(root, *args, sleep_time=None, local=False):
    cmd = [sys.executable, "-m", "runwatch.cli", "status", "--json", "--local" if local else "--no-local", "--root", root, *args]
    if sleep_time is not None:
        cmd += ["--sleep-time", str(sleep_time)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(root), timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return {run["run"]: run for run in json.loads(r.stdout)["runs"]}


def _rel(fw, path):
    return os.path.relpath(path, fw["root"])


def test_every_run_is_found_once_by_its_own_layout(fw):
    got = status_json(fw["root"])
    timm = {m: _rel(fw, p) for m, p in fw["timm_dirs"].items()}
    expected = {
        **{f"yolo/{m}": "ultralytics" for m in ("complete", "early", "crash", "hold")},
        **{timm[m]: "timm" for m in ("complete", "loss", "crash")},
        "timm/hold": "timm",
        **{f"mm/work_dirs/toy_{m}": "mmengine" for m in ("complete", "iters", "early", "pyargs", "pyiters", "crash", "hold", "pyhold")},
        **{f"keras/{m}": "keras" for m in ("complete", "early", "crash", "hold", "plainhold")},
    }
    assert {k: v["runner_type"] for k, v in got.items()} == expected


def test_finished_runs(fw):
    time.sleep(1.1)
    got = status_json(fw["root"], sleep_time=0)
    y = got["yolo/complete"]
    assert y["status"] == "finished" and (y["completed_epochs"], y["total_epochs"]) == (3, 3) and not y["early_stopped"]
    assert y["main_metric"] == "fitness" and y["main_direction"] == 1 and y["main_best"] is not None
    t = got[_rel(fw, fw["timm_dirs"]["complete"])]
    assert t["status"] == "finished" and (t["completed_epochs"], t["total_epochs"]) == (3, 3)
    assert t["main_metric"] == "eval_top1" and t["main_direction"] == 1
    loss = got[_rel(fw, fw["timm_dirs"]["loss"])]  # epochs + cooldown_epochs; eval_metric loss: lower is better
    assert loss["status"] == "finished" and (loss["completed_epochs"], loss["total_epochs"]) == (3, 3)
    rows = [line.split(",") for line in open(os.path.join(fw["timm_dirs"]["loss"], "summary.csv")).read().split()[1:]]
    assert loss["main_metric"] == "eval_loss" and loss["main_direction"] == -1 and loss["main_best"] == pytest.approx(min(float(r[2]) for r in rows))
    m = got["mm/work_dirs/toy_complete"]
    assert m["status"] == "finished" and (m["completed_epochs"], m["total_epochs"]) == (3, 3)
    assert m["main_metric"] == "acc" and m["main_direction"] == 1
    best_ckpt = [n for n in os.listdir(os.path.join(fw["root"], "mm", "work_dirs", "toy_complete")) if n.startswith("best_acc_epoch_")]
    assert m["best_epoch"] + 1 == int(best_ckpt[0].split("_")[-1].split(".")[0])  # the epoch MMEngine saved as best
    it = got["mm/work_dirs/toy_iters"]  # IterBasedTrainLoop: counted in steps
    assert it["status"] == "finished" and (it["completed_steps"], it["total_steps"]) == (12, 12) and it["total_epochs"] is None
    py = got["mm/work_dirs/toy_pyargs"]  # empty dumped config: the total from the checkpoint's message hub
    assert py["status"] == "finished" and (py["completed_epochs"], py["total_epochs"]) == (3, 3)
    # an IterBasedTrainLoop's hub says max_epochs=1 (the loop's placeholder): counted in steps, by max_iters
    pi = got["mm/work_dirs/toy_pyiters"]
    assert pi["status"] == "finished" and (pi["completed_steps"], pi["total_steps"]) == (12, 12) and pi["total_epochs"] is None


def test_early_stopped_runs(fw):
    got = status_json(fw["root"], sleep_time=0)
    y = got["yolo/early"]  # stripped last.pt (epoch == -1) with fewer rows than epochs
    assert y["status"] == "finished" and y["early_stopped"] and y["completed_epochs"] == 2 and y["total_epochs"] == 12
    m = got["mm/work_dirs/toy_early"]  # EarlyStoppingHook's log line
    assert m["status"] == "finished" and m["early_stopped"] and m["completed_epochs"] == 3 and m["total_epochs"] == 20


def test_crashed_runs_are_failed(fw):
    time.sleep(1.1)
    got = status_json(fw["root"], sleep_time=0)
    for name, done in (("yolo/crash", 2), (_rel(fw, fw["timm_dirs"]["crash"]), 2), ("mm/work_dirs/toy_crash", 2), ("keras/crash", 2)):
        r = got[name]
        assert r["status"] == "failed" and r["completed_epochs"] == done and not r["early_stopped"], (name, r["status"], r["completed_epochs"])
    assert any("BackupAndRestore holds a backup" in w for w in got["keras/crash"]["warnings"])
    assert got["yolo/crash"]["reason"] == "crashed" and "boom: the data loader broke" in got["yolo/crash"]["error_message"]


def test_keras_total_is_unknown_and_the_monitor_comes_from_the_checkpoint_name(fw):
    got = status_json(fw["root"])
    k = got["keras/complete"]
    assert k["status"] == "running"  # fresh files, no process asked: within its rhythm
    assert k["completed_epochs"] == 3 and k["total_epochs"] is None and k["progress_percentage"] == 0.0
    assert any("total epochs unknown" in w for w in k["warnings"])
    assert k["main_metric"] == "val_loss" and k["main_direction"] == -1  # model-{epoch:02d}-{val_loss:.3f}.keras
    rows = [line.split(",") for line in open(os.path.join(fw["root"], "keras", "complete", "log.csv")).read().split()[1:]]
    assert k["main_best"] == pytest.approx(min(float(r[3]) for r in rows))


def test_live_runs_read_while_they_train_and_their_processes_are_found(fw):
    got = status_json(fw["root"], local=True)
    held = ("yolo/hold", "timm/hold", "mm/work_dirs/toy_hold", "mm/work_dirs/toy_pyhold", "keras/hold", "keras/plainhold")
    for name in held:
        r = got[name]
        assert r["status"] == "running" and r["completed_epochs"] == 2, (name, r["status"], r["completed_epochs"])
    assert (got["yolo/hold"]["total_epochs"], got["timm/hold"]["total_epochs"], got["mm/work_dirs/toy_hold"]["total_epochs"]) == (5, 5, 5)
    assert got["keras/hold"]["total_epochs"] is None
    # a Runner from Python arguments before its first checkpoint: the total is unknown, and says why
    py = got["mm/work_dirs/toy_pyhold"]
    assert py["total_epochs"] is None and py["progress_percentage"] == 0.0
    assert any("total unknown (the dumped config is empty" in w for w in py["warnings"]), py["warnings"]
    # yolo project=/name=, timm --output/--experiment, MMEngine --work-dir: matched by the command line;
    # Keras (its paths are in the code) and a Runner from Python arguments: by the file they hold open
    keys = {"yolo/hold": "yolo", "timm/hold": "timm", "mm/work_dirs/toy_hold": "mm", "mm/work_dirs/toy_pyhold": "mm_pyargs"}
    keys.update({"keras/hold": "keras", "keras/plainhold": "keras_plain"})
    for name, key in keys.items():
        assert got[name]["process_info"] is not None and got[name]["process_info"]["pid"] == fw["held"][key].pid, name


def test_a_process_working_in_a_run_folder_is_that_runs(fw):
    """A process whose cwd is a run folder (or inside it) is that run's, for every new layout."""
    from runwatch.processes.local import LocalSource
    from runwatch.project import Project

    folders = {
        "yolo/complete": os.path.join(fw["root"], "yolo", "complete", "weights"),
        _rel(fw, fw["timm_dirs"]["complete"]): fw["timm_dirs"]["complete"],
        "mm/work_dirs/toy_complete": os.path.join(fw["root"], "mm", "work_dirs", "toy_complete"),
        "keras/complete": os.path.join(fw["root"], "keras", "complete", "ckpt"),
    }
    procs = {name: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=cwd) for name, cwd in folders.items()}
    try:
        snap = LocalSource(gpus=False).collect(Project.at(fw["root"]))
        by_pid = {p.pid: p.config_rel for p in snap.processes}
        assert {name: by_pid.get(p.pid) for name, p in procs.items()} == {name: name for name in procs}
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_api_gives_the_same_answer_with_curves_and_hyperparameters(fw):
    from runwatch import get_all_run_status
    from runwatch.project import Project
    from runwatch.layouts import discover_runs, hyperparameters

    project = Project.at(fw["root"])
    keys = discover_runs(project)
    by_run = {s.run: s for s in get_all_run_status(keys, root=fw["root"], use_store=False).values()}
    cli = status_json(fw["root"])
    for name, s in by_run.items():
        assert (s.progress.completed_epochs, s.progress.total_epochs) == (cli[name]["completed_epochs"], cli[name]["total_epochs"]), name
    y = by_run["yolo/complete"]
    assert [e.index for e in y.details.epochs] == [0, 1, 2] and all("metrics/mAP50-95(B)" in e.scores and "fitness" in e.scores for e in y.details.epochs)
    assert len(by_run["mm/work_dirs/toy_complete"].details.epochs) == 3 and "acc" in by_run["mm/work_dirs/toy_complete"].details.epochs[0].scores
    hp = hyperparameters(project, os.path.join(fw["root"], "yolo", "complete"))
    assert hp["epochs"] == 3 and hp["imgsz"] == 64 and "lr0" in hp
    assert hyperparameters(project, fw["timm_dirs"]["loss"])["eval_metric"] == "loss"
    mh = hyperparameters(project, os.path.join(fw["root"], "mm", "work_dirs", "toy_complete"))
    assert mh["optim_wrapper.optimizer.lr"] == 0.1 and mh["train_cfg.max_epochs"] == 3
    kh = hyperparameters(project, os.path.join(fw["root"], "keras", "complete"))  # the .keras checkpoint's compile()
    assert kh["optimizer"] == "SGD" and kh["optimizer_config.learning_rate"] == pytest.approx(0.05) and kh["loss"] == "mse"


def test_server_shows_the_same_runs(fw):
    import urllib.request

    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    cli = status_json(fw["root"])
    with BackgroundServer(fw["root"], sweep_interval=3600, monitor=ProcessSnapshot()) as srv:
        with urllib.request.urlopen(srv.base + "api/runs", timeout=30) as r:
            body = json.loads(r.read())
    records = body["runs"] if isinstance(body, dict) else body
    api = {rec["run"]: rec for rec in records}
    assert set(api) == set(cli)
    for name in ("yolo/complete", "yolo/early", "mm/work_dirs/toy_iters", "keras/complete"):
        for k in ("completed_epochs", "total_epochs", "early_stopped", "main_best", "completed_steps", "runner_type"):
            assert api[name][k] == cli[name][k], (name, k)


def test_forced_layout(fw):
    from runwatch.project import Project
    from runwatch.layouts import discover_runs
    from runwatch.settings import load_settings

    for layout, part in (("ultralytics", "/yolo/"), ("timm", "/timm/"), ("mmengine", "/work_dirs/"), ("keras", "/keras/")):
        keys = discover_runs(Project.at(fw["root"], load_settings(fw["root"], layout=layout)))
        assert keys and all(part in k for k in keys), layout


def test_killed_runs_read_exited_at_once_or_unknown_where_nothing_tells(fw):
    status_json(fw["root"], local=True)  # their processes seen (remembered in the cache dir)
    for p in fw["held"].values():
        p.send_signal(signal.SIGKILL)
        p.wait()
    t0 = time.monotonic()
    got = status_json(fw["root"], local=True)  # no sleep_time: their files are fresh, their processes decide
    took = time.monotonic() - t0
    for name in ("yolo/hold", "timm/hold", "mm/work_dirs/toy_hold", "mm/work_dirs/toy_pyhold", "keras/hold"):
        r = got[name]
        assert (r["status"], r["reason"]) == ("failed", "exited") and r["completed_epochs"] == 2 and not r["early_stopped"], (name, r["status"], r["reason"])
        assert "has exited" in r["reason_detail"], (name, r["reason_detail"])
    assert any("BackupAndRestore holds a backup" in w for w in got["keras/hold"]["warnings"])  # interrupted: told by its backup
    # without BackupAndRestore nothing tells a killed Keras run from a finished one
    k = got["keras/plainhold"]
    assert (k["status"], k["reason"]) == ("unknown", "end_unknown") and "has exited; its files cannot tell" in k["reason_detail"], k
    assert took < 30, took  # one CLI call (a few seconds on a loaded machine), no waiting for silence


def test_finished_keras_runs_without_a_process_read_unknown(fw):
    got = status_json(fw["root"], sleep_time=0)
    for name in ("keras/complete", "keras/early"):  # BackupAndRestore removed its folder: no sign of how fit() ended
        r = got[name]
        assert (r["status"], r["reason"]) == ("unknown", "end_unknown") and r["completed_epochs"] >= 2, (name, r["status"], r["reason"])
        assert r["reason_detail"].startswith("silent since") and "no live process of it was seen" in r["reason_detail"]
    assert got["keras/crash"]["status"] == "failed"  # its backup is still there: interrupted


def test_mmengine_total_from_the_message_hub_is_decoded_once_per_checkpoint(fw, tmp_path, monkeypatch):
    """A Runner from Python arguments: its total is MMEngine's own record (RuntimeInfoHook writes max_epochs /
    max_iters into the message hub, every checkpoint saves it), decoded once per checkpoint file and kept with
    the run's stored progress: a new process (here: every memo reset) does not decode it again. A dumped config
    that names the total is read instead, and no checkpoint is decoded at all."""
    import shutil

    import runwatch
    import runwatch.layouts.mmengine as mm
    from runwatch import get_all_run_status

    src = os.path.join(fw["root"], "mm", "work_dirs")
    root = str(tmp_path / "copy")
    for name in ("toy_pyargs", "toy_complete"):
        shutil.copytree(os.path.join(src, name), os.path.join(root, "work_dirs", name))
    decoded: list[str] = []
    real = mm.read_torch_file
    monkeypatch.setattr(mm, "read_torch_file", lambda path: (decoded.append(os.path.basename(path)), real(path))[1])
    py, cfg = os.path.join(root, "work_dirs", "toy_pyargs"), os.path.join(root, "work_dirs", "toy_complete")

    def scan():
        runwatch.reset()  # a new process: only runwatch's own files (the progress store) carry over
        got = get_all_run_status([py, cfg], root=root, find_processes=False)
        return got[py].progress, got[cfg].progress

    p, c = scan()
    assert (p.completed_epochs, p.total_epochs, c.total_epochs) == (3, 3, 3) and decoded == ["epoch_3.pth"]
    time.sleep(1.1)
    scalars = next(os.path.join(dp, f) for dp, _, fs in os.walk(py) for f in fs if f == "scalars.json")
    with open(scalars, "a") as f:  # (our copy) the run logs on: observed again, its checkpoint unchanged
        f.write('{"lr": 0.1, "loss": 0.5, "time": 0.01, "epoch": 3, "iter": 12, "step": 12}\n')
    p, _ = scan()
    assert p.total_epochs == 3 and decoded == ["epoch_3.pth"]
    shutil.copy(os.path.join(py, "epoch_3.pth"), os.path.join(py, "epoch_4.pth"))  # a newer checkpoint: decoded, once
    p, _ = scan()
    p, _ = scan()
    assert p.total_epochs == 3 and decoded == ["epoch_3.pth", "epoch_4.pth"]

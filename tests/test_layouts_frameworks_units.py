"""The pieces of the YOLO / timm / MMEngine / Keras layouts on small hand-made inputs (fast; the real
runs are in test_layouts_frameworks.py): markers in a mixed tree, fitness, the dumped-config reader,
the JSON-lines tail, command lines -> run folders, and the Keras monitor found in a checkpoint name."""

from __future__ import annotations

import os

import pytest

from runwatch.layouts import LAYOUTS, discover_runs, process_matchers, run_for, runs_at
from runwatch.layouts.keras import monitored
from runwatch.layouts.mmengine import mmengine_folder, save_best, totals
from runwatch.layouts.timm import timm_folder
from runwatch.layouts.ultralytics import fitness, yolo_folder
from runwatch.project import Project
from runwatch.readers.dumped_config import parse_dumped_config, read_dumped_config
from runwatch.readers.jsonlines import JsonLinesTail


def _touch(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def mixed(tmp_path):
    r = str(tmp_path)
    _touch(f"{r}/runs/detect/train/args.yaml", "epochs: 3\n")
    _touch(f"{r}/runs/detect/train/results.csv", "epoch,time\n")
    os.makedirs(f"{r}/runs/detect/train/weights")
    _touch(f"{r}/output/train/20260101-000000-resnet50-224/args.yaml", "epochs: 3\n")
    _touch(f"{r}/output/train/20260101-000000-resnet50-224/summary.csv", "epoch,train_loss\n")
    _touch(f"{r}/work_dirs/faster/faster.py", "train_cfg = dict(max_epochs=12)\n")
    _touch(f"{r}/work_dirs/faster/20260101_000000/20260101_000000.log")
    _touch(f"{r}/keras_runs/a/log.csv", "epoch,loss,val_loss\n0,1.0,2.0\n")
    _touch(f"{r}/keras_runs/a/ckpt/model-01-2.000.keras")
    _touch(f"{r}/keras_runs/b/history.csv", "epoch,loss\n")  # a CSV with no Keras artifact: not a run
    _touch(f"{r}/lightning_logs/x/version_0/metrics.csv", "epoch,step,loss\n")
    _touch(f"{r}/lightning_logs/x/version_0/hparams.yaml", "lr: 1\n")
    _touch(f"{r}/outputs/bert/trainer_state.json", "{}")
    _touch(f"{r}/data/table.csv", "epoch,x\n")  # a data file that looks like a CSVLogger's: no artifact beside it
    return r


def test_each_folder_is_claimed_by_exactly_its_layout(mixed):
    project = Project.at(mixed)
    got = {os.path.relpath(k, mixed): run_for(project, k).layout.name for k in discover_runs(project)}
    assert got == {
        "runs/detect/train": "ultralytics",
        "output/train/20260101-000000-resnet50-224": "timm",
        "work_dirs/faster": "mmengine",
        "keras_runs/a": "keras",
        "lightning_logs/x/version_0": "lightning",
        "outputs/bert": "huggingface",
    }
    for layout in LAYOUTS:
        name = layout.name
        if name == "pylon":
            continue
        for k in discover_runs(project):
            names = frozenset(os.listdir(k))
            assert layout.is_run_dir(k, names) == (run_for(project, k).layout.name == name), (name, k)
    assert runs_at(project, f"{mixed}/work_dirs/faster/20260101_000000/20260101_000000.log") == [f"{mixed}/work_dirs/faster"]
    assert runs_at(project, f"{mixed}/keras_runs/a/ckpt/model-01-2.000.keras") == [f"{mixed}/keras_runs/a"]


def test_forced_layout_finds_only_its_runs(mixed):
    from runwatch.settings import load_settings

    for name in ("ultralytics", "timm", "mmengine", "keras"):
        keys = discover_runs(Project.at(mixed, load_settings(mixed, layout=name)))
        assert len(keys) == 1 and run_for(Project.at(mixed, load_settings(mixed, layout=name)), keys[0]).layout.name == name


def test_yolo_fitness_is_ultralytics_own():
    assert fitness({"metrics/mAP50(B)": 0.5, "metrics/mAP50-95(B)": 0.3}) == pytest.approx(0.1 * 0.5 + 0.9 * 0.3)
    seg = {"metrics/mAP50(B)": 0.5, "metrics/mAP50-95(B)": 0.3, "metrics/mAP50(M)": 0.4, "metrics/mAP50-95(M)": 0.2}
    assert fitness(seg) == pytest.approx(0.05 + 0.27 + 0.04 + 0.18)  # SegmentMetrics: box + mask
    assert fitness({"metrics/accuracy_top1": 0.6, "metrics/accuracy_top5": 0.9}) == pytest.approx(0.75)
    assert fitness({"train/box_loss": 1.0}) is None


def test_dumped_config_is_read_as_data_never_run(tmp_path):
    marker = tmp_path / "ran"
    src = f"""base = dict(lr=0.01)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=-0.9), clip=None)
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=1)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', save_best=['coco/bbox_mAP'], rule=['greater']))
layers = [1, 2, (3, 4)]
alias = base
evil = __import__('os').system('touch {marker}')
"""
    cfg, problem = parse_dumped_config(src)
    assert not marker.exists() and "evil" not in cfg and "evil" in problem
    assert cfg["optim_wrapper"]["optimizer"] == {"type": "SGD", "lr": 0.02, "momentum": -0.9} and cfg["alias"] == {"lr": 0.01}
    assert cfg["layers"] == [1, 2, (3, 4)]
    assert totals(cfg) == (12, None, False) and save_best(cfg) == ("coco/bbox_mAP", 1)
    assert totals({"train_cfg": {"type": "IterBasedTrainLoop", "max_iters": 100}}) == (None, 100, True)
    assert save_best({"default_hooks": {"checkpoint": {"save_best": "loss"}}}) == ("loss", -1)  # MMEngine's rule inference
    assert parse_dumped_config("x = (")[1].startswith("<config>: not a readable Python config")
    assert read_dumped_config(str(tmp_path / "missing.py")) == ({}, f"{tmp_path / 'missing.py'}: missing")


def test_jsonlines_tail_reads_only_what_was_appended(tmp_path):
    p = tmp_path / "scalars.json"
    p.write_text('{"loss": 1, "iter": 1}\n{"loss": 0.5, "it')
    t = JsonLinesTail(str(p))
    assert t.read() == [{"loss": 1, "iter": 1}]  # the half-written line waits
    with open(p, "a") as f:
        f.write('er": 2}\n[1, 2]\n')
    assert t.read() == [{"loss": 1, "iter": 1}, {"loss": 0.5, "iter": 2}] and "1 line(s) not a JSON object" in t.problem
    p.write_text('{"acc": 0.5}\n')  # rewritten smaller: read again from the start
    assert t.read() == [{"acc": 0.5}]
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    t = JsonLinesTail(str(fifo))
    assert t.read() == [] and "FIFO" in t.problem  # refused, never blocks


def test_command_lines_name_run_folders(tmp_path):
    assert yolo_folder(["yolo", "detect", "train", "data=coco8.yaml", "name=exp"]) == "runs/detect/exp"
    assert yolo_folder(["yolo", "segment", "train", "project=/p", "name=n"]) == "/p/n"
    assert yolo_folder(["yolo", "train", "data=x.yaml"]) is None  # train, train2...: Ultralytics picks the name
    assert timm_folder(["python", "train.py", "--data-dir", "d", "--output", "out", "--experiment", "e"]) == "out/e"
    assert timm_folder(["python", "train.py", "--output", "out"]) is None  # a dated folder
    assert mmengine_folder(["python", "tools/train.py", "configs/rtm/rtm_s.py"]) == "work_dirs/rtm_s"
    assert mmengine_folder(["python", "tools/train.py", "c.py", "--work-dir", "w"]) == "w"
    project = Project.at(str(tmp_path))

    def run_name_of_process(argv, cwd):
        text = " ".join(argv)
        found = [m.match(argv, text, cwd) for m in process_matchers(project) if m.is_candidate(text)]
        return next((f[0] for f in found if f is not None), None)

    assert run_name_of_process(["yolo", "train", "name=a"], str(tmp_path)) == "runs/detect/a"
    assert run_name_of_process(["python", "tools/train.py", "configs/x.py"], str(tmp_path / "sub")) == "sub/work_dirs/x"
    assert run_name_of_process(["yolo", "train", "project=/elsewhere", "name=a"], str(tmp_path)) is None


def test_keras_monitor_from_a_checkpoint_name():
    rows = [{"epoch": 0, "loss": 2.0, "val_loss": 1.23456, "val_acc": 0.5}, {"epoch": 1, "loss": 1.0, "val_loss": 0.98765, "val_acc": 0.75}]
    assert monitored(["ckpt/model-02-0.988.keras"], rows) == "val_loss"
    assert monitored(["weights.01-0.50.weights.h5"], rows) == "val_acc"
    assert monitored(["best.keras"], rows) is None  # a fixed name says nothing: no monitor, no direction

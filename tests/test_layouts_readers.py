"""The readers the framework layouts need, on hand-made files (the real writers are in test_layouts_real.py)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.torchpickle import Stub, plain, read_torch_file
from runwatch.readers.yamlfile import read_yaml_tolerant


def test_csv_tail_reads_only_appended_complete_lines_and_restarts_on_rewrite(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,train_loss\n0,0,1.5\n0,1,1.2\n0,2,1.")
    tail = CsvTail(str(p))
    assert tail.read() == [{"epoch": 0, "step": 0, "train_loss": 1.5}, {"epoch": 0, "step": 1, "train_loss": 1.2}]
    with open(p, "a") as f:
        f.write("1\n")
    assert tail.read()[-1] == {"epoch": 0, "step": 2, "train_loss": 1.1} and len(tail.rows) == 3
    # CSVLogger rewrites the file with a wider header when a new metric appears
    p.write_text("epoch,step,train_loss,val_loss\n0,0,1.5,\n0,2,,0.9\n")
    assert tail.read() == [{"epoch": 0, "step": 0, "train_loss": 1.5}, {"epoch": 0, "step": 2, "val_loss": 0.9}]
    os.unlink(p)
    assert tail.read() == [] and "missing" in tail.problem


def test_yaml_problems_name_the_file(tmp_path):
    p = tmp_path / "config.yaml"
    p.write_text("trainer: {max_epochs: 3\n")
    value, problem = read_yaml_tolerant(str(p))
    assert value is None and problem.startswith(str(p)) and "malformed YAML" in problem
    p.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    value, problem = read_yaml_tolerant(str(p))
    assert value is None and problem  # safe_load: tags that build objects are refused


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + _Evil.marker,))


def _torch_like(path, obj):
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=2)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())


def test_torch_files_are_read_as_data_never_run(tmp_path):
    marker = tmp_path / "ran"
    _Evil.marker = str(marker)
    p = tmp_path / "training_args.bin"
    _torch_like(p, {"callbacks": {"EarlyStopping{'monitor': 'val_loss'}": {"patience": 3}}, "evil": _Evil()})
    value, problem = read_torch_file(str(p))
    assert problem is None and not marker.exists()
    assert isinstance(value["evil"], Stub) and value["evil"].name == "posix.system"
    assert plain(value)["callbacks"]["EarlyStopping{'monitor': 'val_loss'}"]["patience"] == 3
    bad = tmp_path / "legacy.bin"
    bad.write_bytes(b"\x80\x02}q\x00.")
    assert read_torch_file(str(bad))[0] is None and "not a zip-format" in read_torch_file(str(bad))[1]


def test_tensorboard_missing_says_how_to_get_it(tmp_path, monkeypatch):
    import builtins

    from runwatch.readers import tfevents

    real_import = builtins.__import__

    def no_tb(name, *a, **k):
        if name.startswith("tensorboard"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    p = tmp_path / "events.out.tfevents.1.host.1.0"
    p.write_bytes(b"\0" * 16)
    monkeypatch.setattr(builtins, "__import__", no_tb)
    tail = tfevents.EventTail(str(p))
    assert tail.read() == [] and tail.problem == tfevents.TENSORBOARD_MISSING and "runwatch[tensorboard]" in tail.problem


def test_layout_setting_is_validated(tmp_path):
    import pytest

    from runwatch.settings import SettingsError, load_settings

    (tmp_path / "runwatch.toml").write_text('layout = "tensorflow"\n')
    with pytest.raises(SettingsError, match="layout"):
        load_settings(tmp_path)
    (tmp_path / "runwatch.toml").write_text('layout = "lightning"\n')
    assert load_settings(tmp_path).layout == "lightning"


def test_hostile_state_files_cost_only_their_own_run(tmp_path):
    import json

    from runwatch import get_all_run_status
    from runwatch.project import Project
    from runwatch.layouts import discover_runs

    cases = {
        "outputs/a": {"global_step": "x", "max_steps": "y", "stateful_callbacks": "zzz", "log_history": "nope"},
        "outputs/b": {
            "global_step": 3,
            "max_steps": 10,
            "stateful_callbacks": {"EarlyStoppingCallback": ["bad"], "TrainerControl": {"args": 5}},
            "log_history": [1, None, {"eval_x": "NaN"}, {"eval_loss": 1.0, "step": 3}],
            "best_global_step": True,
            "best_model_checkpoint": 7,
        },
        "outputs/c": [1, 2],
    }
    for rel, state in cases.items():
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "trainer_state.json").write_text(json.dumps(state))
    (tmp_path / "outputs/d").mkdir()
    (tmp_path / "outputs/d/trainer_state.json").write_text("{half")
    v = tmp_path / "lightning_logs/x/version_0"
    (v / "checkpoints").mkdir(parents=True)
    (v / "metrics.csv").write_bytes(b"epoch,step,val_loss\nzz,\xff,1\n1,2\n")
    (v / "config.yaml").write_text("trainer: [unclosed\n")
    (v / "checkpoints" / "epoch=1-step=4.ckpt").write_bytes(b"not a zip")
    out = get_all_run_status(discover_runs(Project.at(str(tmp_path))), root=str(tmp_path), use_store=False)
    by = {s.run: s for s in out.values()}
    assert set(by) == {"outputs/a", "outputs/b", "outputs/c", "outputs/d", "lightning_logs/x/version_0"}
    assert by["outputs/b"].progress.completed_steps == 3 and by["outputs/b"].progress.latest_score == {"eval_loss": 1.0}
    assert any("malformed" in w for w in by["outputs/d"].progress.warnings)
    lx = by["lightning_logs/x/version_0"].progress
    assert lx.completed_epochs == 2 and any("config.yaml" in w and "malformed YAML" in w for w in lx.warnings)


def test_a_log_the_lab_names_gives_liveness_and_the_error(tmp_path):
    import json

    from runwatch import get_all_run_status
    from runwatch.project import Project
    from runwatch.layouts import discover_runs
    from runwatch.settings import load_settings

    run = tmp_path / "outputs" / "r"
    (run / "checkpoint-2").mkdir(parents=True)
    (run / "checkpoint-2" / "trainer_state.json").write_text(
        json.dumps({"global_step": 2, "max_steps": 8, "epoch": 1.0, "num_train_epochs": 4, "log_history": []})
    )
    (run / "train.log").write_text('Traceback (most recent call last):\n  File "t.py", line 3, in <module>\nRuntimeError: CUDA out of memory\n')
    settings = load_settings(str(tmp_path), trainer_log_pattern="train*.log")
    out = get_all_run_status(discover_runs(Project.at(str(tmp_path), settings)), root=str(tmp_path), settings=settings, use_store=False, sleep_time=0)
    (s,) = out.values()
    assert s.progress.error_message == "RuntimeError: CUDA out of memory" and s.details.logs[0][0] == "train.log"
    assert (s.progress.completed_epochs, s.progress.completed_steps, s.progress.total_steps) == (1, 2, 8) and s.status == "failed"


def test_live_index_follows_a_changed_hf_run(tmp_path):
    import json

    from runwatch.project import Project
    from runwatch.live.index import LiveIndex

    run = tmp_path / "outputs" / "r"

    def save(step):
        d = run / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 8, "epoch": step / 2, "num_train_epochs": 4, "log_history": []}))
        return d / "trainer_state.json"

    save(2)
    index = LiveIndex(Project.at(str(tmp_path)), use_store=False)
    index.full_scan()
    _, recs = index.records()
    assert [(r["run"], r["completed_steps"]) for r in recs] == [("outputs/r", 2)]
    path = save(6)
    delta = index.apply_changes([str(path)])
    assert delta is not None
    _, recs = index.records()
    assert [(r["run"], r["completed_steps"], r["completed_epochs"]) for r in recs] == [("outputs/r", 6, 3)]


def test_dashboard_follows_an_hf_run_through_the_file_watcher(tmp_path):
    import json
    import time
    import urllib.request

    from runwatch.process_info import ProcessSnapshot
    from runwatch.server import BackgroundServer

    run = tmp_path / "outputs" / "r"

    def save(step):
        d = run / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 8, "epoch": step / 2, "num_train_epochs": 4, "log_history": []}))

    def steps(srv):
        with urllib.request.urlopen(srv.base + "api/runs", timeout=30) as r:
            body = json.loads(r.read())
        return {rec["run"]: rec["completed_steps"] for rec in (body["runs"] if isinstance(body, dict) else body)}

    save(2)
    with BackgroundServer(str(tmp_path), sweep_interval=3600, monitor=ProcessSnapshot()) as srv:
        assert steps(srv) == {"outputs/r": 2}
        save(6)
        end = time.time() + 30
        while steps(srv) != {"outputs/r": 6}:
            assert time.time() < end, "the watcher never saw the new checkpoint"
            time.sleep(0.2)


def test_pylon_adapter_answers_as_the_existing_code(tmp_path):
    from runwatch.project import Project
    from runwatch.layouts import BY_NAME
    from runwatch.progress_tracking.progress_tracker_factory import create_progress_tracker
    from runwatch.testing.generator import generate_tree

    generate_tree(str(tmp_path), n_runs=4)
    project = Project.at(str(tmp_path))
    pylon = BY_NAME["pylon"]
    configs = pylon.find_runs(project)
    assert configs == project.discover_configs() and configs
    c = configs[0]
    wd = pylon.work_dir(project, c)
    assert wd == project.work_dir(c)
    assert pylon.run_of_path(project, wd + "/epoch_0/validation_scores.json") == c
    facts = pylon.facts(project, c)
    t = pylon.tracker(project, c, facts)
    assert t.get_progress().to_dict() == create_progress_tracker(wd, facts, settings=project.settings).get_progress().to_dict()

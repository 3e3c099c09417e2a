"""The registry of layouts is the one list: settings, docs, CLI help and detection all read it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_layout_is_a_layout_with_a_unique_name_and_title():
    from runwatch.layouts import BY_NAME, LAYOUT_NAMES, LAYOUTS, Layout

    assert LAYOUTS and all(isinstance(layout, Layout) for layout in LAYOUTS)
    assert len(BY_NAME) == len(LAYOUTS) and all(layout.name and layout.title for layout in LAYOUTS)
    assert LAYOUT_NAMES == ("auto", *(layout.name for layout in LAYOUTS))


def test_settings_docs_and_help_name_every_layout(tmp_path):
    from runwatch.layouts import LAYOUTS
    from runwatch.settings import SettingsError, load_settings
    from runwatch.settings_doc import render

    for layout in LAYOUTS:
        (tmp_path / "runwatch.toml").write_text(f'layout = "{layout.name}"\n')
        assert load_settings(tmp_path).layout == layout.name
    (tmp_path / "runwatch.toml").write_text('layout = "no-such-layout"\n')
    with pytest.raises(SettingsError, match="|".join(layout.name for layout in LAYOUTS)):
        load_settings(tmp_path)
    doc = render()
    out = subprocess.run([sys.executable, "-m", "runwatch.cli", "--help"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    for layout in LAYOUTS:
        assert f"`{layout.name}`" in doc and layout.name in out


def test_a_layout_declared_by_its_capabilities_not_its_name(tmp_path):
    """A layout that finds no runs by markers and reads no configs: every default answers, nothing breaks."""
    from runwatch.layouts.base import Layout, PathChanges
    from runwatch.project import Project

    project = Project.at(str(tmp_path))
    bare = Layout()
    assert bare.find_runs(project) == [] and not bare.has_runs(project) and bare.runs_at(project, str(tmp_path)) is None
    assert bare.run_of_key(project, str(tmp_path)) is None and bare.process_matcher(project, False) is None
    ch = PathChanges()
    assert bare.map_change(project, str(tmp_path), {}, ch) is False and ch == PathChanges()
    assert bare.facts_batch(project, ["x"])["x"].path == "x" and bare.hyperparameters(project, "x") == {}
    with pytest.raises(NotImplementedError):
        bare.tracker(project, "x", bare.facts(project, "x"))


def test_a_folder_of_framework_runs_is_a_project_with_no_configs(tmp_path):
    """A folder with no configs/ is a project whose runs are its marker runs; 'gone' means the folder is gone."""
    import json

    from runwatch import discover_runs
    from runwatch.live.index import LiveIndex
    from runwatch.process_info import ProcessSnapshot
    from runwatch.project import Project

    run = tmp_path / "outputs" / "bert"
    (run / "checkpoint-4").mkdir(parents=True)
    state = {"global_step": 4, "max_steps": 8, "num_train_epochs": 2, "epoch": 1.0, "log_history": [{"eval_loss": 0.5, "step": 4, "epoch": 1.0}]}
    (run / "checkpoint-4" / "trainer_state.json").write_text(json.dumps(state))
    assert discover_runs(str(tmp_path)) == [str(run)]
    idx = LiveIndex(Project.at(str(tmp_path)), monitor=ProcessSnapshot(), use_store=False)
    idx.full_scan()
    assert idx.project_present() and [e.rel for e in idx.entries.values()] == ["outputs/bert"]
    rec = next(iter(idx.entries.values())).record
    assert (rec["completed_epochs"], rec["total_epochs"]) == (1, 2)
    # A second checkpoint reaches the index through the changed path alone.
    (run / "checkpoint-8").mkdir()
    (run / "checkpoint-8" / "trainer_state.json").write_text(json.dumps({**state, "global_step": 8, "epoch": 2.0}))
    delta = idx.apply_changes([str(run / "checkpoint-8" / "trainer_state.json")])
    assert delta is not None and delta.changed[0]["completed_epochs"] == 2
    # A new run folder appears: found from the folder's event alone.
    other = tmp_path / "outputs" / "gpt"
    (other / "checkpoint-4").mkdir(parents=True)
    (other / "checkpoint-4" / "trainer_state.json").write_text(json.dumps(state))
    delta = idx.apply_changes([str(other)])
    assert delta is not None and [r["run"] for r in delta.added] == ["outputs/gpt"]
    # The folder removed: its run is gone.
    import shutil

    shutil.rmtree(other)
    delta = idx.apply_changes([str(other)])
    assert delta is not None and len(delta.removed) == 1


def test_a_new_top_folder_of_runs_is_watched_within_seconds(tmp_path):
    """A run started into a folder the watcher did not watch yet (outputs2/) reaches the index in seconds."""
    import asyncio
    import json
    import time

    from runwatch.live.index import LiveIndex
    from runwatch.live.watcher import Watcher
    from runwatch.process_info import ProcessSnapshot
    from runwatch.project import Project

    def hf_run(folder, step):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        state = {"global_step": step, "max_steps": 8, "num_train_epochs": 2, "epoch": step / 4, "log_history": []}
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))

    hf_run(tmp_path / "outputs" / "a", 4)
    idx = LiveIndex(Project.at(str(tmp_path)), monitor=ProcessSnapshot(), use_store=False)
    idx.full_scan()

    async def scenario():
        w = Watcher(idx, polling=False, sweep_interval=0.5)
        task = asyncio.create_task(w.run())
        await asyncio.sleep(1.0)
        t = time.monotonic()
        await asyncio.to_thread(hf_run, tmp_path / "outputs2" / "b", 4)
        while time.monotonic() - t < 20 and "outputs2/b" not in idx.by_rel:
            await asyncio.sleep(0.1)
        took = time.monotonic() - t
        w.stop()
        await asyncio.wait_for(task, timeout=10)
        return took

    took = asyncio.run(scenario())
    assert "outputs2/b" in idx.by_rel and took < 10, took

"""`--exec-configs` and the `exec_configs` setting reach the config reader from every surface."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "config_corpus", "exec_project")


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(CORPUS, root)
    for name in ("fails.py", "sleeps.py"):
        os.remove(root / "configs" / name)
    (root / "logs" / "loop" / "epoch_0").mkdir(parents=True)
    return root


def run_status(root, *args, marker):
    env = {**os.environ, "RUNWATCH_MARKER_DIR": str(marker)}
    out = subprocess.run(
        [sys.executable, "-m", "runwatch.cli", "status", "--json", "--no-local", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["runs"][0]


def test_static_reading_cannot_evaluate_the_loop(project, tmp_path):
    marker = tmp_path / "marker"
    marker.mkdir()
    rec = run_status(project, marker=marker)
    assert rec["total_epochs"] is None
    assert os.listdir(marker) == []  # static reading never ran the file


def test_exec_configs_flag_runs_the_config_in_a_subprocess(project, tmp_path):
    marker = tmp_path / "marker"
    marker.mkdir()
    rec = run_status(project, "--exec-configs", marker=marker)
    assert rec["runner_type"] == "multi_stage"
    assert rec["total_epochs"] == 30  # issue 19: 3 stages in one work dir end at the largest (10, 20, 30)
    ran = os.listdir(marker)
    assert len(ran) == 1 and ran[0].startswith("pid-")


def test_exec_configs_setting(project, tmp_path):
    marker = tmp_path / "marker"
    marker.mkdir()
    (project / "runwatch.toml").write_text("exec_configs = true\n")
    assert run_status(project, marker=marker)["total_epochs"] == 30  # one work dir: the largest stage (issue 19)


def test_exec_configs_setting_must_be_boolean(project, tmp_path):
    (project / "runwatch.toml").write_text("exec_configs = 'yes'\n")
    out = subprocess.run([sys.executable, "-m", "runwatch.cli", "status", "--root", str(project)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "runwatch.toml" in out.stderr and "exec_configs" in out.stderr and "Traceback" not in out.stderr

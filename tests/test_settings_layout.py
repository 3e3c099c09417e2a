"""Project settings and the config <-> work dir mapping."""

from __future__ import annotations

import pytest

from runwatch import Project, SettingsError, load_settings
from runwatch.project import LayoutError, find_project_root


def test_defaults_are_pylon(tmp_path):
    s = load_settings(tmp_path)
    assert s.configs_dir == "configs" and s.logs_dir == "logs"
    assert s.trainer_expected_files == ("training_losses.pt", "optimizer_buffer.json", "validation_scores.json")
    assert s.sleep_time is None and s.outdated_days == 30  # None: adaptive (issue 12)
    assert s.parse_epoch_dir("epoch_12") == 12 and s.parse_epoch_dir("epoch_x") is None and s.parse_epoch_dir("epoch_01") is None


def test_runwatch_toml(tmp_path):
    (tmp_path / "runwatch.toml").write_text(
        'configs_dir = "exp"\nlogs_dir = "out"\nepoch_dir_pattern = "ep{n}"\nexpected_files = ["a.bin"]\n'
        'trainer_log_pattern = "log*.txt"\nsleep_time = 180\noutdated_days = 120\n'
    )
    s = load_settings(tmp_path)
    assert (s.configs_dir, s.logs_dir, s.trainer_expected_files, s.sleep_time, s.outdated_days) == ("exp", "out", ("a.bin",), 180, 120)
    assert s.parse_epoch_dir("ep3") == 3
    p = Project.at(tmp_path)
    assert p.work_dir(str(tmp_path / "exp" / "a" / "b.py")) == str(tmp_path / "out" / "a" / "b")


def test_pyproject_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n[tool.runwatch]\nsleep-time = 60\n')
    assert load_settings(tmp_path).sleep_time == 60


@pytest.mark.parametrize(
    "text,needle",
    [
        ("sleep_time = 'soon'", "sleep_time"),
        ("colour = 1", "unknown runwatch setting 'colour'"),
        ("epoch_dir_pattern = 'epoch'", "{n}"),
        ("progress_json = 'sometimes'", "progress_json"),
        ("this is not toml", "cannot read settings"),
    ],
)
def test_bad_settings_name_file_and_key(tmp_path, text, needle):
    (tmp_path / "runwatch.toml").write_text(text)
    with pytest.raises(SettingsError) as e:
        load_settings(tmp_path)
    assert "runwatch.toml" in str(e.value) and needle in str(e.value)


def test_mapping_and_templates(tmp_path):
    (tmp_path / "configs" / "common").mkdir(parents=True)
    (tmp_path / "configs" / "a").mkdir()
    (tmp_path / "configs" / "a" / "x.py").write_text("config = {}")
    (tmp_path / "configs" / "a" / "__init__.py").write_text("")
    (tmp_path / "configs" / "common" / "t.py").write_text("config = {}")
    p = Project.at(tmp_path)
    assert p.discover_configs() == [str(tmp_path / "configs" / "a" / "x.py")]
    assert p.config_rel("configs/a/x.py") == "a/x" == p.config_rel("./configs/a/x.py")
    assert p.work_dir("configs/a/x.py", debug=True) == str(tmp_path / "logs" / "debug" / "a" / "x")
    with pytest.raises(LayoutError):
        p.config_rel("/etc/passwd")
    with pytest.raises(LayoutError):
        p.config_rel("configs/../../etc/x.py")
    assert find_project_root(tmp_path / "configs" / "a") == str(tmp_path)

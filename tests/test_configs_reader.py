"""The static config reader on a corpus written in every style of the reference (section 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runwatch.configs import (
    ClassRef,
    ConfigReadError,
    find_config_root,
    read_config,
    read_config_strict,
    read_configs,
)
from runwatch.settings import Settings

CORPUS = Path(__file__).parent / "config_corpus" / "project"
SSM_DIRS = {"mean_IoU": 1, "accuracy": 1, "mean_precision": 1, "mean_recall": 1, "mean_f1": 1}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A private copy: the reader writes its cache under the project root."""
    root = tmp_path / "project"
    shutil.copytree(CORPUS, root)
    return root


def read(project: Path, rel: str, **kw):
    return read_config(str(project / "configs" / rel), **kw)


def test_generated_style_file(project: Path) -> None:
    f = read(project, "benchmarks/generated/oscd_run_0.py")
    assert f.error is None
    assert f.runner == ClassRef("runners.trainers.supervised_single_task_trainer", "SupervisedSingleTaskTrainer")
    assert f.runner_kind == "trainer"
    assert f.epochs == 100
    assert f.early_stopping_patience == 10
    assert f.work_dir == "./logs/benchmarks/generated/oscd_run_0"
    assert f.directions == SSM_DIRS and f.first.directions_source == "source"
    assert "train_seeds" in f.keys and "block_1" in f.keys


def test_package_reexport_and_other_class_directions(project: Path) -> None:
    f = read(project, "benchmarks/cd/package_reexport.py")
    assert f.runner is not None and f.runner.dotted == "runners.trainers.multi_val_dataset_trainer.MultiValDatasetTrainer"
    assert f.runner_kind == "trainer"
    assert (f.epochs, f.early_stopping_patience) == (50, 5)
    assert f.first.metric == ClassRef("metrics.vision_2d.change_star_metric", "ChangeStarMetric")
    assert f.directions == {"change": SSM_DIRS, "semantic_1": SSM_DIRS, "semantic_2": SSM_DIRS}


def test_import_runners_attribute_chain_and_inherited_directions(project: Path) -> None:
    # runners/__init__.py raises at its end: found statically through its re-exports anyway.
    f = read(project, "benchmarks/cd/import_runners.py")
    assert f.runner == ClassRef("runners.trainers.buffer_trainer", "BufferTrainer")
    assert f.runner_kind == "trainer"
    assert f.epochs == 40
    assert f.work_dir == "./logs/benchmarks/cd/import_runners"
    assert f.directions == SSM_DIRS  # inherited from SemanticSegmentationMetric


def test_star_reexport_and_kind_by_inheritance(project: Path) -> None:
    f = read(project, "benchmarks/cd/gan_star_import.py")
    assert f.runner == ClassRef("runners.trainers.gan_trainers", "CSA_CDGAN_Trainer")
    assert f.runner_kind == "trainer"
    assert f.work_dir == "./logs/benchmarks/cd/gan_star_import"
    assert f.first.directions_source is None and f.directions is None


def test_evaluator_via_alias(project: Path) -> None:
    f = read(project, "evaluators/eval_registration.py")
    assert f.runner == ClassRef("runners.evaluators.base_evaluator", "BaseEvaluator")
    assert f.runner_kind == "evaluator"
    assert f.epochs is None
    assert f.directions == SSM_DIRS


def test_update_chain_across_config_modules(project: Path) -> None:
    f = read(project, "mtl/nyu_update.py")
    assert f.error is None, f.error
    assert f.runner == ClassRef("runners.trainers.supervised_multi_task_trainer", "SupervisedMultiTaskTrainer")
    assert f.epochs == 120  # 100 from the dataset config, then += 20
    assert f.early_stopping_patience == 15
    assert f.work_dir == "./logs/mtl/nyu_update"
    assert f.directions == {
        "depth_estimation": {"l1": -1, "rmse": -1, "delta1": 1},
        "normal_estimation": {"angle_mean": -1, "within_11_25": 1},
    }
    # The template and the dataset config were deep-copied, not mutated: reading them gives their own values.
    tpl = read(project, "common/templates/base_trainer_template.py")
    assert tpl.runner is None and tpl.epochs is None and tpl.work_dir is None
    assert not tpl.first.early_stopping_enabled and tpl.early_stopping_patience is None
    ds = read(project, "common/datasets/multi_task_learning/nyu_v2_f.py")
    assert ds.epochs == 100


def test_classes_defined_in_file(project: Path) -> None:
    f = read(project, "custom/in_file_class.py")
    assert f.runner == ClassRef("configs.custom.in_file_class", "LocalRunner")
    assert f.runner_kind == "trainer"
    assert f.directions == {"mae": -1, "nested": {"psnr": 1}}


def test_settings_then_heuristic(project: Path) -> None:
    f = read(project, "custom/outside_metric.py")
    assert f.directions == {"score": 1, "loss": -1} and f.first.directions_source == "settings"
    g = read(project, "custom/heuristic_metric.py")
    assert g.directions is None and g.first.directions_source == "heuristic"
    assert any("UnlistedMetric" in w and "guessed" in w for w in g.warnings)
    # Explicit settings replace the project's file.
    s = Settings(directions={"somewhere_else.metrics.UnlistedMetric": {"x": -1}})
    h = read(project, "custom/heuristic_metric.py", settings=s)
    assert h.directions == {"x": -1} and h.first.directions_source == "settings"


def test_multi_stage_list(project: Path) -> None:
    f = read(project, "multi_stage/two_stage.py")
    assert f.is_multi_stage and f.runner_kind == "multi_stage"
    # Issue 19: both stages train in one work dir, each up to its own epochs: 20 in all, not 30.
    assert [s.epochs for s in f.stages] == [10, 20] and f.epochs == 20
    assert [s.runner.name for s in f.stages if s.runner] == ["SupervisedSingleTaskTrainer", "BufferTrainer"]
    assert [s.runner_kind for s in f.stages] == ["trainer", "trainer"]
    assert not f.stages[0].early_stopping_enabled and f.stages[1].early_stopping_patience == 4


def test_multi_stage_runner_class(project: Path) -> None:
    f = read(project, "multi_stage/multistage_runner.py")
    assert not f.is_multi_stage
    assert f.runner_kind == "multi_stage" and f.epochs == 30


def test_import_cycle_is_a_warning_not_a_crash(project: Path) -> None:
    a = read(project, "cycles/a.py")
    b = read(project, "cycles/b.py")
    assert a.error is None and b.error is None
    assert any("import cycle" in w for w in a.warnings) and any("import cycle" in w for w in b.warnings)
    assert b.epochs == 7


def test_unresolvable_import_gives_unknowns(project: Path) -> None:
    f = read(project, "broken/unresolvable.py")
    assert f.error is None
    assert f.runner_kind == "trainer"
    assert f.epochs is None and f.work_dir is None
    assert any("configs.does_not_exist.anywhere not found" in w for w in f.warnings)
    assert any("compute_work_dir" in w for w in f.warnings)


def test_undecidable_condition_makes_value_unknown(project: Path) -> None:
    f = read(project, "broken/dynamic.py")
    assert f.epochs is None
    assert any("condition" in w and "epochs" in w for w in f.warnings)


def test_syntax_error_names_file_and_line(project: Path) -> None:
    path = project / "configs" / "broken" / "syntax_error.py"
    f = read_config(str(path))
    assert f.error is not None and f.error.startswith(f"{path}:8: SyntaxError")
    assert f.stages == [] and f.runner_kind is None
    with pytest.raises(ConfigReadError, match="syntax_error.py:8"):
        read_config_strict(str(path))


def test_missing_config_and_wrong_type_and_unreadable(project: Path) -> None:
    f = read(project, "broken/no_config.py")
    assert f.error is not None and "no module-level `config`" in f.error
    g = read(project, "broken/config_not_dict.py")
    assert g.error is not None and "config_not_dict.py:1:" in g.error and "str" in g.error
    missing = read(project, "nope/absent.py")
    assert missing.error is not None and "absent.py:0: cannot read" in missing.error
    binary = project / "configs" / "broken" / "binary.py"
    binary.write_bytes(b"config = {'a': 1}\x00\xff\xfe")
    h = read_config(str(binary))
    assert h.error is not None and str(binary) in h.error


def test_raise_at_import_stops_reading(project: Path) -> None:
    f = read(project, "broken/raises.py")
    assert f.epochs == 4
    assert any("raises here" in w for w in f.warnings)


def test_root_discovery_and_path_spellings(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = project / "configs" / "benchmarks" / "cd" / "package_reexport.py"
    assert find_config_root(str(p)) == str(project)
    monkeypatch.chdir(project)
    for spelling in ("./configs/benchmarks/cd/package_reexport.py", "configs/benchmarks/cd/package_reexport.py", str(p)):
        f = read_config(spelling)
        assert f.path == spelling
        assert f.runner is not None and f.runner.name == "MultiValDatasetTrainer" and f.epochs == 50


def test_nested_configs_dir_uses_topmost(tmp_path: Path) -> None:
    nested = tmp_path / "proj" / "configs" / "group" / "configs"
    nested.mkdir(parents=True)
    (nested / "x.py").write_text("config = {'epochs': 3}\n")
    assert find_config_root(str(nested / "x.py")) == str(tmp_path / "proj")


def test_runner_without_sources_uses_class_name_rules(tmp_path: Path) -> None:
    cfg = tmp_path / "configs" / "x.py"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        "import runners\nfrom runners.evaluators import PCREvaluator\n"
        "config = [{'runner': runners.trainers.FooTrainer, 'epochs': 2}, {'runner': PCREvaluator}]\n"
    )
    f = read_config(str(cfg))
    assert [s.runner_kind for s in f.stages] == ["trainer", "evaluator"]
    assert f.stages[0].runner == ClassRef("runners.trainers", "FooTrainer")


def test_batch_matches_single_reads(project: Path) -> None:
    paths = sorted(str(p) for p in (project / "configs").rglob("*.py"))
    batch = read_configs(paths)
    assert list(batch) == paths
    for p in paths:
        single = read_config(p, use_cache=False)
        assert batch[p] == single, p

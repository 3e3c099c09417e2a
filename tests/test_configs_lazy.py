"""Lazy dict-literal values (evaluator.split_lazy / values.Lazy) must never change an answer.

Every file is read twice, deferred and with ``RUNWATCH_EAGER_CONFIGS=1``, and the facts
(errors, warnings with their line numbers, unknowns) must be identical; the cases below
are the ones where a deferred value could observe a later change if capture were wrong.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path

import pytest

from runwatch.configs import read_config, read_configs
from runwatch.configs.evaluator import LAZY_PREFIX, split_lazy
from runwatch.configs.loader import ModuleLoader
from runwatch.settings import Settings
from runwatch.testing.generator import generate_tree

CORPUS = Path(__file__).parent / "config_corpus"


def _facts(path: str, root: str, eager: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("RUNWATCH_EAGER_CONFIGS", "1" if eager else "0")
    facts = read_config(path, root=root, use_cache=False)
    return dataclasses.asdict(facts)


def _both(path: str, root: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    lazy = _facts(path, root, False, monkeypatch)
    eager = _facts(path, root, True, monkeypatch)
    assert lazy == eager, path
    return lazy


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


def _uses_lazy(path: Path) -> bool:
    return split_lazy(path.read_bytes(), {}) is not None


@pytest.mark.parametrize("path", sorted(str(p) for p in (CORPUS / "project" / "configs").rglob("*.py")), ids=lambda p: os.path.relpath(p, CORPUS))
def test_corpus_lazy_equals_eager(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _both(path, str(CORPUS / "project"), monkeypatch)


def test_corpus_exercises_laziness() -> None:
    lazy_files = [p for p in (CORPUS / "project" / "configs").rglob("*.py") if _uses_lazy(p)]
    assert len(lazy_files) >= 5  # otherwise the equivalence above proves little


def test_generated_tree_lazy_equals_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = generate_tree(str(tmp_path), n_runs=60, seed=5, multi_stage=2)
    root = tmp_path
    paths = sorted(str(p) for p in (root / "configs").rglob("*.py"))
    assert len(paths) >= 60
    assert sum(_uses_lazy(Path(p)) for p in paths) >= 50
    out = {}
    for eager in (False, True):
        monkeypatch.setenv("RUNWATCH_EAGER_CONFIGS", "1" if eager else "0")
        got = read_configs(paths, root=str(root), settings=Settings(), use_cache=False)
        out[eager] = {p: dataclasses.asdict(f) for p, f in got.items()}
    assert out[False] == out[True]
    assert any(f["stages"] and f["stages"][0]["epochs"] for f in out[False].values())
    del tree


RUNNER = """
class BaseTrainer: pass
class SupervisedSingleTaskTrainer(BaseTrainer): pass
"""


def _read_case(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str] | None = None) -> dict:
    files = {"runners/trainers/t.py": RUNNER, "configs/c.py": body, **(extra or {})}
    root = _project(tmp_path, files)
    assert _uses_lazy(root / "configs" / "c.py"), "the case must contain a deferrable block"
    return _both(str(root / "configs" / "c.py"), str(root), monkeypatch)


def _stage(facts: dict) -> dict:
    assert facts["error"] is None, facts["error"]
    return facts["stages"][0]


def test_rebinding_after_definition_keeps_the_old_binding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from runners.trainers.t import SupervisedSingleTaskTrainer
        x = 1
        config = {
            'runner': SupervisedSingleTaskTrainer,
            'model': {
                'a': x,
            },
        }
        x = 2
        config['epochs'] = config['model']['a']
    """,
        monkeypatch,
    )
    assert _stage(facts)["epochs"] == 1


def test_rebinding_a_class_name_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from runners.trainers.t import SupervisedSingleTaskTrainer as R
        config = {
            'epochs': 3,
            'holder': {'r': R, 'n': 5},
        }
        R = None
        config['runner'] = config['holder']['r']
        config['epochs'] = config['holder'].get('n')
    """,
        monkeypatch,
    )
    assert _stage(facts)["runner_kind"] == "trainer"
    assert _stage(facts)["epochs"] == 5


def test_mutation_through_nested_subscript_and_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from runners.trainers.t import SupervisedSingleTaskTrainer
        config = {
            'runner': SupervisedSingleTaskTrainer,
            'opt': {
                'args': {'epochs': 1},
            },
            'early_stopping': {'class': None, 'args': {'enabled': True, 'epochs': 2}},
        }
        config['opt']['args']['epochs'] = 7
        es = config['early_stopping']
        es['args']['epochs'] = 9
        config['epochs'] = config['opt']['args']['epochs']
    """,
        monkeypatch,
    )
    assert _stage(facts)["epochs"] == 7
    assert _stage(facts)["early_stopping_patience"] == 9


def test_update_deepcopy_and_comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        import copy
        from runners.trainers.t import SupervisedSingleTaskTrainer
        base = {
            'runner': SupervisedSingleTaskTrainer,
            'model': {'depth': 4, 'width': [1, 2]},
        }
        config = {}
        config.update(base)
        snapshot = copy.deepcopy(config)
        config['model']['depth'] = 6
        same = snapshot['model'] == {'depth': 4, 'width': [1, 2]}
        config['epochs'] = snapshot['model']['depth'] + (10 if same else 0) + len(config['model'])
        shared = base['model'] is config['model']
        if not shared:
            raise ValueError('aliasing lost')
    """,
        monkeypatch,
    )
    assert _stage(facts)["epochs"] == 16
    assert facts["warnings"] == []


def test_values_items_and_len_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from runners.trainers.t import SupervisedSingleTaskTrainer
        config = {
            'runner': SupervisedSingleTaskTrainer,
            'sizes': {'a': 2, 'b': 3},
        }
        total = 0
        for k, v in config['sizes'].items():
            total += v
        config['epochs'] = total + sum(config['sizes'].values()) + len(str(config['sizes']))
    """,
        monkeypatch,
    )
    assert _stage(facts)["epochs"] == 5 + 5 + len(str({"a": 2, "b": 3}))


def test_undefined_and_mutable_names_are_read_at_definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from runners.trainers.t import SupervisedSingleTaskTrainer
        lst = [1]
        config = {
            'runner': SupervisedSingleTaskTrainer,
            'a': {'n': len(lst), 'later': later},
        }
        lst.append(2)
        later = 3
        config['epochs'] = config['a']['n']
        config['work_dir'] = config['a']['later']
    """,
        monkeypatch,
    )
    assert _stage(facts)["epochs"] == 1
    assert any("work_dir unknown" in w and "'later' is not defined" in w for w in facts["warnings"])


def test_unknowns_keep_their_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from runners.trainers.t import SupervisedSingleTaskTrainer
        import torch
        config = {
            'runner': SupervisedSingleTaskTrainer,
            'sched': {
                'x': 1,
                'n': torch.cuda.device_count() + 1,
            },
        }
        config['epochs'] = config['sched']['n']
    """,
        monkeypatch,
    )
    assert any("c.py:8:" in w for w in facts["warnings"]), facts["warnings"]


def test_syntax_error_inside_a_block_is_the_whole_files_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = """
        config = {
            'epochs': 3,
            'model': {
                'a': 1 2,
            },
        }
    """
    root = _project(tmp_path, {"configs/c.py": body})
    facts = _both(str(root / "configs" / "c.py"), str(root), monkeypatch)
    assert facts["error"] is not None and ":5: SyntaxError" in facts["error"]


def test_import_of_config_module_with_deferred_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from configs.base import config as base
        config = {
            'more': {'k': 1},
        }
        config.update(base)
        config['epochs'] = config['model']['args']['epochs']
    """,
        monkeypatch,
        {
            "configs/base.py": """
        from runners.trainers.t import SupervisedSingleTaskTrainer
        config = {
            'runner': SupervisedSingleTaskTrainer,
            'model': {
                'args': {'epochs': 12},
            },
        }
    """
        },
    )
    assert _stage(facts)["epochs"] == 12


def test_cycle_with_deferred_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _read_case(
        tmp_path,
        """
        from configs.b import x
        config = {
            'epochs': 2,
            'm': {'v': x},
        }
        config['work_dir'] = config['m']['v']
    """,
        monkeypatch,
        {"configs/b.py": "from configs.c import config\nx = {'q': {'r': 1},}\n"},
    )
    assert any("import cycle" in w for w in facts["warnings"])


def test_unforced_values_cost_no_steps() -> None:
    from runwatch.configs.evaluator import ModuleEvaluator, parse

    src = b"config = {\n    'epochs': 3,\n    'big': {'xs': [" + b", ".join(b"(%d, 'a')" % i for i in range(3000)) + b"]},\n}\n"
    split = split_lazy(src, {})
    assert split is not None
    ev = ModuleEvaluator("c.py", "configs.c")
    ev.lazy = split[1]
    ns = ev.run(parse(split[0], "c.py"))
    assert ev._steps < 50
    eager = ModuleEvaluator("c.py", "configs.c")
    eager_ns = eager.run(parse(src, "c.py"))
    assert ns["config"]["big"] == eager_ns["config"]["big"]
    assert ev._steps == eager._steps  # forcing counts exactly the eager steps


def test_split_lazy_declines_unsafe_sources() -> None:
    assert split_lazy(b"x = '''\n'k': {1: 2},\n'''\n", {}) is None
    assert split_lazy(b"config = {\n    'a': {'b': 1},\n}\n" + LAZY_PREFIX.encode(), {}) is None
    got = split_lazy(b"config = {\n    'a': {'b': 1}, 'c': {'d': 2},\n}\n", {})
    assert got is None  # two values on one line: not one block, left to the full parse


def test_escape_hatch_disables_laziness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWATCH_EAGER_CONFIGS", "1")
    assert ModuleLoader(str(CORPUS / "project")).lazy is False
    monkeypatch.delenv("RUNWATCH_EAGER_CONFIGS")
    assert ModuleLoader(str(CORPUS / "project")).lazy is True

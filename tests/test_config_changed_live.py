"""The changed-config check answered from the facts reader's own evaluation (issue 30).

The facts batch evaluates every config lazily, with long int lists elided; the check walks
only the launch record's keys of that evaluation (``config_diff.live_differences``). Its
answers must be the full comparison's, message for message: every case here is compared
with ``config_changed._compare`` (a full, eager parse and evaluation of the file).
"""

from __future__ import annotations

import functools
import os
import time

import pytest

import runwatch
from runwatch.configs import read_configs
from runwatch.progress_tracking import config_changed as cc
from runwatch.project import Project


class SupervisedSingleTaskTrainer:  # real classes: config.json holds their repr, as Pylon writes it
    pass


class SGD:
    pass


class SimMetric:
    pass


def _helper(x: int) -> int:
    return x


SEEDS = [1000 + 7 * i for i in range(100)]
HEADER = "import torch\nfrom runners.trainers import SupervisedSingleTaskTrainer, OtherTrainer\nfrom metrics.sim_metric import SimMetric\nimport functools\n\n"


def launch_record(**changes) -> str:
    """``repr`` of the config dict a real launch held (classes, a partial, a function, tuples, a seed list)."""
    config = {
        "runner": SupervisedSingleTaskTrainer,
        "work_dir": "./logs/x/run",
        "epochs": 4,
        "init_seed": 7,
        "train_seeds": list(SEEDS),
        "val_seeds": list(SEEDS),
        "optimizer": {"class": SGD, "args": {"lr": 0.01, "momentum": 0.9, "nesterov": True}},
        "metric": {"class": SimMetric, "args": {}},
        "model": {"class": functools.partial(SimMetric, 3), "args": {"sizes": (3, 4), "hook": _helper}},
        "flag": True,
    }
    for k, v in changes.items():
        if v is KeyError:
            config.pop(k)
        else:
            config[k] = v
    return repr(config)


def config_source(seeds: str | None = None, **replace: str) -> str:
    seeds = seeds or repr(SEEDS)
    body = {
        "runner": "SupervisedSingleTaskTrainer",
        "work_dir": "'./logs/x/run'",
        "epochs": "4",
        "init_seed": "7",
        "train_seeds": seeds,
        "val_seeds": repr(SEEDS),
        "optimizer": "{'class': torch.optim.SGD, 'args': {'lr': 0.01, 'momentum': 0.9, 'nesterov': True}}",
        "metric": "{'class': SimMetric, 'args': {}}",
        "model": "{\n        'class': functools.partial(SimMetric, 3),\n        'args': {'sizes': (3, 4), 'hook': None},\n    }",
        "flag": "True",
    }
    body.update(replace)
    lines = [f"    {k!r}: {v}," for k, v in body.items() if v != ""]
    return HEADER + "config = {\n" + "\n".join(lines) + "\n}\n"


def _setup(root, source: str, record: str, rel: str = "x/run") -> tuple[str, str]:
    cfg = root / "configs" / f"{rel}.py"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(source)
    wd = root / "logs" / rel
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "config.json").write_text(record)
    t = time.time()
    os.utime(wd / "config.json", (t - 100, t - 100))
    os.utime(cfg, (t, t))  # edited after the launch
    return str(cfg), str(wd / "config.json")


def answers(root, source: str, record: str, rel: str = "x/run", extra: dict[str, str] | None = None) -> tuple[bool, list[str] | None, list[str] | None]:
    """(answered by the facts batch's evaluation, its answer, the full comparison's answer)."""
    for name, text in (extra or {}).items():
        p = root / "configs" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    cfg, record_path = _setup(root, source, record, rel)
    runwatch.reset()
    project = Project.at(str(root))
    facts = read_configs([cfg], root=str(root), settings=project.settings, use_cache=False, on_evaluated=cc.launch_check(project))[cfg]
    assert not facts.warnings, facts.warnings
    key = cc._key(cfg, record_path)
    assert key
    live, answer = cc._known(key)
    full = cc._compare(cfg, record_path, str(root), project.settings.configs_dir)
    # and what the tracker asks gives the same, from the memo or from the full path
    assert cc.config_changes(cfg, os.path.dirname(record_path), str(root), project.settings.configs_dir) == full
    return live, answer, full


@pytest.fixture()
def root(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "logs").mkdir()
    # the framework's sources: the facts are complete (no warning), so the lazy read keeps its elided lists
    for pkg, module, text in (
        ("metrics", "sim_metric", "class SimMetric:\n    DIRECTIONS = {'acc': 1}\n"),
        ("runners", "trainers", "class SupervisedSingleTaskTrainer:\n    pass\n\n\nclass OtherTrainer:\n    pass\n"),
    ):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        (tmp_path / pkg / f"{module}.py").write_text(text)
    return tmp_path


CASES = {
    "unchanged": (config_source(), launch_record(), []),
    "a seed in a long list changed": (
        config_source(seeds=repr(SEEDS[:3] + [42] + SEEDS[4:])),
        launch_record(),
        [f"train_seeds[3] {SEEDS[3]} at launch, 42 now"],
    ),
    "a long list grew": (config_source(seeds=repr(SEEDS + [5])), launch_record(), ["train_seeds: 100 items at launch, 101 now"]),
    "a long list with negatives and a trailing comma": (
        config_source(seeds="[" + ", ".join(str(-s) for s in SEEDS) + ",]"),
        launch_record(train_seeds=[-s for s in SEEDS]),
        [],
    ),
    "a nested value, a bool for an int, a key added and one removed": (
        config_source(
            optimizer="{'class': torch.optim.SGD, 'args': {'lr': 0.001, 'momentum': 0.9, 'nesterov': 1}}",
            flag="",
            batch_size="8",
        ),
        launch_record(),
        ["optimizer.args.lr 0.01 at launch, 0.001 now", "optimizer.args.nesterov True at launch, 1 now", "flag removed", "batch_size added"],
    ),
    "a class changed, 4 and 4.0 the same number": (
        config_source(runner="OtherTrainer", epochs="4.0"),
        launch_record(),
        ["runner SupervisedSingleTaskTrainer at launch, OtherTrainer now"],
    ),
    "inside a block the facts reader left unevaluated": (
        config_source(model="{\n        'class': functools.partial(SimMetric, 3),\n        'args': {'sizes': (3, 5), 'hook': None},\n    }"),
        launch_record(),
        ["model.args.sizes[1] 4 at launch, 5 now"],
    ),
    "a partial record (another writer's): only its keys": (
        config_source(epochs="6", init_seed="8"),
        repr({"epochs": 4, "runner": "<class 'SupervisedSingleTaskTrainer'>"}),
        ["epochs 4 at launch, 6 now"],
    ),
}


SHORT = SEEDS[:10]  # a short list is parsed by the facts reader too: the walk compares it itself
CASES.update(
    {
        "short lists, a nested change (a whole record compared from the lazy read)": (
            config_source(seeds=repr(SHORT[:3] + [42] + SHORT[4:]), val_seeds=repr(SHORT), model="{'class': None, 'args': {'sizes': [3, 4]}}"),
            launch_record(train_seeds=SHORT, val_seeds=SHORT, model={"class": None, "args": {"sizes": (3, 5)}}),
            [f"train_seeds[3] {SHORT[3]} at launch, 42 now", "model.args.sizes[1] 5 at launch, 4 now"],
        ),
        "short lists, a value changed in a deferred block": (
            config_source(seeds=repr(SHORT), val_seeds=repr(SHORT), metric="{\n        'class': SimMetric,\n        'args': {'k': 2, 'j': [1]},\n    }"),
            launch_record(train_seeds=SHORT, val_seeds=SHORT, metric={"class": SimMetric, "args": {"k": 1}}),
            ["metric.args.k 1 at launch, 2 now", "metric.args.j added"],
        ),
    }
)


@pytest.mark.parametrize("case", list(CASES))
def test_live_answer_is_the_full_comparisons(root, case):
    source, record, expected = CASES[case]
    live, answer, full = answers(root, source, record)
    assert full == expected
    assert live and answer == full  # answered from the facts batch's evaluation, the same words


@pytest.mark.parametrize(
    "extra",
    [
        "config['n_seeds'] = len(config['train_seeds'])\n",  # the same Unknown object as the elided list
        "config['init_seed'] = len(config['train_seeds'])\n",
        "config['val_seeds'].append(5)\n",
        "s = config['val_seeds']\ns += [5]\nconfig['more'] = s\n",
        "for s in config['val_seeds'][:2]:\n    config[f'seed_{s}'] = s\n",
        "try:\n    x = config['train_seeds'][200]\nexcept IndexError:\n    config['short'] = True\n",  # raises only in full
        "if config['train_seeds'] == [1]:\n    config['one'] = 1\n",
    ],
)
def test_values_computed_from_an_elided_list_are_never_guessed(root, extra):
    """The lazy read knows an elided list only as unknown (an operation on it may even give back the
    same object, or not raise where the list would): a config that used one as an operand is compared
    from the full evaluation."""
    for record in (launch_record(), repr({"epochs": 4, "init_seed": 7, "n_seeds": 100, "more": [5]})):
        live, answer, full = answers(root, config_source() + extra, record)
        assert full is not None
        if "for s in" in extra:  # the lazy read warned (a loop over an unknown): the facts reader read it in full
            assert live and answer == full
        else:
            assert not live


def test_lists_from_an_imported_config_module(root):
    seeds_module = f"seeds = {SHORT!r}\nother = {[s + 1 for s in SHORT]!r}\n"
    source = "from configs.common.seeds import seeds, other\n" + config_source(seeds="other", val_seeds="seeds")
    live, answer, full = answers(
        root, source, launch_record(train_seeds=SHORT, val_seeds=SHORT), extra={"common/__init__.py": "", "common/seeds.py": seeds_module}
    )
    assert full == [f"train_seeds[{i}] {s} at launch, {s + 1} now" for i, s in enumerate(SHORT[:5])] + [
        f"train_seeds[{i}] {s} at launch, {s + 1} now" for i, s in enumerate(SHORT[5:], 5)
    ]
    assert live and answer == full


def test_unreadable_or_odd_records_answer_as_the_full_path(root):
    for record in ("not python (", "[{'epochs': 3}, {'epochs': 4}]", ""):
        live, answer, full = answers(root, config_source(), record)
        assert full is None and (not live or answer is None)


@pytest.mark.parametrize("n_seeds", [10, 100])
def test_whole_record_from_a_real_pylon_launch(tmp_path, n_seeds):
    """A run of the Pylon imitation writes ``repr(config)`` (classes, a partial, a seed list); the config
    file is edited after the run: the warning names each change, and the scan's answer comes from
    the facts batch's evaluation (no second one), a long list the facts reader elided included."""
    from test_pylon_sim import copy_sim, launch

    root = copy_sim(tmp_path)
    seeds = ", ".join(str(1000 + i) for i in range(n_seeds))
    body = (
        "from runners.trainers import SupervisedSingleTaskTrainer\nfrom metrics.sim_metric import SimMetric\nimport functools\n\n"
        "config = {\n    'runner': SupervisedSingleTaskTrainer,\n    'work_dir': './logs/w/run',\n    'epochs': 2,\n"
        f"    'train_seeds': [{seeds}],\n"
        "    'metric': {'class': SimMetric, 'args': {}},\n"
        "    'model': {'class': functools.partial(SimMetric), 'args': {'sizes': (3, 4), 'lr': 0.1}},\n"
        "    'sim': {'iterations': 2, 'step_s': 0.0},\n}\n"
    )
    cfg = root / "configs" / "w" / "run.py"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(body)
    launch(root, "./configs/w/run.py")
    record_path = root / "logs" / "w" / "run" / "config.json"
    record = record_path.read_text()
    assert "<class 'runners.trainers.SupervisedSingleTaskTrainer'>" in record and "functools.partial" in record
    cfg.write_text(body.replace("1004, ", "7, ").replace("'lr': 0.1", "'lr': 0.2").replace("'epochs': 2,", "'epochs': 2, 'extra': True,"))
    future = time.time() + 5
    os.utime(cfg, (future, future))
    runwatch.reset()
    calls = []
    original = cc._compare
    try:
        cc._compare = lambda *a: calls.append(a) or original(*a)  # type: ignore[assignment]
        rs = runwatch.get_run_status(str(cfg), root=str(root), sleep_time=0)
    finally:
        cc._compare = original  # type: ignore[assignment]
    changed = [w for w in rs.progress.warnings or [] if "config changed since launch" in w]
    assert changed and "(train_seeds[4] 1004 at launch, 7 now; model.args.lr 0.1 at launch, 0.2 now; extra added)" in changed[0], rs.progress.warnings
    assert not calls  # answered from the facts reader's evaluation (an elided list from its literal)
    project = Project.at(str(root))
    assert cc._compare(str(cfg), str(record_path), str(root), project.settings.configs_dir) == [
        "train_seeds[4] 1004 at launch, 7 now",
        "model.args.lr 0.1 at launch, 0.2 now",
        "extra added",
    ]


def test_a_deferred_block_that_uses_an_elided_list_is_left_to_the_full_comparison(root):
    """A dict block the facts reader deferred is evaluated only during the comparison; if it uses an
    elided list there, the answer is not taken from the lazy read."""
    source = f"seeds = {SEEDS!r}\n" + config_source(seeds="seeds", data="{\n        'n': len(seeds),\n        'first': seeds[0],\n    }")
    live, answer, full = answers(root, source, launch_record(data={"n": 100, "first": 0}))
    assert full == [f"data.first 0 at launch, {SEEDS[0]} now"]
    assert not live


def test_answers_made_in_forked_readers_reach_the_scanning_process(root, monkeypatch):
    """A big uncached batch is read by forked readers (``configs.reader._read_parallel``): their
    answers come back with the facts, so the trackers here find them in the memo."""
    from runwatch.configs.reader import PARALLEL_MIN

    n = PARALLEL_MIN + 10
    keys = []
    for i in range(n):
        rel = f"many/run_{i}"
        epochs = 4 if i % 3 else 5
        cfg, record = _setup(root, config_source(epochs=str(epochs)), launch_record(), rel)
        keys.append((cfg, record, epochs))
    runwatch.reset()
    project = Project.at(str(root))
    adopted = []
    original = cc.LaunchCheck.adopt
    monkeypatch.setattr(cc.LaunchCheck, "adopt", lambda self, note: adopted.append(note) or original(self, note))
    read_configs([c for c, _, _ in keys], root=str(root), settings=project.settings, use_cache=False, workers=2, on_evaluated=cc.launch_check(project))
    assert len(adopted) == n  # read by forked readers (a serial read adopts nothing): every answer came back
    for cfg, record, epochs in keys:
        known, answer = cc._known(cc._key(cfg, record))
        assert known and answer == ([] if epochs == 4 else ["epochs 4 at launch, 5 now"])


def _pylon_repr(v) -> str:
    """A plain config value written back the way Pylon's ``repr`` looks (classes as ``<class '...'>``)."""
    from runwatch.readers.launch_config import SKIP

    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_pylon_repr(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_pylon_repr(x) for x in v) + "]"
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "class":
        return f"<class 'some.module.{v[1]}'>"
    if v is SKIP:
        return "functools.partial(<function f at 0x7f00>, 3)"
    return repr(v)


def _bump(v):
    """The value with its first int leaf (depth first) one larger, and whether there was one."""
    if isinstance(v, dict):
        out, done = {}, False
        for k, x in v.items():
            if not done:
                x, done = _bump(x)
            out[k] = x
        return out, done
    if isinstance(v, list):
        out, done = [], False
        for x in v:
            if not done:
                x, done = _bump(x)
            out.append(x)
        return out, done
    if type(v) is int:
        return v + 1, True
    return v, False


def test_every_corpus_config_against_records_of_it_answers_as_the_full_comparison(tmp_path):
    """The real-shaped config corpus (imports, updates, cycles, broken files, generated seed lists):
    records of each config's own full evaluation, as is, with a number changed, a key dropped, a key
    added; the answer from the facts batch's evaluation, where it gives one, is the full one."""
    import shutil

    from runwatch.configs.loader import ModuleLoader

    corpus = os.path.join(os.path.dirname(__file__), "config_corpus", "project")
    root = tmp_path / "project"
    shutil.copytree(corpus, root)
    configs = sorted(str(p) for p in (root / "configs").rglob("*.py") if p.name != "__init__.py")
    full_loader = ModuleLoader(str(root), "configs")
    full_loader.lazy = False
    live_answers = 0
    for cfg in configs:
        result = full_loader.evaluate_config(cfg)
        today = cc.today_value(result.namespace["config"]) if result.error is None and "config" in result.namespace else None
        if not isinstance(today, dict):
            continue
        variants = [today, _bump(today)[0], dict(list(today.items())[:-1]), {**today, "zz_added": 1}]
        rel = os.path.relpath(cfg, root / "configs")[:-3]
        wd = root / "logs" / rel
        wd.mkdir(parents=True, exist_ok=True)
        for i, variant in enumerate(variants):
            record = wd / "config.json"
            record.write_text(_pylon_repr(variant))
            t = time.time() + i
            os.utime(record, (t - 100, t - 100))
            os.utime(cfg, (t, t))
            runwatch.reset()
            project = Project.at(str(root))
            read_configs([cfg], root=str(root), settings=project.settings, use_cache=False, on_evaluated=cc.launch_check(project))
            key = cc._key(cfg, str(record))
            live, answer = cc._known(key)
            full = cc._compare(cfg, str(record), str(root), "configs")
            if live:
                live_answers += 1
                assert answer == full, (cfg, i, answer, full)
            assert cc.config_changes(cfg, str(wd), str(root), "configs") == full
    assert live_answers >= 50  # most (64 of the 68 today) are answered from the facts batch's evaluation

"""The facts cache: valid while every dependency is unchanged, shared across processes, never a crash."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runwatch.configs import read_config, read_configs
from runwatch.configs.cache import CACHE_FILE, clear_memory_caches
from runwatch.configs.facts_codec import facts_from_record

CORPUS = Path(__file__).parent / "config_corpus" / "project"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(CORPUS, root)
    clear_memory_caches()
    yield root
    clear_memory_caches()


def _run_counting(root: Path, paths: list[str]) -> dict:
    """Reads in a fresh process; counts how many files it actually parsed."""
    code = textwrap.dedent(
        """
        import json, sys
        import runwatch.configs.loader as loader
        parsed = []
        orig = loader.ModuleLoader._evaluate
        def counting(self, result, *a, **k):
            parsed.append(result.path)
            return orig(self, result, *a, **k)
        loader.ModuleLoader._evaluate = counting
        from runwatch.configs import read_configs
        facts = read_configs(json.loads(sys.argv[1]))
        print(json.dumps({"parsed": parsed, "epochs": {p: f.epochs for p, f in facts.items()}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], capture_output=True, text=True, cwd=root, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_does_not_reparse(project: Path) -> None:
    paths = [str(project / "configs" / "mtl" / "nyu_update.py"), str(project / "configs" / "benchmarks" / "cd" / "package_reexport.py")]
    first = _run_counting(project, paths)
    assert len(first["parsed"]) >= 4  # configs, imported config modules, runner and metric sources
    assert (project / ".runwatch-cache" / CACHE_FILE).is_file()
    second = _run_counting(project, paths)
    assert second["parsed"] == []
    assert second["epochs"] == first["epochs"] == {paths[0]: 120, paths[1]: 50}


def test_editing_an_imported_config_invalidates_dependents(project: Path) -> None:
    cfg = str(project / "configs" / "mtl" / "nyu_update.py")
    assert read_config(cfg).epochs == 120
    ds = project / "configs" / "common" / "datasets" / "multi_task_learning" / "nyu_v2_f.py"
    ds.write_text(ds.read_text().replace("'epochs': 100", "'epochs': 7"))
    assert read_config(cfg).epochs == 27
    clear_memory_caches()  # and from the disk store in a "new process"
    assert read_config(cfg).epochs == 27


def test_editing_a_source_file_invalidates_directions_and_kind(project: Path) -> None:
    cfg = str(project / "configs" / "benchmarks" / "cd" / "package_reexport.py")
    assert read_config(cfg).directions["change"]["mean_IoU"] == 1
    src = project / "metrics" / "vision_2d" / "semantic_segmentation_metric.py"
    src.write_text(src.read_text().replace("'mean_IoU': 1", "'mean_IoU': -1"))
    assert read_config(cfg).directions["change"]["mean_IoU"] == -1
    runner = project / "runners" / "trainers" / "multi_val_dataset_trainer.py"
    runner.write_text("from runners.evaluators import base_evaluator\n\n\nclass MultiValDatasetTrainer(base_evaluator.BaseEvaluator):\n    pass\n")
    assert read_config(cfg).runner_kind == "evaluator"


def test_a_module_appearing_later_invalidates(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "configs").mkdir(parents=True)
    cfg = root / "configs" / "x.py"
    cfg.write_text("from configs.base import config\n")
    assert read_config(str(cfg)).error is not None
    (root / "configs" / "base.py").write_text("config = {'epochs': 4}\n")
    assert read_config(str(cfg)).epochs == 4


@pytest.mark.parametrize("garbage", [b"", b"not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 5000])
def test_corrupt_cache_is_a_miss(project: Path, garbage: bytes) -> None:
    cfg = str(project / "configs" / "benchmarks" / "cd" / "package_reexport.py")
    read_config(cfg)
    clear_memory_caches()
    db = project / ".runwatch-cache" / CACHE_FILE
    db.write_bytes(garbage)
    f = read_config(cfg)
    assert f.error is None and f.epochs == 50
    clear_memory_caches()
    conn = sqlite3.connect(db)  # rebuilt and usable again
    assert conn.execute("SELECT count(*) FROM facts").fetchone()[0] >= 1
    conn.close()


def test_unwritable_cache_dir_still_reads(project: Path) -> None:
    (project / ".runwatch-cache").write_text("a file where the cache dir should be")
    f = read_config(str(project / "configs" / "benchmarks" / "cd" / "package_reexport.py"))
    assert f.epochs == 50


def test_concurrent_writers(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "configs").mkdir(parents=True)
    paths = []
    for i in range(400):
        p = root / "configs" / f"c{i}.py"
        p.write_text(f"config = {{'runner': None, 'epochs': {i}}}\n")
        paths.append(str(p))
    code = "import json,sys; from runwatch.configs import read_configs; read_configs(json.loads(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, json.dumps(paths[k::2] + paths[:50])], cwd=root, stderr=subprocess.PIPE) for k in range(2)] + [
        subprocess.Popen([sys.executable, "-c", code, json.dumps(paths[::-1])], cwd=root, stderr=subprocess.PIPE)
    ]
    for pr in procs:
        _, err = pr.communicate(timeout=120)
        assert pr.returncode == 0, err.decode()
    conn = sqlite3.connect(root / ".runwatch-cache" / CACHE_FILE)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT facts FROM facts").fetchall()
    conn.close()
    assert len(rows) == 400
    assert sorted(facts_from_record(json.loads(r[0])).stages[0].epochs for r in rows) == list(range(400))


def test_returned_facts_are_copies(project: Path) -> None:
    cfg = str(project / "configs" / "benchmarks" / "cd" / "package_reexport.py")
    f = read_config(cfg)
    f.directions["change"]["mean_IoU"] = 99
    f.warnings.append("mine")
    g = read_config(cfg)
    assert g.directions["change"]["mean_IoU"] == 1 and "mine" not in g.warnings


@pytest.mark.slow
def test_ten_thousand_configs_warm_cache(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "configs" / "common").mkdir(parents=True)
    (root / "configs" / "common" / "base.py").write_text("config = {'epochs': 5, 'seeds': list(range(100))}\n")
    paths = []
    for i in range(10_000):
        d = root / "configs" / f"g{i // 500}"
        d.mkdir(exist_ok=True)
        p = d / f"run_{i}.py"
        p.write_text(
            "import copy\nfrom runners.trainers import SupervisedSingleTaskTrainer\n"
            "from configs.common.base import config as base\n"
            f"config = copy.deepcopy(base)\nconfig['runner'] = SupervisedSingleTaskTrainer\nconfig['init_seed'] = {i}\n"
        )
        paths.append(str(p))
    t = time.perf_counter()
    cold = read_configs(paths)
    t_cold = time.perf_counter() - t
    assert all(f.epochs == 5 for f in cold.values())
    clear_memory_caches()
    code = (
        "import json,sys,time; from runwatch.configs import read_configs; ps=json.loads(open(sys.argv[1]).read());"
        "t=time.perf_counter(); r=read_configs(ps); print(time.perf_counter()-t, sum(f.epochs for f in r.values()))"
    )
    (tmp_path / "paths.json").write_text(json.dumps(paths))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "paths.json")], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    t_warm, total = out.stdout.split()
    print(f"\n10,000 configs: cold {t_cold:.2f} s, warm (new process) {float(t_warm):.2f} s")
    assert int(total) == 50_000
    assert float(t_warm) < 10.0


def test_state_reset_forgets_config_memos_and_the_files_give_the_same_facts(project: Path) -> None:
    """Every memo of the config reader is a runwatch.state table: one reset empties them
    all, and the next read (from the hot file and the store, no parse) answers the same."""
    import dataclasses

    from runwatch.state import STATE, reset

    paths = sorted(str(p) for p in (project / "configs").rglob("*.py"))[:20]
    first = {p: dataclasses.asdict(f) for p, f in read_configs(paths).items()}
    tables = {n: s for n, s in STATE.sizes().items() if n.startswith("configs.")}
    assert {"configs.cache.caches", "configs.reader.settings", "configs.facts.refs"} <= set(tables)
    assert tables["configs.cache.caches"] >= 1
    reset()
    assert all(s == 0 for n, s in STATE.sizes().items() if n.startswith("configs."))
    again = {p: dataclasses.asdict(f) for p, f in read_configs(paths).items()}
    assert again == first


def test_files_of_another_format_are_not_read_and_cost_no_error(project: Path) -> None:
    """An earlier version's files stay where they are, unread; a row or a hot file of the
    wrong shape under the current names is a miss (the config is read again), never an error."""
    import pickle

    from runwatch.configs.cache import HOT_FILE

    path = str(project / "configs" / "benchmarks" / "cd" / "package_reexport.py")
    expected = read_config(path)
    assert expected.error is None and expected.epochs == 50
    cache = project / ".runwatch-cache"
    (cache / "configs-v1.sqlite").write_bytes(b"an old store")
    (cache / "configs-hot-v1.pickle").write_bytes(b"an old hot file")
    conn = sqlite3.connect(cache / CACHE_FILE)
    conn.execute("UPDATE facts SET facts = ?", (json.dumps({"path": path, "stages": [{"epochs": 1}]}),))
    conn.commit()
    conn.close()
    with open(cache / HOT_FILE, "wb") as f:
        pickle.dump({"version": 1, "shared": [], "entries": {}}, f)
    clear_memory_caches()
    got = read_config(path)
    assert (got.error, got.epochs, got.runner) == (expected.error, expected.epochs, expected.runner)
    assert (cache / "configs-v1.sqlite").read_bytes() == b"an old store"


def test_a_row_another_process_wrote_after_the_load_is_not_skipped(tmp_path: Path) -> None:
    """A batch skips the per-key disk query only while no other connection committed since the load."""
    from runwatch.configs.sqlite_store import DiskStore

    mine, other = DiskStore(tmp_path), DiskStore(tmp_path)
    assert mine.load_all_raw() == {}
    assert mine.unchanged_since_load()
    assert other.put_many([("k", {}, {"path": "x"})])
    assert not mine.unchanged_since_load()
    assert mine.get("k") is not None
    assert not DiskStore(tmp_path).unchanged_since_load()  # never loaded: unsure

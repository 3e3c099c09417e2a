"""A warm scan reuses config facts under kernel watches (run_status/facts_watch.py), and never a stale one.

Every change to a file the facts were read from (the config, a config module it imports), to the folders on the
way to them, or a config reached through a link, is seen by the very next scan; with no change, a warm scan
stats no config at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runwatch.project import Project
from runwatch.run_status import ScanEngine
from runwatch.settings import load_settings

BASE = "config = {'epochs': %d, 'runner': None}\n"
RUN = """import copy
from configs.common.base import config as base
config = copy.deepcopy(base)
config['epochs'] = base['epochs'] + %d
config['work_dir'] = './logs/exp/%s'
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    _write(root / "configs" / "common" / "base.py", BASE % 10)
    _write(root / "configs" / "exp" / "run_a.py", RUN % (5, "run_a"))
    _write(root / "configs" / "exp" / "run_b.py", RUN % (7, "run_b"))
    return root


def _keys(root: Path) -> list[str]:
    return [str(root / "configs" / "exp" / "run_a.py"), str(root / "configs" / "exp" / "run_b.py")]


def _epochs(engine: ScanEngine, keys: list[str]) -> list[int | None]:
    got = engine.scan(keys)
    return [got[k].facts.epochs if got[k].facts is not None else None for k in keys]


def _warm(root: Path, **settings: object) -> tuple[ScanEngine, list[str]]:
    """An engine that has scanned three times: computed, checked under fresh watches, reused."""
    project = Project.at(str(root), load_settings(str(root), **settings) if settings else None)
    engine = ScanEngine(project, store=None)
    keys = _keys(root)
    for _ in range(3):
        assert _epochs(engine, keys) == [15, 17]
    return engine, keys


def _count_config_stats(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    """Paths under configs/ that os.stat / os.lstat are asked about from now on."""
    seen: list[str] = []
    configs = str(root / "configs")
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def counting(path, *a, _real=real, **k):  # type: ignore[no-untyped-def]
            if isinstance(path, str) and path.startswith(configs):
                seen.append(path)
            return _real(path, *a, **k)

        monkeypatch.setattr(os, name, counting)
    return seen


def test_a_warm_scan_stats_no_config(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, keys = _warm(project)
    watch = engine._facts_watch
    assert watch is not None and set(watch.facts) == set(keys)
    seen = _count_config_stats(monkeypatch, project)
    assert _epochs(engine, keys) == [15, 17]
    assert seen == []


@pytest.mark.parametrize("what", ["config", "imported module", "folder replaced", "module folder renamed"])
def test_any_change_is_seen_by_the_next_scan(project: Path, what: str) -> None:
    engine, keys = _warm(project)
    if what == "config":
        _write(project / "configs" / "exp" / "run_a.py", RUN % (1, "run_a"))
        want = [11, 17]
    elif what == "imported module":
        _write(project / "configs" / "common" / "base.py", BASE % 20)
        want = [25, 27]
    elif what == "folder replaced":
        exp = project / "configs" / "exp"
        os.rename(exp, project / "configs" / "old")
        _write(exp / "run_a.py", RUN % (2, "run_a"))
        _write(exp / "run_b.py", RUN % (3, "run_b"))
        want = [12, 13]
    else:
        common = project / "configs" / "common"
        os.rename(common, project / "configs" / "common_old")
        _write(common / "base.py", BASE % 30)
        want = [35, 37]
    assert _epochs(engine, keys) == want
    for _ in range(3):  # and it settles again on the new files
        assert _epochs(engine, keys) == want


def test_a_file_created_beside_a_config_is_an_event(project: Path) -> None:
    """Not a dependency, but in a watched folder: the facts are checked again (a stat each), and stay right."""
    engine, keys = _warm(project)
    _write(project / "configs" / "exp" / "notes.txt", "x")
    assert _epochs(engine, keys) == [15, 17]
    watch = engine._facts_watch
    assert watch is not None
    for _ in range(2):
        assert _epochs(engine, keys) == [15, 17]
    assert set(watch.facts) == set(keys)


def test_a_linked_config_keeps_its_stats(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config that is a symbolic link inside the project: a change to its target raises no event in the
    config's folder, so its facts are never reused without a stat."""
    target = project / "configs" / "shared" / "run_a_target.py"
    _write(target, RUN % (5, "run_a"))
    link = project / "configs" / "exp" / "run_a.py"
    link.unlink()
    link.symlink_to(target)
    engine, keys = _warm(project)
    watch = engine._facts_watch
    assert watch is not None and not watch.facts
    _write(target, RUN % (4, "run_a"))
    assert _epochs(engine, keys) == [14, 17]


def test_no_kernel_watches_no_reuse(project: Path) -> None:
    engine, keys = _warm(project, kernel_watches=False)
    watch = engine._facts_watch
    assert watch is not None and not watch.facts
    _write(project / "configs" / "exp" / "run_b.py", RUN % (1, "run_b"))
    assert _epochs(engine, keys) == [15, 11]


def test_a_one_shot_scan_sets_no_watch(project: Path) -> None:
    engine = ScanEngine(Project.at(str(project)), store=None)
    keys = _keys(project)
    for _ in range(3):
        engine.scan(keys, remember=False)
    watch = engine._facts_watch
    assert watch is not None and not watch.facts and not watch.folders


def test_a_batch_read_by_forked_readers_is_not_vouched_for(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked readers' stats (and the links they met) are not seen here: a batch they read vouches for nothing, so
    a module that only their configs import, in a folder not watched yet, is still checked by the next scan."""
    from runwatch.configs import reader
    from runwatch.forking import worker_count

    if worker_count(2, 1, 2) < 2:
        pytest.skip("one usable CPU: the batch is never forked")
    monkeypatch.setattr(reader, "PARALLEL_MIN", 2)
    project_ = Project.at(str(project), load_settings(str(project), workers=2))
    engine = ScanEngine(project_, store=None, fan_out=False)
    keys = _keys(project)
    for _ in range(3):
        assert _epochs(engine, keys) == [15, 17]
    watch = engine._facts_watch
    assert watch is not None and set(watch.facts) == set(keys)
    # Two new configs beside the others (a watched folder), importing a module in a folder not watched yet.
    other = "import copy\nfrom configs.other.base2 import config as base\nconfig = copy.deepcopy(base)\nconfig['work_dir'] = './logs/exp/%s'\n"
    _write(project / "configs" / "other" / "base2.py", BASE % 40)
    new = [str(project / "configs" / "exp" / f"new_{i}.py") for i in range(2)]
    for i, path in enumerate(new):
        _write(Path(path), other % f"new_{i}")
    forks: list[bool] = []
    real_read_parallel = reader._read_parallel

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        got = real_read_parallel(*a, **k)
        forks.append(got is not None)
        return got

    monkeypatch.setattr(reader, "_read_parallel", counting)
    assert _epochs(engine, keys + new) == [15, 17, 40, 40]
    assert forks == [True]
    _write(project / "configs" / "other" / "base2.py", BASE % 41)
    assert _epochs(engine, keys + new) == [15, 17, 41, 41]

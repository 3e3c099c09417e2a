"""``--exec-configs``: real execution, but only in a time-limited child process."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from runwatch.configs import ClassRef, read_config
from runwatch.configs.cache import clear_memory_caches

CORPUS = Path(__file__).parent / "config_corpus" / "exec_project"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "exec_project"
    shutil.copytree(CORPUS, root)
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("RUNWATCH_MARKER_DIR", str(markers))
    clear_memory_caches()
    return root


def test_static_reader_cannot_follow_the_loop_but_exec_can(project: Path, tmp_path: Path) -> None:
    cfg = str(project / "configs" / "loop.py")
    static = read_config(cfg)
    # The loop is unrolled, but epochs come from a function the static reader never calls.
    assert static.error is None and static.is_multi_stage and len(static.stages) == 3 and static.epochs is None
    assert not list((tmp_path / "markers").iterdir())  # static reading ran nothing

    f = read_config(cfg, exec_configs=True)
    assert f.error is None, f.error
    assert f.is_multi_stage and [s.epochs for s in f.stages] == [10, 20, 30] and f.epochs == 30  # one work dir (issue 19)
    assert f.stages[0].runner == ClassRef("runners", "LoopTrainer") and f.stages[0].runner_kind == "trainer"
    assert f.stages[0].directions == {"ratio_error": -1, "hits": 1} and f.stages[0].directions_source == "source"
    ran = [p.name for p in (tmp_path / "markers").iterdir()]
    assert len(ran) == 1 and ran[0] != f"pid-{os.getpid()}"  # executed, and not in this process


def test_exec_timeout_is_an_error(project: Path) -> None:
    t = time.perf_counter()
    f = read_config(str(project / "configs" / "sleeps.py"), exec_configs=True, exec_timeout=1.5)
    assert time.perf_counter() - t < 10
    assert f.error is not None and "longer than 1.5 s" in f.error


def test_exec_exception_is_an_error_with_line(project: Path) -> None:
    path = project / "configs" / "fails.py"
    f = read_config(str(path), exec_configs=True)
    assert f.error is not None and f.error.startswith(f"{path}:3:") and "refuses to load" in f.error

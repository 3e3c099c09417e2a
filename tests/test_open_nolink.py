"""The checked opener's fast path: a path with no link on it is opened in one call (``openat2``),
and the answers (content, refusals and their words) are the general path's, link or not."""

from __future__ import annotations

import os

import pytest

from runwatch.readers import open_nolink as nl
from runwatch.readers import safe_open as so


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "logs" / "run").mkdir(parents=True)
    (root / "logs" / "run" / "scores.json").write_bytes(b'{"aggregated": {"loss": 1.0}}')
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    so.confine_to(str(root))
    return root, outside


def _both_paths(monkeypatch):
    """Yield twice: with openat2 as this machine has it, then with it unusable (the general path)."""
    yield "fast"
    monkeypatch.setattr(nl, "_UNUSABLE", [True])
    yield "general"


def test_plain_file_opened_without_asking_proc(project, monkeypatch):
    root, _ = project
    path = str(root / "logs" / "run" / "scores.json")
    if nl.open_nolink(path, os.O_RDONLY) is None:
        pytest.skip("no openat2 here")

    def no_proc(fd, p):
        raise AssertionError("the descriptor's path was asked for a path with no link on it")

    monkeypatch.setattr(so, "_real_path_of", no_proc)
    assert so.read_regular(path, 1000) == b'{"aggregated": {"loss": 1.0}}'


def test_open_nolink_refuses_links_nul_and_errors(project):
    root, outside = project
    path = root / "logs" / "run" / "scores.json"
    fd = nl.open_nolink(str(path), os.O_RDONLY | os.O_CLOEXEC)
    if fd is None:
        pytest.skip("no openat2 here")
    os.close(fd)
    (root / "inner").symlink_to(path)
    (root / "linked_dir").symlink_to(root / "logs")
    assert nl.open_nolink(str(root / "inner"), os.O_RDONLY) is None
    assert nl.open_nolink(str(root / "linked_dir" / "run" / "scores.json"), os.O_RDONLY) is None
    assert nl.open_nolink(str(path) + "\x00x", os.O_RDONLY) is None
    assert nl.open_nolink(str(root / "missing"), os.O_RDONLY) is None


def test_links_get_the_general_answers(project, monkeypatch):
    root, outside = project
    target = root / "logs" / "run" / "scores.json"
    (root / "logs" / "run" / "inside.json").symlink_to(target)
    (root / "logs" / "run" / "out.json").symlink_to(outside)
    (root / "logs" / "out_dir").symlink_to(outside.parent)
    for _ in _both_paths(monkeypatch):
        assert so.read_regular(str(root / "logs" / "run" / "inside.json"), 1000) == target.read_bytes()
        assert so.read_regular(str(target), 1000) == target.read_bytes()
        for bad in (root / "logs" / "run" / "out.json", root / "logs" / "out_dir" / "secret"):
            with pytest.raises(so.OutsideProject, match=so.OUTSIDE_PROJECT):
                so.read_regular(str(bad), 1000)
        with pytest.raises(FileNotFoundError):
            so.read_regular(str(root / "logs" / "nothing.json"), 1000)
        with pytest.raises(IsADirectoryError):
            so.read_regular(str(root / "logs" / "run"), 1000)


def test_fifo_refused_on_the_fast_path(project):
    root, _ = project
    fifo = root / "logs" / "run" / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(so.NotRegularFile, match="FIFO"):
        so.read_regular(str(fifo), 1000)


def test_root_with_a_link_in_it_uses_the_general_path(tmp_path, project):
    root, outside = project
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    so.confine_to(str(alias))
    assert so.read_regular(str(alias / "logs" / "run" / "scores.json"), 1000) == b'{"aggregated": {"loss": 1.0}}'
    (root / "logs" / "run" / "out2.json").symlink_to(outside)
    with pytest.raises(so.OutsideProject):
        so.read_regular(str(alias / "logs" / "run" / "out2.json"), 1000)

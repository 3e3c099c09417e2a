"""Chunks taken in turn by forked processes: each chunk by exactly one of them, every chunk by someone."""

from __future__ import annotations

import json
import os

import pytest

from runwatch.claims import MAX_CHUNKS, Claims


def _take_all(c: Claims) -> list[int]:
    return [r.start for r in iter(c.take, None)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_forked_processes_share_the_chunks_without_overlap(tmp_path):
    c = Claims(1001, 16)
    pids = []
    for i in range(3):
        pid = os.fork()
        if pid == 0:  # a child: take until none is left, write what it took
            code = 0
            try:
                (tmp_path / f"{i}.json").write_text(json.dumps(_take_all(c)))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    mine = _take_all(c)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    theirs = [s for i in range(3) for s in json.loads((tmp_path / f"{i}.json").read_text())]
    assert sorted(mine + theirs) == list(range(0, 1001, 16))  # each chunk once
    c.close()


def test_chunks_cover_the_items_and_grow_past_what_one_pipe_page_holds():
    c = Claims(35, 16)
    assert [(r.start, r.stop) for r in iter(c.take, None)] == [(0, 16), (16, 32), (32, 35)]
    assert c.take() is None
    big = Claims(100_000, 16)
    ranges = list(iter(big.take, None))
    assert len(ranges) <= MAX_CHUNKS and ranges[0].start == 0 and ranges[-1].stop == 100_000
    assert all(a.stop == b.start for a, b in zip(ranges, ranges[1:], strict=False))
    big.close()
    assert big.take() is None  # closed: nothing more, no error
    assert list(iter(Claims(0, 16).take, None)) == []

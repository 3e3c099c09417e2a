"""The server's memory: big answers trimmed from the allocator, no stale snapshots kept.

The figures (RSS over minutes of requests) are in benchmarks/server_memory.py and
docs/BENCHMARKS.md; these tests only guard the mechanisms.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runwatch.server import memory_trim
from runwatch.server.memory_trim import BIG, Trimmer
from runwatch.server.websocket_progress import ProgressWebSocketServer, RunFilter


def test_trimmer_trims_after_enough_big_answers_and_not_more_often_than_its_interval() -> None:
    calls: list[int] = []
    t = Trimmer(threshold=4 * BIG, interval_s=3600.0, trim=lambda pad: calls.append(pad) or 1)
    t.note(BIG - 1)  # small answers do not count
    assert t.pending == 0 and not t.maybe_trim()
    t.note(3 * BIG)
    assert not t.maybe_trim() and calls == []
    t.note(BIG)
    assert t.maybe_trim() and calls == [0] and t.pending == 0
    t.note(10 * BIG)
    assert not t.maybe_trim() and calls == [0]  # within the interval
    t.interval_s = 0.0
    assert t.maybe_trim() and calls == [0, 0] and t.trims == 2


def test_trimmer_off_does_nothing(monkeypatch: Any) -> None:
    monkeypatch.setenv("RUNWATCH_MALLOC_TRIM", "0")
    t = Trimmer()
    assert not t.active
    t.note(100 * BIG)
    assert t.pending == 0 and not t.maybe_trim()


def test_trimmer_calls_glibc_malloc_trim_where_there_is_one() -> None:
    fn = memory_trim._load_trim()
    if fn is None:
        return  # not glibc: nothing to call
    t = Trimmer(threshold=BIG, interval_s=0.0)
    t.note(BIG)
    assert t.maybe_trim() and t.trims == 1


class _Index:
    def __init__(self, n: int) -> None:
        self.seq = 1
        self.on_delta = None
        self.scanning = False
        self.n = n

    def records(self) -> tuple[int, list[dict[str, Any]]]:
        return self.seq, [{"id": f"r{i}", "name": f"r{i}", "status": "running", "work_dir": f"r{i}"} for i in range(self.n)]

    def summary(self) -> dict[str, Any]:
        return {"total": self.n}

    def __len__(self) -> int:
        return self.n


def test_snapshot_cache_keeps_only_the_newest_seq_and_tells_its_size() -> None:
    index = _Index(50)
    sizes: list[int] = []
    server = ProgressWebSocketServer(index, on_big=sizes.append)

    async def go() -> None:
        everything = RunFilter.parse(None, None)
        running = RunFilter.parse(None, "running")
        for seq in range(1, 200):  # many seqs, as a polled tree's sweeps make them
            index.seq = seq
            await server._snapshot_text(everything)
            await server._snapshot_text(running)
            await server._snapshot_text(everything)  # the same seq and filter: from the cache
            assert {k[0] for k in server._snap_cache} == {seq}
            assert len(server._snap_cache) == 2

    asyncio.run(go())
    assert len(sizes) == 2 * 199 and all(s > 0 for s in sizes)

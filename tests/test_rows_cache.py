"""``/api/runs`` built once per sequence number: same answers, never stale, bounded (runwatch.server.rows_cache)."""

from __future__ import annotations

import time
import urllib.request

import pytest

from runwatch.process_info import ProcessSnapshot
from runwatch.server import BackgroundServer
from runwatch.server.rows_cache import RowsCache
from tests.test_live import add_epoch, first
from tests.test_server import get


@pytest.fixture
def served(tree):
    with BackgroundServer(tree.root, sweep_interval=3600, monitor=ProcessSnapshot(processes=list(tree.processes))) as srv:
        yield tree, srv


def raw(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def test_the_cache_keeps_only_the_newest_seq_and_a_few_variants():
    calls = []

    def loader(seq):
        def load():
            calls.append(seq)
            return seq, [{"run": f"r{i}", "n": i} for i in range(5)]

        return load

    c = RowsCache(variants=2, pages=2)
    s, rows = c.rows(1, "a", loader(1), lambda recs: recs[:2])
    assert (s, [r["run"] for r in rows]) == (1, ["r0", "r1"])
    assert c.rows(1, "a", loader(1), lambda recs: []) == (1, rows)  # reused, not rebuilt
    c.rows(1, "b", loader(1), lambda recs: recs[::-1])
    assert calls == [1]  # the records are built once per seq, whatever the variant
    c.rows(1, "c", loader(1), lambda recs: recs)
    assert c.sizes()["variants"] == ["b", "c"]  # bounded: least recently used out
    c.put_page(1, "p1", b"1")
    c.put_page(1, "p2", b"2")
    c.put_page(1, "p3", b"3")
    assert c.page(1, "p1") is None and c.page(1, "p3") == b"3" and c.page(2, "p3") is None
    # A new seq drops everything of the old one.
    c.rows(2, "a", loader(2), lambda recs: recs)
    assert calls == [1, 2] and c.sizes()["seq"] == 2 and c.sizes()["variants"] == ["a"] and c.sizes()["pages"] == []
    assert c.page(1, "p3") is None
    c.put_page(1, "late", b"old")  # built for an older seq: never kept
    assert c.page(1, "late") is None and c.page(2, "late") is None
    # The index may answer a newer seq than asked: kept under the seq it names.
    s, _ = c.rows(3, "z", loader(4), lambda recs: recs)
    assert s == 4 and c.sizes()["seq"] == 4 and c.page(3, "z") is None
    # Rows that depend on more than the records (hyperparameters read from files) are selected each time.
    picks = []
    c.rows(4, "hp", loader(4), lambda recs: picks.append(1) or recs, keep=False)
    c.rows(4, "hp", loader(4), lambda recs: picks.append(1) or recs, keep=False)
    assert picks == [1, 1] and "hp" not in c.sizes()["variants"] and calls.count(4) == 1


def test_repeated_requests_answer_the_same_and_a_change_answers_anew(served):
    tree, srv = served
    cache = srv.app_state.rows_cache
    urls = [
        srv.base + "api/runs?limit=10000",
        srv.base + "api/runs?sort=-progress_percentage&limit=5&offset=1",
        srv.base + "api/runs?status=running,failed&sort=eta",
        srv.base + "api/runs?q=run_1",
    ]
    first_bodies = [raw(u) for u in urls]
    assert [raw(u) for u in urls] == first_bodies  # byte for byte
    seq0 = get(urls[0])[1]["seq"]
    code, _, _ = get(srv.base + "api/runs?q=lr=0.1")  # a hyperparameter search: read anew, never held
    assert code == 200
    held = cache.sizes()
    assert held["seq"] == seq0 and len(held["variants"]) == 4 and len(held["pages"]) <= cache.pages
    assert all(v[1] != "lr=0.1" for v in held["variants"])

    # The cache only saves work: each answer is what the uncached selection gives.
    _, full, _ = get(urls[0])
    _, page, _ = get(urls[1])
    _, sorted_all, _ = get(srv.base + "api/runs?sort=-progress_percentage&limit=10000")
    assert page["total"] == full["total"] == len(tree.runs)
    assert [r["id"] for r in page["runs"]] == [r["id"] for r in sorted_all["runs"][1:6]]

    exp = first(tree, "running")
    add_epoch(tree, exp.rel)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, now, _ = get(urls[0])
        if now["seq"] != seq0:
            break
        time.sleep(0.1)
    assert now["seq"] > seq0  # a new seq: never the old answer
    rec = next(r for r in now["runs"] if r["run"] == exp.rel)
    assert rec["completed_epochs"] == exp.completed_epochs
    assert raw(urls[0]) != first_bodies[0]
    held = cache.sizes()
    # Only the newest seq's entries: the three other variants of the old seq are gone.
    assert held["seq"] >= now["seq"] and len(held["variants"]) == 1 and len(held["pages"]) == 1


def test_bad_parameters_are_still_refused(served):
    _, srv = served
    for q in ("sort=nope", "status=nope", "limit=-1", "limit=10001", "reason=nope", "offset=x"):
        code, data, _ = get(srv.base + "api/runs?" + q)
        assert code == 400 and "error" in data

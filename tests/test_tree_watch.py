"""The serving process's watches fit the kernel's watch budget at any size, and degrade to polling past it.

Real inotify on the test's tmp dir; the budget is forced small with ``RUNWATCH_MAX_WATCHES``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from runwatch.live import Watcher
from runwatch.live.tree_watch import TreeWatch, live_names
from runwatch.progress_tracking.change_notify import NOTIFIER
from runwatch.testing.generator import generate_tree

from test_live import add_epoch, first, make_index


@pytest.fixture
def budget(monkeypatch):
    """Set the process's watch budget (the notifier is reopened with it) and restore it after."""

    def set_budget(n: int | None) -> None:
        NOTIFIER.clear()
        if n is None:
            monkeypatch.delenv("RUNWATCH_MAX_WATCHES", raising=False)
        else:
            monkeypatch.setenv("RUNWATCH_MAX_WATCHES", str(n))

    yield set_budget
    NOTIFIER.unlisten()
    NOTIFIER.clear()


@pytest.fixture
def tree(tmp_path):
    return generate_tree(str(tmp_path / "p"), n_runs=24, seed=5, max_epochs=12, min_epochs=8)


def _all_dirs(root: str) -> list[str]:
    return [d for d, _, _ in os.walk(root)]


def _walked(tree) -> tuple[Any, TreeWatch]:
    """The tree's index and a TreeWatch that has walked its configs/ and logs/."""
    idx = make_index(tree)
    tw = TreeWatch(idx)
    tw.walk([os.path.join(tree.root, "configs"), os.path.join(tree.root, "logs")])
    return idx, tw


def _running(tree) -> tuple[Any, str]:
    """The tree's first running run and its work dir."""
    exp = first(tree, "running")
    return exp, os.path.join(tree.root, "logs", *exp.rel.split("/"))


def test_live_names_keep_the_two_newest_of_each_series():
    names = ["epoch_0", "epoch_1", "epoch_10", "epoch_9", "checkpoint-500", "checkpoint-1000", "checkpoint-1500", "runs", "best"]
    assert sorted(live_names(names)) == ["best", "checkpoint-1000", "checkpoint-1500", "epoch_10", "epoch_9", "runs"]


def test_watches_what_can_still_change_not_every_folder(tree, budget):
    budget(None)
    idx, tw = _walked(tree)
    every = len(_all_dirs(os.path.join(tree.root, "logs"))) + len(_all_dirs(os.path.join(tree.root, "configs")))
    runs_with_dirs = sum(1 for e in idx.entries.values() if os.path.isdir(e.status.work_dir))
    assert not tw.polled and not tw.full
    # The structure, each run's work dir and its two newest epochs: not its finished ones.
    assert len(tw.watched) <= len(tw.structure) + 3 * runs_with_dirs
    assert len(tw.watched) < every * 0.7, (len(tw.watched), every)
    exp, wd = _running(tree)
    epochs = sorted((d for d in os.listdir(wd) if d.startswith("epoch_")), key=lambda d: int(d.split("_")[1]))
    assert os.path.join(wd, epochs[-1]) in tw.watched and os.path.join(wd, epochs[0]) not in tw.watched
    # One kernel watch per folder: the scan engine's fingerprints share the same instance.
    assert len(NOTIFIER) >= len(tw.watched)


def test_a_new_epoch_retires_the_oldest_watched_one(tree, budget):
    budget(None)
    idx, tw = _walked(tree)
    exp, wd = _running(tree)
    before = {d for d in tw.watched if d.startswith(wd + os.sep)}
    add_epoch(tree, exp.rel)  # finishes the epoch in progress
    add_epoch(tree, exp.rel)  # a new epoch folder
    paths, rewalk = tw.collect()
    assert not rewalk
    assert any(p.startswith(wd + os.sep) for p in paths)
    after = {d for d in tw.watched if d.startswith(wd + os.sep)}
    assert len(after) == len(before)  # one in, the oldest out
    newest = os.path.join(wd, max((d for d in os.listdir(wd) if d.startswith("epoch_")), key=lambda d: int(d.split("_")[1])))
    assert newest in after and newest not in before


def test_past_the_budget_folders_are_polled_and_health_says_so(tree, budget):
    budget(12)
    idx, tw = _walked(tree)
    assert tw.full and tw.polled
    assert len(NOTIFIER) <= 12
    h = tw.health()
    assert h["degraded"] and h["polled_dirs"] == len(tw.polled) and h["watch_budget"] == 12
    # Structure first: configs/ and logs/ are among the watched.
    assert os.path.join(tree.root, "logs") in tw.watched
    exp, wd = _running(tree)
    assert wd in tw.polled
    add_epoch(tree, exp.rel)
    add_epoch(tree, exp.rel)
    paths, _ = tw.collect(force_poll=True)
    assert any(p == wd or p.startswith(wd + os.sep) for p in paths)


@pytest.mark.parametrize("limit", [None, 6], ids=["within-budget", "tiny-budget"])
def test_serving_watcher_delivers_new_epochs_and_new_runs_in_seconds(tree, budget, limit):
    """New epochs and new runs reach the index within seconds, with watches and with only a handful of them."""
    budget(limit)

    async def scenario():
        idx = make_index(tree)
        w = Watcher(idx, polling=False, sweep_interval=3600)
        task = asyncio.create_task(w.run())
        try:
            t_end = time.monotonic() + 20
            while w.tree is None or w.tree.walked_at is None:
                assert time.monotonic() < t_end
                await asyncio.sleep(0.05)
            health = w.health()
            exp = first(tree, "running")
            n = await asyncio.to_thread(add_epoch, tree, exp.rel)
            rel = exp.rel
            t0 = time.monotonic()
            while time.monotonic() - t0 < 15 and idx.entries[idx.by_rel[rel]].record["completed_epochs"] != n:
                await asyncio.sleep(0.05)
            epoch_s = time.monotonic() - t0
            # A new run: its config and its work dir with a first epoch.
            src = os.path.join(tree.root, "configs", *exp.rel.split("/")) + ".py"
            new_rel = exp.rel.rsplit("/", 1)[0] + "/run_new"
            with open(src) as f:
                text = f.read()
            with open(os.path.join(tree.root, "configs", *new_rel.split("/")) + ".py", "w") as f:
                f.write(text)
            t1 = time.monotonic()
            while time.monotonic() - t1 < 15 and new_rel not in idx.by_rel:
                await asyncio.sleep(0.05)
            run_s = time.monotonic() - t1
            return idx, health, epoch_s, run_s, n, rel, new_rel
        finally:
            w.stop()
            await asyncio.wait_for(task, timeout=10)

    idx, health, epoch_s, run_s, n, rel, new_rel = asyncio.run(scenario())
    assert idx.entries[idx.by_rel[rel]].record["completed_epochs"] == n, epoch_s
    assert new_rel in idx.by_rel, run_s
    assert epoch_s < 10 and run_s < 10
    assert health["mode"] == "inotify"
    if limit is not None:
        assert health["degraded"] and health["polled_dirs"] > 0 and health["kernel_watches"] <= limit
    else:
        assert not health["degraded"]


def test_a_run_folder_removed_and_made_again_is_watched_again(tree, budget):
    budget(None)
    idx, tw = _walked(tree)
    exp, wd = _running(tree)
    assert NOTIFIER.has_path_watch(wd)
    import shutil

    shutil.rmtree(wd)
    tw.collect()
    assert not NOTIFIER.has_path_watch(wd)
    os.makedirs(os.path.join(wd, "epoch_0"))
    paths, _ = tw.collect()
    assert wd in paths and os.path.join(wd, "epoch_0") in paths
    assert NOTIFIER.has_path_watch(wd) and NOTIFIER.has_path_watch(os.path.join(wd, "epoch_0"))


def test_two_watchers_in_one_process_each_get_their_own_changes(tmp_path, budget):
    """Two servers in one process (a hub's tests, an embedding program) share the inotify instance: each
    watcher gets the changes under its own roots, and stopping one leaves the other's watches."""
    budget(None)
    trees = [generate_tree(str(tmp_path / name), n_runs=8, seed=i, max_epochs=6) for i, name in enumerate(("a", "b"))]
    idxs = [make_index(t) for t in trees]
    tws = [TreeWatch(i) for i in idxs]
    for t, tw in zip(trees, tws):
        tw.walk([os.path.join(t.root, "configs"), os.path.join(t.root, "logs")])
    exp = first(trees[1], "running")
    add_epoch(trees[1], exp.rel)
    add_epoch(trees[1], exp.rel)
    assert tws[0].collect()[0] == []  # a's watcher: nothing of b's
    paths_b, _ = tws[1].collect()
    assert any(p.startswith(trees[1].root) for p in paths_b)
    tws[0].close()
    wd = os.path.join(trees[1].root, "logs", *exp.rel.split("/"))
    assert NOTIFIER.has_path_watch(wd)
    add_epoch(trees[1], exp.rel)
    assert any(p.startswith(wd) for p in tws[1].collect()[0])
    tws[1].close()
    assert not NOTIFIER.has_path_watch(wd)

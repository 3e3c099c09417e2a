"""A scan's objects go to the collector's oldest generation with no pass; its config reads leave no cycles."""

from __future__ import annotations

import gc
import os

from runwatch.configs import read_configs
from runwatch.gc_promote import promote_young
from runwatch.testing import generate_tree


class _Node:
    def __init__(self) -> None:
        self.other: object = None


def test_promote_moves_young_objects_to_the_oldest_generation_without_a_pass() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        keep = [_Node() for _ in range(30_000)]
        assert gc.get_count()[0] >= 30_000
        assert promote_young(20_000)
        assert gc.get_count()[0] == 0
        assert gc.get_freeze_count() == 0
        assert all(gc.is_tracked(n) for n in keep[:10])
        # Below the threshold nothing moves; and another's frozen objects are never unfrozen.
        assert not promote_young(10**9)
        gc.freeze()
        try:
            more = [_Node() for _ in range(30_000)]
            assert not promote_young(20_000) and gc.get_freeze_count() > 0
            del more
        finally:
            gc.unfreeze()
        # Cyclic garbage among promoted objects is still collected by a full collection.
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        del a, b
        keep2 = [_Node() for _ in range(25_000)]
        assert promote_young(20_000)
        assert gc.collect() >= 2
        del keep, keep2
    finally:
        if was:
            gc.enable()


def test_a_batch_of_config_reads_leaves_no_cyclic_garbage(tmp_path) -> None:
    tree = generate_tree(str(tmp_path / "proj"), n_runs=30, seed=5, max_epochs=3)
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        paths = [os.path.join(tree.root, r.config_path) for r in tree.runs]
        facts = read_configs(paths, root=tree.root, use_cache=False)
        assert len(facts) == len(set(paths)) and not any(f.error for f in facts.values())
        # Each evaluated config held a reference cycle (its deferred values -> its evaluator -> the
        # evaluation); the batch's end empties them, so reference counting has freed them already.
        assert gc.collect() < 30
    finally:
        if was:
            gc.enable()

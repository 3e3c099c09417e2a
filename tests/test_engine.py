"""The scan engine: every client gets the answers of a plain, cache-free evaluation of each run."""

from __future__ import annotations

import os
import pickle
import pickletools
import time

import pytest

import runwatch
from runwatch import get_all_run_status
from runwatch.cli_scan import Scanner
from runwatch.project import Project
from runwatch.live import LiveIndex
from runwatch.run_status import ScanEngine, engine_for, evaluate_run

from test_live import add_epoch
from test_run_status import check_answers
from scan_helpers import generated, reference_statuses as _reference, without_checked_at as _strip


@pytest.fixture
def gen(tmp_path):
    return generated(tmp_path, seed=5, max_epochs=8)


def test_every_client_equals_the_plain_evaluation(gen):
    tree, snap = gen
    configs = [r.config_path for r in tree.runs]
    project = Project.at(tree.root)
    engine = ScanEngine(project, store=None)
    now = time.time()
    cold = engine.scan(configs, processes=snap, now=now)
    warm = engine.scan(configs, now=now)  # trackers kept, processes kept
    reference = _reference(tree, snap, now)
    assert list(cold) == configs
    for c in configs:
        assert _strip(cold[c].status.to_dict()) == _strip(reference[c].to_dict()), c
        assert _strip(warm[c].status.to_dict()) == _strip(reference[c].to_dict()), c
    check_answers(tree, {c: s.status for c, s in cold.items()}, {r.rel: r.config_path for r in tree.runs})
    # The library call, the CLI's scanner and the live index are clients of an engine: the same records.
    lib = get_all_run_status(configs, root=tree.root, snapshot=snap)
    rows = Scanner(project, monitor=snap).scan(configs=configs).rows
    index = LiveIndex(project, monitor=snap, use_store=False)
    index.full_scan()
    _, records = index.records()
    by_run = {rec["run"]: rec for rec in records}
    for r in tree.runs:
        c = r.config_path
        # (the index lists configs by absolute path; the others as given)
        want = {k: v for k, v in _strip(reference[c].to_dict()).items() if k != "config"}
        for name, got in (("library", lib[c].to_dict()), ("cli", next(x.status.to_dict() for x in rows if x.status.config == c)), ("index", by_run[r.rel])):
            got = {k: got[k] for k in want}
            assert got == want, (name, c)


def test_rescan_evaluates_only_the_runs_the_paths_touch(gen):
    tree, snap = gen
    project = Project.at(tree.root)
    engine = ScanEngine(project, store=None)
    configs = [r.config_path for r in tree.runs]
    engine.scan(configs, processes=snap)
    known = {r.rel: r.config_path for r in tree.runs}
    exp = next(r for r in tree.runs if r.status == "running" and r.kind == "trainer")
    done = add_epoch(tree, exp.rel)
    wd = os.path.join(tree.root, "logs", *exp.rel.split("/"))
    r = engine.rescan([os.path.join(wd, f"epoch_{done - 1}", "validation_scores.json")], known)
    assert list(r.found) == [exp.rel] and r.gone == []
    got = r.scanned[exp.config_path].status
    assert got.progress.completed_epochs == done
    fresh, _ = evaluate_run(exp.config_path, project, process_map=snap.by_config(), process_errors=snap.errors, now=got.checked_at)
    assert _strip(got.to_dict()) == _strip(fresh.to_dict())
    # A removed config: named gone, and its tracker forgotten.
    victim = next(r for r in tree.runs if r.rel != exp.rel)
    os.unlink(os.path.join(tree.root, victim.config_path))
    r = engine.rescan([os.path.join(tree.root, victim.config_path)], known)
    assert r.gone == [victim.rel] and r.found == {}
    assert engine.facts_of(victim.config_path) is None


def test_reset_forgets_every_process_wide_table(gen):
    tree, snap = gen
    configs = [r.config_path for r in tree.runs]
    get_all_run_status(configs, root=tree.root, snapshot=snap)
    engine = engine_for(Project.at(tree.root))
    assert runwatch.STATE.sizes()["run_status.engines"] >= 1
    runwatch.reset()
    assert all(n <= 0 for n in runwatch.STATE.sizes().values()), runwatch.STATE.sizes()
    assert engine_for(Project.at(tree.root)) is not engine


def test_one_path_instead_of_a_list_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="list of config paths"):
        get_all_run_status(str(tmp_path))


def test_a_worker_sends_plain_values_never_a_tracker(gen):
    """The fan-out's result: store entries and facts (progress, details, fingerprints), no tracker class."""
    from runwatch.claims import Claims
    from runwatch.run_status import fanout

    tree, _ = gen
    project = Project.at(tree.root)
    share = [r.config_path for r in tree.runs[:10]]
    parts: list = []
    claims = Claims(len(share), fanout.PART_RUNS)
    fanout._worker(share, project, parts.append, claims)  # what it sends, a chunk at a time
    claims.close()
    entries = {k: v for e, _, _ in parts for k, v in e.items()}
    facts = {k: v for _, _, f in parts for k, v in f.items()}
    assert entries and set(facts) == set(share)
    classes = {arg for op, arg, _ in pickletools.genops(pickle.dumps((entries, facts))) if op.name in ("GLOBAL", "STACK_GLOBAL") and arg}
    strings = [arg for op, arg, _ in pickletools.genops(pickle.dumps((entries, facts))) if isinstance(arg, str)]
    assert not any("Tracker" in s for s in strings), [s for s in strings if "Tracker" in s]
    assert classes == set() or all("Tracker" not in c for c in classes)

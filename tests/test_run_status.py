"""Run status on generated trees: every scenario answers exactly what the generator expects."""

from __future__ import annotations

import os

import pytest

from runwatch import ProcessSnapshot, get_all_run_status, get_run_status
from runwatch.run_status import decide_status
from runwatch.readers.scores import main_score


def check_answers(tree, result, by_path):
    problems = []
    for exp in tree.runs:
        rs = result[by_path[exp.rel]]
        p = rs.progress
        got = (rs.status, p.completed_epochs, p.total_epochs, round(p.progress_percentage, 6), p.early_stopped, p.early_stopped_at_epoch, p.runner_type)
        want = (exp.status, exp.completed_epochs, exp.total_epochs, round(exp.progress_percentage, 6), exp.early_stopped, exp.early_stopped_at_epoch, exp.kind)
        if got != want:
            problems.append(f"{exp.rel} ({exp.scenario}): got {got}, want {want}; warnings={p.warnings} error={p.error_message}")
            continue
        if exp.best_value is not None:
            if p.best_score is None or p.best_score.get(exp.main_key) != exp.best_value:
                problems.append(f"{exp.rel}: best {p.best_score} want {exp.main_key}={exp.best_value}")
            if p.latest_score is None or p.latest_score.get(exp.main_key) != exp.latest_value:
                problems.append(f"{exp.rel}: latest {p.latest_score} want {exp.latest_value}")
        if exp.has_error and not p.error_message:
            problems.append(f"{exp.rel}: expected an error message")
        if exp.current_stage is not None and p.current_stage != exp.current_stage:
            problems.append(f"{exp.rel}: stage {p.current_stage} want {exp.current_stage}")
    assert not problems, "\n".join(problems)


def run_all(tree, **kw):
    paths = {r.rel: r.config_path for r in tree.runs}
    snap = ProcessSnapshot(processes=list(tree.processes))
    result = get_all_run_status(list(paths.values()), root=tree.root, system_monitor=snap, **kw)
    return result, paths


def test_every_scenario_exact(tree):
    result, paths = run_all(tree)
    assert list(result) == list(paths.values())  # keyed exactly by the given paths, in order
    check_answers(tree, result, paths)
    statuses = {rs.status for rs in result.values()}
    assert statuses == {"running", "finished", "stuck", "failed", "outdated"}


def test_warm_call_same_answers_and_new_process_store(tree):
    first, paths = run_all(tree)
    second, _ = run_all(tree)
    for k in first:
        assert first[k].to_dict() | {"checked_at": 0} == second[k].to_dict() | {"checked_at": 0}
    check_answers(tree, second, paths)


def test_force_refresh_and_no_store(tree):
    result, paths = run_all(tree, force_refresh=True, use_store=False)
    check_answers(tree, result, paths)


def test_config_spellings_map_to_same_run(tree):
    exp = next(r for r in tree.runs if r.scenario == "finished")
    old = os.getcwd()
    os.chdir(tree.root)
    try:
        a = get_run_status(f"./configs/{exp.rel}.py", [], 0, {})
        b = get_run_status(f"configs/{exp.rel}.py", [], 0, {})
        c = get_run_status(os.path.join(tree.root, "configs", exp.rel + ".py"), [], 0, {})
    finally:
        os.chdir(old)
    assert a.work_dir == b.work_dir == c.work_dir == os.path.join(tree.root, "logs", *exp.rel.split("/"))
    assert a.status == b.status == c.status == "finished"


def test_never_launched_does_not_take_batch_down(tree):
    result, paths = run_all(tree)
    never = [r for r in tree.runs if "never_launched" in r.scenario]
    assert never
    for r in never:
        rs = result[paths[r.rel]]
        assert rs.status == "failed" and "never launched" in rs.progress.error_message


def test_stuck_needs_live_process(tree):
    stuck = next(r for r in tree.runs if r.scenario == "stuck")
    res = get_all_run_status([stuck.config_path], root=tree.root)
    assert res[stuck.config_path].status == "failed"


def test_process_source_error_is_a_warning_not_silence(tree):
    stuck = next(r for r in tree.runs if r.scenario == "stuck")
    snap = ProcessSnapshot(processes=[], errors={"gpu-1": "connection refused"})
    res = get_all_run_status([stuck.config_path], root=tree.root, system_monitor=snap)
    rs = res[stuck.config_path]
    assert rs.status == "failed"
    assert any("gpu-1" in w and "may be stuck" in w for w in rs.progress.warnings)


def test_new_epoch_seen_on_next_call(tree):
    from runwatch.testing.generator import write_epoch
    import random

    exp = next(r for r in tree.runs if r.scenario == "running")
    first, paths = run_all(tree)
    wd = first[paths[exp.rel]].work_dir
    n = exp.completed_epochs
    write_epoch(wd, n, {exp.main_key: 0.5}, None, 4, random.Random(1))
    second, _ = run_all(tree)
    assert second[paths[exp.rel]].progress.completed_epochs == n + 1


def test_sleep_time_and_outdated_days_from_arguments(tree):
    exp = next(r for r in tree.runs if r.scenario == "running")
    res = get_all_run_status([exp.config_path], root=tree.root, sleep_time=1)
    assert res[exp.config_path].status == "failed"
    fin = next(r for r in tree.runs if r.scenario == "finished")
    res = get_all_run_status([fin.config_path], root=tree.root, outdated_days=0)
    assert res[fin.config_path].status == "outdated"


def test_outside_configs_is_failed_with_message(tree, tmp_path):
    bogus = str(tmp_path / "elsewhere.py")
    res = get_all_run_status([bogus], root=tree.root)
    assert res[bogus].status == "failed" and "not under the configs folder" in res[bogus].progress.error_message


def test_to_dict_schema(tree):
    result, paths = run_all(tree)
    rec = next(iter(result.values())).to_dict()
    for key in (
        "run",
        "config",
        "work_dir",
        "status",
        "completed_epochs",
        "progress_percentage",
        "early_stopped",
        "early_stopped_at_epoch",
        "runner_type",
        "total_epochs",
        "start_time",
        "last_update_time",
        "best_score",
        "latest_score",
        "error_message",
        "warnings",
        "process_info",
        "eta_seconds",
    ):
        assert key in rec


@pytest.mark.parametrize(
    "kw,want",
    [
        (dict(log_last_update=99.0, complete=True, artifact_last_update=0.0, has_live_process=True), "running"),
        (dict(log_last_update=0.0, complete=True, artifact_last_update=99.0, has_live_process=True), "finished"),
        (dict(log_last_update=None, complete=True, artifact_last_update=-10 * 86400.0, has_live_process=False), "outdated"),
        (dict(log_last_update=0.0, complete=False, artifact_last_update=None, has_live_process=True), "stuck"),
        (dict(log_last_update=0.0, complete=False, artifact_last_update=None, has_live_process=False, has_queued_job=True), "queued"),
        (dict(log_last_update=None, complete=False, artifact_last_update=None, has_live_process=False), "failed"),
    ],
)
def test_status_precedence(kw, want):
    assert decide_status(now=100.0, sleep_time=10, outdated_days=5, **kw) == want


def test_main_score_prefers_directed_key():
    assert main_score({"loss": 0.3, "acc": 0.9}, {"acc": 1}) == ("acc", 0.9)
    assert main_score({"loss": 0.3, "acc": 0.9}, None) == ("loss", 0.3)

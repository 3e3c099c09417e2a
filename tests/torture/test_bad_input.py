"""Bad input on disk: one run is damaged, that run gets a clear message, every other run stays exact.

Each case damages one file or dir of one run in a generated tree (every scenario
present), scans with the public API and checks three things: no exception escapes,
the damaged run's answer is what the damage implies (and names the file when data
was lost), and every other run is exactly what the generator expects.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time

import pytest

from runwatch.readers.artifacts import check_epoch_finished

from .helpers import messages, mismatches, pick, scan, small_tree, work_dir

HUGE = 100 * 1024 * 1024
NEST = 100_000


def _huge_json_object(first: str, value: object) -> bytes:
    """A ~100 MB JSON object with ``first`` as its first key and a padding key after it."""
    head = json.dumps({first: value})[:-1].encode()
    pad = b', "pad": "' + b"x" * HUGE + b'"}'
    return head + pad


def _huge_aggregated_last(value: object) -> bytes:
    return b'{"per_datapoint": {"loss": "' + b"y" * HUGE + b'"}, "aggregated": ' + json.dumps(value).encode() + b"}"


PAYLOADS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \n\t  \n",
    "truncated": b'{"completed_epochs": 3, "progress_perc',
    "nested": b"[" * NEST + b"]" * NEST,
    "nested_unclosed": b'{"a":' * NEST,
    "non_utf8": b'{"completed_epochs": 3, "x": "\xff\xfe\xfa"}',
    "binary": bytes(range(256)) * 64,
    "nan_top": b"NaN",
    "wrong_type": b'["not", "an", "object"]',
    "wrong_fields": b'{"completed_epochs": "many", "progress_percentage": null}',
}


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# ----------------------------------------------------------------- progress.json


@pytest.mark.parametrize("case", [*PAYLOADS, "huge", "directory", "symlink_loop"])
def test_bad_progress_json_never_changes_answers(tmp_path, case, tally):
    """progress.json is a cache of what the artifacts say: garbage in it must not change any answer,
    and the file runwatch leaves behind parses (or, if it cannot write, the run says why)."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    path = os.path.join(work_dir(tree, victim.rel), "progress.json")
    os.unlink(path)
    if case == "huge":
        _write(path, _huge_json_object("completed_epochs", 999))
    elif case == "directory":
        os.mkdir(path)
    elif case == "symlink_loop":
        os.symlink("progress.json", path)
    else:
        _write(path, PAYLOADS[case])
    tally["bad_input_cases"] += 1
    before = _snapshot(path)
    t0 = time.monotonic()
    by_rel = scan(tree)
    assert time.monotonic() - t0 < 60
    assert mismatches(tree, by_rel) == []
    # Issue 19: the file is the trainer's: never repaired, replaced or removed, whatever it holds.
    assert _snapshot(path) == before


def _snapshot(path: str) -> tuple[str, bytes | str | None]:
    if os.path.islink(path):
        return ("link", os.readlink(path))
    if os.path.isdir(path):
        return ("dir", None)
    with open(path, "rb") as f:
        return ("file", f.read())


# ----------------------------------------------------------------- validation scores


def _last_epoch(tree, rel):
    exp = tree.by_rel()[rel]
    return os.path.join(work_dir(tree, rel), f"epoch_{exp.completed_epochs - 1}")


@pytest.mark.parametrize("case", ["whitespace", "truncated", "nested", "nested_unclosed", "non_utf8", "binary", "nan_top", "wrong_type"])
def test_unreadable_scores_keep_count_and_name_the_file(tmp_path, case, tally):
    """A scores file that is there but unreadable: the epoch still counts (files present and
    non-empty is the rule), and the warning names the file."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    path = os.path.join(_last_epoch(tree, victim.rel), "validation_scores.json")
    _write(path, PAYLOADS[case])
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    assert (rs.status, rs.progress.completed_epochs) == (victim.status, victim.completed_epochs)
    assert path in messages(rs), messages(rs)


@pytest.mark.parametrize("case", ["empty", "directory", "symlink_loop", "dangling_symlink", "epoch_is_file"])
def test_missing_scores_make_the_epoch_unfinished(tmp_path, case, tally):
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    epoch = _last_epoch(tree, victim.rel)
    path = os.path.join(epoch, "validation_scores.json")
    os.unlink(path)
    if case == "empty":
        _write(path, b"")
    elif case == "directory":
        os.mkdir(path)
    elif case == "symlink_loop":
        os.symlink("validation_scores.json", path)
    elif case == "dangling_symlink":
        os.symlink("nowhere.json", path)
    elif case == "epoch_is_file":
        shutil.rmtree(epoch)
        _write(epoch, b"not a dir")
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    assert rs.progress.completed_epochs == victim.completed_epochs - 1
    assert rs.status == "failed"  # stale log, no process, not complete


@pytest.mark.parametrize("where", ["first", "last"])
def test_huge_scores_file_read_exactly(tmp_path, where, tally):
    """100 MB of per_datapoint: aggregated is still read exactly (fast when it comes first)."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    path = os.path.join(_last_epoch(tree, victim.rel), "validation_scores.json")
    with open(path) as f:
        agg = json.load(f)["aggregated"]
    _write(path, _huge_json_object("aggregated", agg) if where == "first" else _huge_aggregated_last(agg))
    tally["bad_input_cases"] += 1
    t0 = time.monotonic()
    by_rel = scan(tree)
    elapsed = time.monotonic() - t0
    assert mismatches(tree, by_rel) == []
    if where == "first":
        assert elapsed < 10, f"aggregated-first 100 MB scores took {elapsed:.1f}s"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_scores(tmp_path, value, tally):
    """A diverged epoch (NaN) never becomes best, and every record stays strict JSON."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    path = os.path.join(_last_epoch(tree, victim.rel), "validation_scores.json")
    with open(path) as f:
        data = json.load(f)
    key = victim.main_key
    data["aggregated"][key] = value
    with open(path, "w") as f:
        json.dump(data, f, allow_nan=True)
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    assert (rs.status, rs.progress.completed_epochs) == (victim.status, victim.completed_epochs)
    best = rs.progress.best_score[key]
    if math.isnan(value):
        assert math.isfinite(best)
    else:
        # +-Infinity is ordered like any number, as Pylon's own early stopping orders it.
        assert math.isfinite(best) or best == value
    # JSON.parse in a browser rejects NaN: the public record must be strict JSON.
    for r in by_rel.values():
        json.dumps(r.to_dict(), allow_nan=False)


def test_garbage_pt_counts_by_presence_and_fails_load_check(tmp_path, tally):
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    epoch = _last_epoch(tree, victim.rel)
    _write(os.path.join(epoch, "training_losses.pt"), os.urandom(4096))
    tally["bad_input_cases"] += 1
    assert mismatches(tree, scan(tree)) == []
    files = ["training_losses.pt", "optimizer_buffer.json", "validation_scores.json"]
    assert check_epoch_finished(epoch, files) is True
    assert check_epoch_finished(epoch, files, check_load=True) is False
    prev = os.path.join(os.path.dirname(epoch), f"epoch_{victim.completed_epochs - 2}")
    assert check_epoch_finished(prev, files, check_load=True) is True


# ----------------------------------------------------------------- evaluator scores


@pytest.mark.parametrize("case", ["empty", "whitespace", "truncated", "nested", "non_utf8", "binary", "wrong_type", "directory", "symlink_loop"])
def test_bad_evaluation_scores(tmp_path, case, tally):
    """An evaluator's only artifact damaged: not complete, the file named, nobody else affected."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "evaluator_finished")
    path = os.path.join(work_dir(tree, victim.rel), "evaluation_scores.json")
    os.unlink(path)
    if case == "directory":
        os.mkdir(path)
    elif case == "symlink_loop":
        os.symlink("evaluation_scores.json", path)
    else:
        _write(path, PAYLOADS[case])
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    if case == "wrong_type":
        # The format's rule: done when the file parses; the missing 'aggregated' is a warning.
        assert (rs.progress.completed_epochs, rs.status) == (1, "finished")
    else:
        assert rs.progress.completed_epochs == 0 and rs.status == "failed"
    if case != "empty":
        assert path in messages(rs), messages(rs)


def test_nan_evaluation_scores_complete(tmp_path, tally):
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "evaluator_finished")
    path = os.path.join(work_dir(tree, victim.rel), "evaluation_scores.json")
    _write(path, b'{"aggregated": {"mean_IoU": NaN, "mae": Infinity}, "per_datapoint": {}}')
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    assert (rs.status, rs.progress.completed_epochs) == ("finished", 1)
    json.dumps(rs.to_dict(), allow_nan=False)


# ----------------------------------------------------------------- work dirs and configs


@pytest.mark.parametrize("case", ["work_dir_is_file", "work_dir_self_loop", "work_dir_dangling", "epoch_links_to_parent"])
def test_broken_work_dirs(tmp_path, case, tally):
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    wd = work_dir(tree, victim.rel)
    if case == "epoch_links_to_parent":
        os.symlink("..", os.path.join(wd, f"epoch_{victim.completed_epochs}"))
    else:
        shutil.rmtree(wd)
        if case == "work_dir_is_file":
            _write(wd, b"oops")
        elif case == "work_dir_self_loop":
            os.symlink(os.path.basename(wd), wd)
        else:
            os.symlink("/nonexistent/dir", wd)
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    if case == "epoch_links_to_parent":
        assert (rs.status, rs.progress.completed_epochs) == (victim.status, victim.completed_epochs)
    else:
        assert rs.status == "failed" and rs.progress.completed_epochs == 0
        assert wd in messages(rs), messages(rs)


CONFIG_DAMAGE = {
    "syntax_error": b"config = {\n  'epochs': 3,\n  'runner': (\n",
    "empty": b"",
    "non_utf8": b"config = {'epochs': 3, 'name': '\xff\xfe'}\n",
    "binary": bytes(range(256)),
    "no_config": b"x = 1\n",
    "null_bytes": b"config = {'epochs': 3}\x00\x00\n",
}


@pytest.mark.parametrize("case", [*CONFIG_DAMAGE, "directory", "missing"])
def test_broken_config_fails_alone(tmp_path, case, tally):
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "running")
    cfg = os.path.join(tree.root, victim.config_path)
    os.unlink(cfg)
    if case == "directory":
        os.mkdir(cfg)
    elif case != "missing":
        _write(cfg, CONFIG_DAMAGE[case])
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[victim.rel]) == []
    rs = by_rel[victim.rel]
    # The run's artifacts still show it running (fresh log); the broken config is named.
    assert rs.status == "running"
    if case not in ("no_config",):
        assert victim.config_path.split("/")[-1] in messages(rs), messages(rs)


WEIRD_NAMES = [
    "with space/run 1",
    "unicodé/ラン_ü",
    "shell/$(touch PWNED);`touch PWNED2`|&'\"run",
    "glob/*?[x]",
    "newline/a\nb",
    "dash/-rf --config",
]


@pytest.mark.parametrize("name", WEIRD_NAMES)
def test_weird_run_names(tmp_path, name, tally, monkeypatch):
    """A run whose config and work dir have spaces, unicode or shell metacharacters is read exactly
    and nothing is executed."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    old_rel = victim.rel
    new_rel = "trainers/" + name
    old_cfg = os.path.join(tree.root, "configs", old_rel + ".py")
    new_cfg = os.path.join(tree.root, "configs", new_rel + ".py")
    os.makedirs(os.path.dirname(new_cfg), exist_ok=True)
    with open(old_cfg) as f:
        text = f.read()
    os.unlink(old_cfg)
    with open(new_cfg, "w") as f:
        f.write(text.replace(f"./logs/{old_rel}", f"./logs/{new_rel}".replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")))
    new_wd = work_dir(tree, new_rel)
    os.makedirs(os.path.dirname(new_wd), exist_ok=True)
    os.rename(work_dir(tree, old_rel), new_wd)
    victim.rel = new_rel
    monkeypatch.chdir(tmp_path)
    tally["bad_input_cases"] += 1
    by_rel = scan(tree)
    assert mismatches(tree, by_rel) == []
    assert by_rel[new_rel].run == new_rel
    assert not [w for w in (by_rel[new_rel].progress.warnings or []) if "work_dir" in w]
    assert not any(os.path.exists(tmp_path / p) or os.path.exists(os.path.join(tree.root, p)) for p in ("PWNED", "PWNED2"))


@pytest.mark.parametrize("case", ["directory", "symlink_loop", "dangling_symlink", "epoch_is_file"])
def test_blocked_epoch_is_explained(tmp_path, case, tally):
    """An epoch that cannot finish as it stands (unlike an empty file mid-write) must say why."""
    tree = small_tree(str(tmp_path / "p"))
    victim = pick(tree, "finished")
    epoch = _last_epoch(tree, victim.rel)
    path = os.path.join(epoch, "validation_scores.json")
    os.unlink(path)
    if case == "directory":
        os.mkdir(path)
    elif case == "symlink_loop":
        os.symlink("validation_scores.json", path)
    elif case == "dangling_symlink":
        os.symlink("nowhere.json", path)
    else:
        shutil.rmtree(epoch)
        _write(epoch, b"not a dir")
        path = epoch
    tally["bad_input_cases"] += 1
    rs = scan(tree)[victim.rel]
    assert path in messages(rs), messages(rs)

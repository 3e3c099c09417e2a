"""Permission-denied dirs and files, for real: root without CAP_DAC_OVERRIDE obeys file modes.

The suite runs as root, which ignores permissions; `setpriv` drops the two capabilities
that let root bypass them, so the scan below sees EACCES exactly as a normal user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .helpers import expected, small_tree

SETPRIV = shutil.which("setpriv")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv (util-linux) to drop CAP_DAC_OVERRIDE")


def scan_without_dac(root: str) -> dict[str, dict]:
    cmd = [
        SETPRIV,
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search",
        sys.executable,
        "-m",
        "runwatch.cli",
        "status",
        "--json",
        "--no-local",
        "--root",
        root,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return {r["run"]: r for r in json.loads(out.stdout)["runs"]}


def test_permission_denied_is_reported_and_others_stay_exact(tmp_path):
    tree = small_tree(str(tmp_path / "proj"), n_runs=26)
    finished = [r for r in tree.runs if r.scenario == "finished"]
    evaluator = next(r for r in tree.runs if r.scenario == "evaluator_finished")
    assert len(finished) >= 2
    wd = lambda r: os.path.join(tree.root, "logs", *r.rel.split("/"))
    locked_dir, locked_epoch = finished[0], finished[1]
    denied = [
        wd(locked_dir),  # a whole work dir
        os.path.join(wd(locked_epoch), "epoch_1"),  # one epoch dir
        os.path.join(wd(evaluator), "evaluation_scores.json"),  # the evaluator's scores
    ]
    try:
        for p in denied:
            os.chmod(p, 0)
        got = scan_without_dac(tree.root)
    finally:
        for p in denied:
            os.chmod(p, 0o755)
    damaged = {locked_dir.rel, locked_epoch.rel, evaluator.rel}

    rec = got[locked_dir.rel]
    assert rec["status"] == "failed" and "permission denied" in rec["error_message"] and wd(locked_dir) in rec["error_message"]

    rec = got[locked_epoch.rel]
    assert rec["completed_epochs"] == 1
    assert any("epoch_1" in w and "permission denied" in w for w in rec["warnings"])

    rec = got[evaluator.rel]
    assert rec["completed_epochs"] == 0 and rec["status"] == "failed"
    assert any("evaluation_scores.json" in w and ("denied" in w or "unreadable" in w) for w in rec["warnings"])

    problems = []
    for exp in tree.runs:
        if exp.rel in damaged:
            continue
        r = got[exp.rel]
        want = expected(exp)
        if exp.scenario == "stuck":  # no process source in this scan
            want = ("failed", *want[1:])
        have = (
            r["status"],
            r["completed_epochs"],
            r["total_epochs"],
            round(r["progress_percentage"], 6),
            r["early_stopped"],
            r["early_stopped_at_epoch"],
            r["runner_type"],
        )
        if have != want:
            problems.append(f"{exp.rel}: got {have}, want {want}")
    assert not problems, "\n".join(problems)


def test_unreadable_config_names_the_file(tmp_path):
    tree = small_tree(str(tmp_path / "proj"))
    victim = next(r for r in tree.runs if r.scenario == "finished")
    cfg = os.path.join(tree.root, victim.config_path)
    os.chmod(cfg, 0)
    try:
        got = scan_without_dac(tree.root)
    finally:
        os.chmod(cfg, 0o644)
    rec = got[victim.rel]
    messages = (rec["warnings"] or []) + [rec["error_message"] or ""]
    assert any(cfg in m and ("denied" in m.lower() or "cannot read" in m) for m in messages), messages


def test_unreadable_log_is_a_warning_like_an_unreadable_scores_file(tmp_path):
    """A crashed run whose log is mode 000: it must not read as a clean run with no word about the log.

    Real permissions: ``setpriv`` drops root's CAP_DAC_OVERRIDE, so the mode applies as for any user.
    """
    tree = small_tree(str(tmp_path / "proj"))
    victim = next(r for r in tree.runs if r.scenario == "failed")
    d = os.path.join(tree.root, "logs", *victim.rel.split("/"))
    log = os.path.join(d, next(n for n in sorted(os.listdir(d)) if n.startswith("train") and n.endswith(".log")))
    os.chmod(log, 0)
    try:
        got = scan_without_dac(tree.root)
    finally:
        os.chmod(log, 0o644)
    rec = got[victim.rel]
    messages = (rec["warnings"] or []) + [rec["error_message"] or ""]
    assert any(log in m and "denied" in m.lower() for m in messages), messages

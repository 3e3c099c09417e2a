"""The Slurm source against a real single-node Slurm running a real launcher job."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fixtures_slurm import Slurm, slurm  # noqa: F401

from runwatch.project import Project
from runwatch.processes import LocalSource, SlurmError, SlurmSource, SystemMonitor
from runwatch.processes.slurm import parse_squeue, script_lines
from runwatch.settings import Settings

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]

MAIN_PY = "import time\ntime.sleep(120)\n"


def project(root: Path) -> Project:
    (root / "configs" / "x").mkdir(parents=True, exist_ok=True)
    for name in ("run_0", "run_1", "run_2"):
        (root / "configs" / "x" / f"{name}.py").write_text("config = {}\n")
    (root / "main.py").write_text(MAIN_PY)
    return Project.at(root, Settings())


def test_job_seen_queued_then_running(slurm: Slurm, tmp_path: Path) -> None:
    proj = project(tmp_path)
    (tmp_path / "job.sh").write_text(
        "#!/bin/bash\n#SBATCH --job-name=run0\n# --config-filepath configs/x/nothing.py (a comment)\n"
        "python3 main.py \\\n  --config-filepath configs/x/run_0.py\n"
    )
    held = slurm.sbatch("--hold", str(tmp_path / "job.sh"), cwd=tmp_path)
    wrapped = slurm.sbatch("--hold", "--wrap", "python main.py --debug --config-filepath=./configs/x/run_1.py", cwd=tmp_path)
    src = SlurmSource(env=slurm.env)
    snap = src.collect(proj)
    assert snap.errors == {}
    jobs = {p.job_id: p for p in snap.processes}
    assert jobs[held].config_rel == "x/run_0" and jobs[held].state == "queued" and not jobs[held].debug
    assert jobs[wrapped].config_rel == "x/run_1" and jobs[wrapped].debug and jobs[wrapped].state == "queued"
    assert jobs[held].cwd == str(tmp_path) and jobs[held].server == "slurm"
    assert snap.by_config()["x/run_0"].state == "queued"

    slurm.run("scontrol", "release", held)
    slurm.wait_state(held, "RUNNING")
    snap = src.collect(proj)
    p = {q.job_id: q for q in snap.processes}[held]
    assert p.state == "running" and p.config_rel == "x/run_0" and p.start_time is not None
    assert p.location == f"slurm:job{held}"
    # The node is this machine: the job's real interpreter is there, running the same config.
    deadline = time.monotonic() + 15
    while not (local := LocalSource().collect(proj).by_config()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert local["x/run_0"].cmd.startswith("python3 main.py") and local["x/run_0"].cwd == str(tmp_path)
    slurm.run("scancel", held, wrapped)


def test_all_users_and_monitor_composition(slurm: Slurm, tmp_path: Path) -> None:
    proj = project(tmp_path)
    jid = slurm.sbatch("--begin=now+1hour", "--wrap", "python main.py --config-filepath configs/x/run_2.py", cwd=tmp_path)
    mon = SystemMonitor([SlurmSource(env=slurm.env, all_users=True)])
    try:
        snap = mon.snapshot(proj)
        assert snap.errors == {}
        assert snap.by_config()["x/run_2"].job_id == jid and snap.by_config()["x/run_2"].state == "queued"
    finally:
        mon.close()
        slurm.run("scancel", jid)


def test_squeue_failure_is_an_error_on_the_snapshot(slurm: Slurm, tmp_path: Path) -> None:
    proj = project(tmp_path)
    (tmp_path / "bad.conf").write_text("BogusKey=1\n")
    broken = dict(slurm.env, SLURM_CONF=str(tmp_path / "bad.conf"))
    mon = SystemMonitor([SlurmSource(env=broken)])
    snap = mon.snapshot(proj)
    mon.close()
    assert "slurm" in snap.errors and "squeue failed (exit 1)" in snap.errors["slurm"]
    assert "BogusKey" in snap.errors["slurm"]
    # Without a config squeue keeps looking for a controller: a hang, reported as such.
    lost = dict(slurm.env, SLURM_CONF=str(tmp_path / "missing.conf"))
    mon = SystemMonitor([SlurmSource(env=lost, timeout=1)])
    snap = mon.snapshot(proj)
    mon.close()
    assert snap.errors == {"slurm": "slurm: squeue gave no answer within 1s"}


def test_squeue_missing_is_an_error(tmp_path: Path) -> None:
    src = SlurmSource(env=dict(os.environ, PATH=str(tmp_path)))
    with pytest.raises(SlurmError, match="squeue not found"):
        src.collect(project(tmp_path))


def test_parse_squeue_and_scripts() -> None:
    sep = "\x1f"
    rows = parse_squeue(sep.join(["12_[3-5]", "12", "PENDING", "ann", "2024-01-01T10:00:00", "N/A", "/w", "(null)"]) + "\n")
    assert rows[0].array_job_id == "12" and rows[0].start_time is None and rows[0].command is None
    with pytest.raises(SlurmError, match="line 1"):
        parse_squeue("garbage|x\n")
    assert script_lines("#!/bin/sh\n#SBATCH -n1\nsrun python \\\n  main.py --config-filepath a.py\n\n") == ["srun python    main.py --config-filepath a.py"]

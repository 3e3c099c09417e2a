"""Status of toy Pylon runs as Slurm jobs on the real single-node Slurm: the scheduler's word first (rows 1-4)."""

from __future__ import annotations

import time

import pytest
from fixtures_slurm import Slurm, slurm  # noqa: F401
from status_project import ToyProject

from runwatch.project import Project
from runwatch.processes import LocalSource, SlurmSource, SystemMonitor
from runwatch.run_status import get_all_run_status

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(240)]

SETTINGS = "stall_floor = 1\ntmux_output = false\nslurm = true\nslurm_all_users = true\n"


@pytest.fixture
def proj(tmp_path):
    p = ToyProject(tmp_path / "proj", settings=SETTINGS)
    yield p
    p.close()


def submit(slurm: Slurm, proj: ToyProject, rel: str, *extra: str) -> str:
    out = slurm.run(
        "sbatch",
        "--parsable",
        "-o",
        str(proj.root / "out" / "slurm-%j.out"),
        *extra,
        "--wrap",
        f"python3 main.py --config-filepath ./configs/{rel}.py",
        cwd=proj.root,
    )
    return out.strip().split(";")[0]


def status(slurm: Slurm, proj: ToyProject, rel: str):
    project = Project.at(proj.root)
    mon = SystemMonitor([LocalSource(), SlurmSource(all_users=True, env=slurm.env)])
    cfg = str(proj.root / "configs" / f"{rel}.py")
    try:
        return get_all_run_status([cfg], root=str(proj.root), system_monitor=mon)[cfg]
    finally:
        mon.close()


def wait_for(fn, want, timeout=60.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = fn()
        if want(got):
            return got
        time.sleep(0.5)
    raise AssertionError(f"not reached within {timeout}s: {got}")


def ended(slurm: Slurm, job: str, timeout: float = 60.0) -> None:
    wait_for(
        lambda: slurm.run("squeue", "--noheader", "-t", "all", "-j", job, "-o", "%T", check=False).strip(),
        lambda s: s not in ("", "PENDING", "RUNNING", "COMPLETING", "CONFIGURING"),
        timeout=timeout,
    )


def test_completed_job_is_finished(slurm, proj):
    proj.config("s/done", epochs=2, epoch_seconds=0.2)
    job = submit(slurm, proj, "s/done")
    ended(slurm, job)
    rs = status(slurm, proj, "s/done")
    assert (rs.status, rs.reason) == ("finished", None)
    assert rs.process_info is not None and rs.process_info.job_state == "COMPLETED"


def test_failed_job_has_exit_code_and_the_traceback_from_its_output_file(slurm, proj):
    proj.config("s/crash", epochs=5, epoch_seconds=0.2, crash_at=1)
    job = submit(slurm, proj, "s/crash")
    ended(slurm, job)
    rs = status(slurm, proj, "s/crash")
    assert rs.status == "failed" and rs.reason == "oom"
    assert f"Slurm job {job} FAILED, exit code 1" in rs.reason_detail
    assert rs.error_source == "slurm_output" and rs.error_line.startswith("RuntimeError: CUDA out of memory")
    # The CLI (a new process, Slurm from the project's settings) gives the same answer.
    cli = proj.cli("s/crash", env=slurm.env)
    assert (cli["status"], cli["reason"], cli["reason_detail"], cli["error_source"]) == (rs.status, rs.reason, rs.reason_detail, rs.error_source)


def test_failed_job_without_traceback_is_crashed_with_exit_code(slurm, proj):
    proj.config("s/exit3", epochs=5)
    # argparse refuses the flag: exit code 2, a usage message, no traceback.
    job = slurm.run(
        "sbatch",
        "--parsable",
        "-o",
        str(proj.root / "out" / "x.out"),
        "--wrap",
        "python3 main.py --config-filepath ./configs/s/exit3.py --no-such-flag",
        cwd=proj.root,
    ).strip()
    ended(slurm, job)
    rs = status(slurm, proj, "s/exit3")
    assert (rs.status, rs.reason) == ("failed", "crashed") and f"Slurm job {job} FAILED, exit code 2" == rs.reason_detail


def test_scancelled_job_is_cancelled(slurm, proj):
    proj.config("s/cancel", epochs=500, epoch_seconds=0.5)
    job = submit(slurm, proj, "s/cancel")
    wait_for(lambda: status(slurm, proj, "s/cancel").status, lambda s: s == "running")
    slurm.run("scancel", job)
    ended(slurm, job)
    rs = wait_for(lambda: status(slurm, proj, "s/cancel"), lambda r: r.reason == "cancelled", timeout=20)
    assert rs.status == "failed" and "CANCELLED" in rs.reason_detail


def test_requeued_job_is_queued(slurm, proj):
    proj.config("s/requeue", epochs=500, epoch_seconds=0.5)
    job = submit(slurm, proj, "s/requeue", "--requeue")
    wait_for(lambda: status(slurm, proj, "s/requeue").status, lambda s: s == "running")
    slurm.run("scontrol", "requeue", job)
    rs = wait_for(lambda: status(slurm, proj, "s/requeue"), lambda r: r.status == "queued", timeout=30)
    assert rs.reason in ("pending", "requeued")
    slurm.run("scancel", job)


def test_held_job_is_queued_pending(slurm, proj):
    proj.config("s/held", epochs=3)
    job = submit(slurm, proj, "s/held", "--hold")
    rs = status(slurm, proj, "s/held")
    assert (rs.status, rs.reason) == ("queued", "pending")
    slurm.run("scancel", job)


@pytest.mark.slow
def test_job_past_its_time_limit_is_timeout(slurm, proj):
    proj.config("s/limit", epochs=5000, epoch_seconds=0.5)
    job = submit(slurm, proj, "s/limit", "--time=1")
    ended(slurm, job, timeout=200)  # MinJobAge keeps it listed; the limit fires after 60-120 s
    rs = status(slurm, proj, "s/limit")
    assert (rs.status, rs.reason) == ("failed", "timeout") and "TIMEOUT" in rs.reason_detail

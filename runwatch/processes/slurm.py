"""Slurm jobs that run a config of the project, queued or running.

A queued job is not a live process: it is reported with ``state="queued"`` so a
run waiting for a node reads as queued, never as stuck (alive) or failed. The
config is read from the job's command, else from its batch script (``sbatch
--wrap`` and plain scripts carry the launcher line there); scripts are fetched once
per job since they never change after submission.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from runwatch.process_info import ProcessInfo, ProcessSnapshot, ProcessState
from runwatch.processes.matching import CommandMatcher, Match

SEP = "\x1f"  # a unit separator: cannot occur in paths or commands typed by a user
FIELDS = ["%i", "%F", "%T", "%u", "%V", "%S", "%Z", "%o"]
SQUEUE_FORMAT = SEP.join(FIELDS)

QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
RUNNING_STATES = {
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "STOPPED",
    "SIGNALING",
    "STAGE_OUT",
    "RESIZING",
}
STOPPED_STATES = {"SUSPENDED", "STOPPED"}
# Ended jobs, as the controller lists them for MinJobAge after the end (squeue -t ...), and
# as sacct reports them later where accounting is on. rules.JOB_END_REASONS says what each means.
ENDED_CODES = "CD,F,CA,TO,OOM,PR,NF,BF,DL"
ENDED_FIELDS = ["JobID", "ArrayJobID", "State", "exit_code", "UserName", "SubmitTime", "StartTime", "EndTime", "WorkDir", "Command", "STDOUT", "STDERR"]
ENDED_FORMAT = ",".join(f"{f}:{SEP}" for f in ENDED_FIELDS)


@dataclass(frozen=True)
class EndedRow:
    row: SqueueRow
    end_time: float | None
    exit_code: int | None
    signal: int | None
    stdout: str | None
    stderr: str | None


def _wait_status(text: str) -> tuple[int | None, int | None]:
    """(exit code, signal) from squeue's raw wait status ("256") or sacct's "1:0"."""
    text = text.strip()
    if ":" in text:
        a, _, b = text.partition(":")
        try:
            return int(a), int(b) or None
        except ValueError:
            return None, None
    try:
        raw = int(text)
    except ValueError:
        return None, None
    return (raw >> 8) & 0xFF, (raw & 0x7F) or None


def parse_ended(text: str) -> list[EndedRow]:
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(SEP)
        if len(cells) < len(ENDED_FIELDS):
            raise SlurmError(f"squeue (ended jobs) output line {lineno}: expected {len(ENDED_FIELDS)} fields, got {len(cells)}: {line!r}")
        jid, ajid, state, code, user, submit, start, end, wd, cmd, so, se = (c.strip() for c in cells[: len(ENDED_FIELDS)])
        exit_code, sig = _wait_status(code)
        row = SqueueRow(jid, ajid or jid, state.split()[0] if state else "", user, _time(submit), _time(start), _opt(wd), _opt(cmd))
        out.append(EndedRow(row, _time(end), exit_code, sig, _opt(so), _opt(se)))
    return out


class SlurmError(RuntimeError):
    """squeue could not be asked; the jobs it would have listed are unknown, not absent."""


@dataclass(frozen=True)
class SqueueRow:
    job_id: str
    array_job_id: str
    state: str
    user: str
    submit_time: float | None
    start_time: float | None
    work_dir: str | None
    command: str | None


def _time(text: str) -> float | None:
    text = text.strip()
    if not text or text in ("N/A", "Unknown", "None", "(null)"):
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _opt(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", "(null)", "N/A") else text


def parse_squeue(text: str) -> list[SqueueRow]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(SEP)
        if len(cells) != len(FIELDS):
            raise SlurmError(f"squeue output line {lineno}: expected {len(FIELDS)} fields, got {len(cells)}: {line!r}")
        jid, ajid, state, user, submit, start, wd, cmd = cells
        rows.append(
            SqueueRow(
                job_id=jid.strip(),
                array_job_id=ajid.strip() or jid.strip(),
                state=state.strip().split()[0] if state.strip() else "",
                user=user.strip(),
                submit_time=_time(submit),
                start_time=_time(start),
                work_dir=_opt(wd),
                command=_opt(cmd),
            )
        )
    return rows


def script_lines(script: str) -> list[str]:
    """Command lines of a shell script: comments (and #SBATCH) dropped, ``\\`` continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in script.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _pid_of(row: SqueueRow) -> int:
    digits = ""
    for c in row.array_job_id:
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else 0


class SlurmSource:
    """Jobs from ``squeue`` (the user's own, or everyone's with ``all_users``)."""

    def __init__(
        self,
        all_users: bool = False,
        name: str = "slurm",
        timeout: float = 10.0,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.all_users = all_users
        self.timeout = timeout
        self.user = user
        self.env = env
        # job id -> (submit time, match). Keyed with the submit time so that a job id
        # reused after a controller reset never keeps the old job's config.
        self._cache: dict[str, tuple[float | None, Match | None]] = {}
        self._cache_for: tuple[str, Any] | None = None

    def _cmd(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        exe = shutil.which(args[0], path=(self.env or {}).get("PATH"))
        if exe is None:
            raise SlurmError(f"{args[0]} not found on PATH: install the Slurm client tools or turn slurm off")
        try:
            return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=self.timeout, env=self.env, check=False)
        except subprocess.TimeoutExpired as e:
            raise SlurmError(f"{args[0]} gave no answer within {self.timeout:g}s") from e

    def squeue(self) -> list[SqueueRow]:
        args = ["squeue", "--noheader", "--array", "-o", SQUEUE_FORMAT]
        if not self.all_users:
            args += ["-u", self.user or getpass.getuser()]
        r = self._cmd(args)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip()
            raise SlurmError(f"squeue failed (exit {r.returncode}): {msg or 'no message'}")
        return parse_squeue(r.stdout)

    def ended(self) -> list[EndedRow]:
        """Jobs that ended recently (still listed by the controller), with state, exit code and output files."""
        args = ["squeue", "--noheader", "--array", "-t", ENDED_CODES, "-O", ENDED_FORMAT]
        if not self.all_users:
            args += ["-u", self.user or getpass.getuser()]
        r = self._cmd(args)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip()
            raise SlurmError(f"squeue -t {ENDED_CODES} failed (exit {r.returncode}): {msg or 'no message'}")
        return parse_ended(r.stdout)

    def sacct(self, job_ids: list[str]) -> dict[str, tuple[str, int | None, int | None, float | None]]:
        """job id -> (state, exit code, signal, end time) from accounting; {} where accounting is off."""
        if not job_ids:
            return {}
        try:
            r = self._cmd(["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobIDRaw,State,ExitCode,End"])
        except SlurmError:
            return {}
        if r.returncode != 0:
            return {}
        out = {}
        for line in r.stdout.splitlines():
            cells = line.split("|")
            if len(cells) < 4:
                continue
            code, sig = _wait_status(cells[2])
            out[cells[0].strip()] = (cells[1].split()[0] if cells[1].strip() else "", code, sig, _time(cells[3]))
        return out

    def batch_script(self, job_id: str) -> str | None:
        """The job's batch script, or None when Slurm will not show it (another user's job, an srun job)."""
        r = self._cmd(["scontrol", "write", "batch_script", job_id, "-"])
        if r.returncode != 0:
            return None
        return r.stdout

    def match_job(self, row: SqueueRow, matcher: CommandMatcher) -> Match | None:
        cached = self._cache.get(row.job_id)
        if cached is not None and cached[0] == row.submit_time:
            return cached[1]
        match: Match | None = None
        if row.command:
            match = matcher.match(row.command, row.work_dir)
        if match is None:
            script_id = row.array_job_id if "[" in row.job_id else row.job_id
            script = self.batch_script(script_id)
            for line in script_lines(script or ""):
                if matcher.is_candidate(line):
                    match = matcher.match(line, row.work_dir)
                    if match is not None:
                        break
        self._cache[row.job_id] = (row.submit_time, match)
        return match

    def collect(self, project: Any) -> ProcessSnapshot:
        matcher = CommandMatcher(project)
        if self._cache_for != (project.root, project.settings):
            self._cache.clear()
            self._cache_for = (project.root, project.settings)
        snap = ProcessSnapshot()
        rows = self.squeue()
        seen = set()
        for row in rows:
            state: ProcessState
            if row.state in QUEUED_STATES:
                state = "queued"
            elif row.state in STOPPED_STATES:
                state = "stopped"
            elif row.state in RUNNING_STATES:
                state = "running"
            else:
                continue  # finished jobs still listed for a moment
            seen.add(row.job_id)
            match = self.match_job(row, matcher)
            if match is None:
                continue
            snap.processes.append(
                ProcessInfo(
                    pid=_pid_of(row),
                    user=row.user,
                    cmd=row.command or "",
                    start_time=row.start_time if state == "running" else row.submit_time,
                    server=self.name,
                    cwd=row.work_dir,
                    config_rel=match.config_rel,
                    debug=match.debug,
                    state=state,
                    source=self.name,
                    job_id=row.job_id,
                    job_state=row.state,
                )
            )
        self._collect_ended(project, matcher, snap, seen)
        snap.hosts.append(self.name)
        for jid in list(self._cache):
            if jid not in seen:
                del self._cache[jid]
        return snap

    def _collect_ended(self, project: Any, matcher: CommandMatcher, snap: ProcessSnapshot, seen: set[str]) -> None:
        """Ended jobs: from the controller while it lists them, then from sacct for remembered ones."""
        listed = {p.job_id for p in snap.processes}
        for e in self.ended():
            row = e.row
            if row.job_id in listed:
                continue
            seen.add(row.job_id)
            match = self.match_job(row, matcher)
            if match is None:
                continue
            listed.add(row.job_id)
            snap.processes.append(
                self._ended_info(row.job_id, row.state, e.exit_code, e.signal, e.end_time, match.config_rel, match.debug, row, e.stdout, e.stderr)
            )
        # Jobs a process memory remembers but the controller no longer lists: ask accounting.
        from runwatch.run_status.process_memory import memory_for

        remembered = memory_for(str(project.settings.resolve_cache_dir(project.root))).jobs(self.name)
        missing = {jid: rel for jid, rel in remembered.items() if jid not in listed}
        for jid, (state, code, sig, end) in self.sacct(sorted(missing)).items():
            if jid in missing and state and state not in QUEUED_STATES and state not in RUNNING_STATES:
                snap.processes.append(self._ended_info(jid, state, code, sig, end, missing[jid], False, None, None, None))

    def _ended_info(
        self,
        job_id: str,
        state: str,
        code: int | None,
        sig: int | None,
        end: float | None,
        rel: str,
        debug: bool,
        row: SqueueRow | None,
        stdout: str | None,
        stderr: str | None,
    ) -> ProcessInfo:
        return ProcessInfo(
            pid=_pid_of(row) if row is not None else int(job_id.split("_")[0]) if job_id.split("_")[0].isdigit() else 0,
            user=row.user if row is not None else "",
            cmd=(row.command or "") if row is not None else "",
            start_time=row.start_time if row is not None else None,
            server=self.name,
            cwd=row.work_dir if row is not None else None,
            config_rel=rel,
            debug=debug,
            state="ended",
            source=self.name,
            job_id=job_id,
            job_state=state,
            exit_code=code,
            signal=sig,
            stdout=stdout,
            stderr=stderr,
            end_time=end,
        )

    def close(self) -> None:
        self._cache.clear()

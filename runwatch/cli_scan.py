"""What the CLI asks the core: which configs the user means, and their status.

Kept apart from ``cli.py`` so the command definitions stay declarative and so the
same scan (paths -> configs -> RunStatus, trackers reused between refreshes) serves
``status``, ``status --watch``, ``show`` and the demo's terminal fallback.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runwatch.configs.facts import ConfigFacts
from runwatch.errors import LayoutError, UserError
from runwatch.layouts import active, discover_runs, glob_bases, has_runs, name_of, run_for, runs_at, runs_named
from runwatch.project import Project, infer_root  # noqa: F401  (infer_root: re-exported for the CLI)
from runwatch.progress_tracking.progress_info import json_safe
from runwatch.run_status import STATUSES, RunStatus, engine_for
from runwatch.status_names import split_statuses
from runwatch.view_model import SORT_KEYS as _VIEW_SORT_KEYS
from runwatch.view_model import natural_key, run_percentage, run_record, sort_records
from runwatch.view_model import summarize as view_summarize

if TYPE_CHECKING:  # (compare.query is imported when a search or --hp asks for it)
    from runwatch.compare.query import RunQuery

JSON_SCHEMA_VERSION = 1
SORT_KEYS: tuple[str, ...] = tuple(k for k in _VIEW_SORT_KEYS if k != "cluster")
_GLOB_CHARS = set("*?[")


def user_mistake(e: BaseException) -> str | None:
    """The one line a mistake of the user is shown as (a bad settings file, path or pattern; exit code 2), or None."""
    from runwatch.settings import SettingsError

    if isinstance(e, UserError | SettingsError | LayoutError):
        return str(e)
    if isinstance(e, ValueError) and type(e).__name__ in ("PatternError", "TokenError"):
        return str(e)
    return None


@dataclass
class Row:
    """One run as the CLI shows it: the core's RunStatus plus the config facts behind it."""

    status: RunStatus
    facts: ConfigFacts | None = None
    # The chosen hyperparameter columns (``--hp``): {key: value}, None when none were asked for.
    params: dict[str, Any] | None = None

    @functools.cached_property
    def record(self) -> dict[str, Any]:
        """The run's record (runwatch.view_model.run_record, built once per row): what the table shows."""
        return run_record(self.status)

    @property
    def json_record(self) -> dict[str, Any]:
        """The run's record as strict JSON (``--json``, ``--jsonl``): non-finite numbers as strings;
        with ``--hp``, ``params`` holds the chosen hyperparameters."""
        rec = run_record(self.status, strict=True)
        if self.params is not None:
            rec["params"] = json_safe(self.params)
        return rec

    @property
    def directions(self) -> dict[str, Any] | None:
        return self.facts.directions if self.facts is not None else None

    @property
    def last_update(self) -> float | None:
        """ "Updated" (view_model.updated_at, as the record carries it): the newest sign of life."""
        v = self.record.get("updated")
        return float(v) if isinstance(v, int | float) else None

    @property
    def overall_percentage(self) -> float:
        """Completion for the summary: a finished run counts fully, even if it stopped early."""
        return run_percentage(self.status.status, self.status.progress.progress_percentage)


@dataclass
class ScanResult:
    rows: list[Row]
    process_errors: dict[str, str] = field(default_factory=dict)
    checked_at: float = field(default_factory=time.time)


# ---------------------------------------------------------------- paths -> configs


def check_project(project: Project) -> None:
    """A user error for a folder that holds no runs of any layout."""
    if not has_runs(project):
        kinds = "; ".join(layout.title for layout in active(project))
        raise UserError(f"{project.root}: not a project root: no runs of any layout under it ({kinds}); pass --root or run inside a project")


def resolve_targets(project: Project, paths: Sequence[str]) -> list[str]:
    """Run keys for what the user typed: configs, folders, work dirs, run folders, globs or run names.

    Every spelling a researcher has at hand (a config path, the work dir printed in a
    log, ``trainers/group_0/run_3``) names the same run; an argument that names none
    is an error, because a silently empty table reads as "nothing is running".
    """
    if not paths:
        return discover_runs(project)
    out: list[str] = []
    for p in paths:
        found = _resolve_one(project, p)
        if not found:
            raise UserError(f"{p}: no config, folder or run of {project.root} matches")
        out.extend(found)
    seen: set[str] = set()
    unique = []
    for c in out:
        if c not in seen:
            seen.add(c)
            unique.append(c)
    return unique


def _resolve_one(project: Project, p: str) -> list[str]:
    if not os.path.exists(p) and _GLOB_CHARS & set(p):
        # A run whose name holds glob characters ("run[1]") is found by its exact name first.
        exact = runs_named(project, p)
        if exact:
            return exact
        matches = sorted(glob.glob(p, recursive=True))
        if not os.path.isabs(p):
            for base in glob_bases(project):
                if matches:
                    break
                matches = sorted(glob.glob(os.path.join(base, p), recursive=True))
        return [c for m in matches for c in runs_at(project, m)]
    if os.path.exists(p):
        return runs_at(project, p)
    # A run's name ("trainers/group_0/run_3", ".py" optional), or a folder relative to the root.
    named = runs_named(project, p)
    if named:
        return named
    if os.path.isdir(os.path.join(project.root, p)):
        return runs_at(project, os.path.join(project.root, p))
    return []


# ---------------------------------------------------------------- scanning


def parse_status_list(values: Sequence[str]) -> set[str]:
    """``failed,stuck`` or repeated options -> a validated set of statuses."""
    return split_statuses(values, STATUSES, lambda s: UserError(f"unknown status {s!r}; choose from {', '.join(STATUSES)}"))


class Scanner:
    """Status of a fixed selection of runs, through the project's scan engine.

    The engine keeps trackers and facts between refreshes, so a ``--watch`` refresh costs
    a few stats per unchanged run; a config file that changes is read again, so edits
    show up without a restart.
    """

    def __init__(
        self,
        project: Project,
        paths: Sequence[str] = (),
        monitor: Any = None,
        sleep_time: float | None = None,
        outdated_days: float | None = None,
        *,
        force_refresh: bool = False,
        remember: bool = True,
    ) -> None:
        self.project = project
        # Whether the engine keeps each verdict for a later scan (False: a one-shot command, see ScanEngine.scan).
        self.remember = remember
        self.paths = list(paths)
        # The first scan reads every run's files again (``status --refresh``); later ones are warm.
        self.force_refresh = force_refresh
        self.monitor = monitor
        self.sleep_time = sleep_time
        self.outdated_days = outdated_days
        self.engine = engine_for(project)

    def configs(self) -> list[str]:
        return resolve_targets(self.project, self.paths)

    def scan(self, on_progress: Callable[[int, int], None] | None = None, configs: list[str] | None = None) -> ScanResult:
        configs = self.configs() if configs is None else configs
        now = time.time()
        # A first scan of many runs fans out (see run_status.fanout). A read-only project
        # still gets its status (the store only makes it faster); the reason it could not
        # be saved is logged once, on stderr.
        scanned = self.engine.scan(
            configs,
            processes=self.monitor,
            sleep_time=self.sleep_time,
            outdated_days=self.outdated_days,
            now=now,
            on_progress=on_progress,
            force_refresh=self.force_refresh,
            remember=self.remember,
        )
        self.force_refresh = False
        rows = [Row(s.status, s.facts) for s in scanned.values()]
        return ScanResult(rows, dict(self.engine.snapshot.errors), now)


def filter_rows(rows: list[Row], statuses: set[str], query: RunQuery | None = None, project: Project | None = None) -> list[Row]:
    """The rows with these statuses that the search ``query`` finds (runwatch.compare.query: the rule of every surface)."""
    rows = [r for r in rows if not statuses or r.status.status in statuses]
    if query is None:
        return rows
    return [r for r in rows if query.matches(r.record, functools.partial(_params, project, r))]


def _params(project: Project | None, row: Row) -> dict[str, Any]:
    from runwatch.compare.query import params_of

    return params_of(project, row.status.config, row.status.work_dir) if project is not None else {}


def attach_params(project: Project, rows: list[Row], keys: list[str]) -> list[Row]:
    """Each row's chosen hyperparameter columns (``--hp``): the key, else the shortest key ending in ``.key``."""
    if keys:
        from runwatch.compare.query import columns_of

        for r in rows:
            r.params = columns_of(_params(project, r), keys)
    return rows


def sort_rows(rows: list[Row], key: str) -> list[Row]:
    """Sorted for reading, by the one sort of every surface (view_model.sort_records, its default direction)."""
    if key == "run":
        # The sort by name reads only the record's name fields: no record is built for it (``--json``
        # builds each run's strict record once, afterwards).
        if all(type(r.status.run) is str and r.status.run for r in rows):
            # Every run named: sort_records' order is the stable sort by the name's natural key (its
            # value and its tie-break are then the same key), computed once per run.
            return sorted(rows, key=lambda r: natural_key(r.status.run))  # type: ignore[arg-type]
        names = [{"run": r.status.run, "config": r.status.config} for r in rows]
        by_name = {id(n): r for n, r in zip(names, rows)}
        return [by_name[id(n)] for n in sort_records(names, key)]
    by_record = {id(r.record): r for r in rows}
    return [by_record[id(rec)] for rec in sort_records([r.record for r in rows], key)]


def summarize(rows: list[Row]) -> dict[str, Any]:
    """The summary of these rows (runwatch.view_model.summarize: the one every surface shows)."""
    return view_summarize(r.status for r in rows)


def json_payload(project: Project, result: ScanResult, rows: list[Row]) -> dict[str, Any]:
    """The ``--json`` document; see docs/cli.md for the schema (all of it passed through json_safe)."""
    return {
        "version": JSON_SCHEMA_VERSION,
        "root": project.root,
        "checked_at": json_safe(result.checked_at),
        "runs": [r.json_record for r in rows],
        "summary": json_safe(summarize(rows)),
        "process_errors": json_safe(result.process_errors),
    }


def status_rows(project: Project, result: ScanResult, statuses: set[str], sort: str, query: RunQuery | None = None, hp: Sequence[str] = ()) -> list[Row]:
    """The rows ``runwatch status`` shows: filtered by status and search, sorted, with their ``--hp`` columns."""
    return attach_params(project, sort_rows(filter_rows(result.rows, statuses, query, project), sort), list(hp))


def json_output(project: Project, result: ScanResult, rows: list[Row], fmt: str) -> str:
    """The text ``runwatch status`` prints for ``--json`` (``fmt`` "json": one document) or ``--jsonl``
    (one record per line), each line ended; the one place both the CLI and its light entry make it."""
    from runwatch import json_out

    if fmt == "json":
        return json_out.dumps(json_payload(project, result, rows), indent=True, ascii=True) + "\n"
    return "".join(json_out.dumps(r.json_record, ascii=True) + "\n" for r in rows)


@dataclass(frozen=True)
class ProcessSources:
    """Where a command looks for the processes behind runs (``--local``, ``--ssh``, ``--no-ssh``, ``--slurm``)."""

    local: bool = True
    ssh: tuple[str, ...] = ()
    no_ssh: bool = False
    slurm: bool | None = None

    def hosts(self) -> list[str] | None:
        """SSH hosts to ask: the given ones, none with ``--no-ssh``, None for the settings' ``ssh_servers``."""
        if self.no_ssh:
            return []
        return [h.strip() for v in self.ssh for h in v.split(",") if h.strip()] or None


def build_monitor(project: Project, sources: ProcessSources) -> Any:
    """The process monitor for the chosen sources; a bad launcher pattern is a user error."""
    try:
        from runwatch.processes import monitor_from_settings
    except ImportError as e:  # pragma: no cover - the processes package is part of the install
        raise UserError(f"process sources unavailable: {e}") from e
    try:
        return monitor_from_settings(project, local=sources.local, ssh=sources.hosts(), slurm=sources.slurm)
    except ValueError as e:
        raise UserError(str(e)) from e


def find_one(project: Project, run: str) -> str:
    """The single config a ``show RUN`` argument names."""
    try:
        found = resolve_targets(project, [run])
    except UserError:
        found = []
    if not found:
        raise UserError(f"{run}: no run of {project.root} has this name, config path or work dir")
    if len(found) > 1:
        names = ", ".join(name_of(project, c) or c for c in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise UserError(f"{run}: names {len(found)} runs ({names}{more}); give one")
    try:
        run_for(project, found[0])  # a config outside configs/ names no run
    except LayoutError as e:
        raise UserError(str(e)) from e
    return found[0]

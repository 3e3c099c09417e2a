"""Keras runs, found by what its callbacks write (every path is the user's choice).

A run folder holds a ``CSVLogger`` file (a ``.csv`` or ``training.log`` whose header starts with
``epoch,``) beside a Keras artifact: a ``ModelCheckpoint`` file (``.keras`` / ``.h5``) there or in a
subfolder, or a ``BackupAndRestore`` folder (its ``training_metadata.json``). What is read (see
docs/layouts.md): the CSV rows (``epoch`` from 0, then every logged value), the checkpoint names (a
name made from a template such as ``model-{epoch:02d}-{val_loss:.3f}.keras`` names the monitored metric
by its value), and ``training_metadata.json`` (``{"epoch", "batch"}``), which BackupAndRestore deletes
when ``fit`` ends: present with no live process, the run was interrupted. Keras writes its total number
of epochs nowhere: it is shown as unknown, never guessed. Nothing else it writes marks the end of ``fit``
(CSVLogger only closes its file; EarlyStopping and ModelCheckpoint write nothing at the end), so a run
without a backup folder whose process is gone, or was never seen, reads ``unknown`` (``end_unknown``).
Its process is the one holding its CSVLogger file open (``fit`` keeps it open), or working in its folder.
"""

from __future__ import annotations

import os
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, RunFolderTracker, StatMemo, listing, stat_or_none
from runwatch.layouts.epoch_runs import rows_by_epoch, direction_by_name, facts_key, flat_params, num
from runwatch.progress_tracking.observation import Observation
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.project import Project
from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.safe_open import open_regular, read_zip_member
from runwatch.state import STATE

RUNNER_TYPE = register_runner_type("keras")
METADATA = "training_metadata.json"
_MODEL = (".keras", ".h5")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MAX_SUBFOLDERS = 8  # subfolders looked into for checkpoints / a backup
MAX_CSV_HEADERS = 4  # CSV files of a folder whose first line is read to find a CSVLogger's


def _header(path: str) -> bytes:
    try:
        with open_regular(path) as f:
            return f.read(4096).split(b"\n", 1)[0]
    except OSError:
        return b""


_HEADERS: StatMemo = STATE.table("layouts.keras.headers", StatMemo)


def csv_logs(folder: str, names: Any) -> list[str]:
    """The CSVLogger files among ``names`` (their header starts with ``epoch,``), sorted."""
    out = []
    for n in sorted(n for n in names if n.endswith(".csv") or n == "training.log")[:MAX_CSV_HEADERS]:
        if (_HEADERS.get(os.path.join(folder, n), _header) or b"").startswith(b"epoch,"):
            out.append(n)
    return out


def _subfolders(folder: str, names: Any) -> list[str]:
    """Up to MAX_SUBFOLDERS folders among ``names`` (names without a dot; links not followed)."""
    out: list[str] = []
    for n in sorted(n for n in names if "." not in n)[: 4 * MAX_SUBFOLDERS]:
        p = os.path.join(folder, n)
        if not os.path.islink(p) and os.path.isdir(p):
            out.append(n)
            if len(out) == MAX_SUBFOLDERS:
                break
    return out


def keras_artifacts(folder: str, names: Any) -> tuple[list[str], list[str]]:
    """(model files relative to ``folder``, BackupAndRestore folders holding ``training_metadata.json``)."""
    models = [n for n in names if n.endswith(_MODEL)]
    backups = []
    for sub in _subfolders(folder, names):
        inner = listing(os.path.join(folder, sub))[1]
        models += [f"{sub}/{n}" for n in inner if n.endswith(_MODEL)]
        if METADATA in inner:
            backups.append(sub)
    return sorted(models), backups


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    """A CSVLogger file beside a Keras artifact. Only folders holding a .csv (or training.log) read anything."""
    if not any(n.endswith(".csv") or n == "training.log" for n in names):
        return False
    if not csv_logs(path, names):
        return False
    if any(n.endswith(_MODEL) for n in names):
        return True
    models, backups = keras_artifacts(path, names)
    return bool(models or backups)


def monitored(models: list[str], rows: list[dict[str, Any]]) -> str | None:
    """The metric a checkpoint's name was formatted with: a number in the name equal (at the name's
    precision) to that column in the row of an epoch the same name gives."""
    by_epoch = {r["epoch"] + 1: r for r in rows if isinstance(r.get("epoch"), int)}
    for m in reversed(models):
        stem = os.path.basename(m)
        for ext in _MODEL:
            stem = stem.removesuffix(ext)
        stem = stem.removesuffix(".weights")
        numbers = _NUMBER.findall(stem)  # signs are not told from separators: values compare unsigned
        ints = {int(n) for n in numbers if n.isdigit()}
        floats = [n for n in numbers if "." in n]
        for e in ints:
            row = by_epoch.get(e)
            if row is None:
                continue
            for text in floats:
                decimals = len(text.split(".")[1])
                hits = [k for k, v in row.items() if k != "epoch" and (x := num(v)) is not None and f"{abs(x):.{decimals}f}" == text]
                if hits:
                    return sorted(hits, key=lambda k: (not k.startswith("val_"), k))[0]
    return None


def monitor_of(run: str) -> tuple[str | None, int | None, list[str]]:
    """(monitored metric, its direction, the paths the answer came from) of a run folder.

    Once a checkpoint's name matched a metric, only the folders are watched for it (a new checkpoint
    changes them); until then the CSV too (its row for the checkpoint's epoch may come after it).
    """
    names = listing(run)[1]
    csvs = csv_logs(run, names)
    models, _ = keras_artifacts(run, names)
    deps = [run] + [os.path.join(run, s) for s in _subfolders(run, names)]
    if not csvs:
        return None, None, deps
    metric = monitored(models, CsvTail(os.path.join(run, csvs[0])).read()) if models else None
    if metric is None:
        deps.append(os.path.join(run, csvs[0]))
    return metric, (direction_by_name(metric) if metric else None), deps


MAX_KERAS_CONFIG_BYTES = 4 * 1024 * 1024


def _compile_config(path: str) -> dict[str, Any] | None:
    """``compile_config`` of a ``.keras`` file's ``config.json`` (a zip member, read bounded; nothing run)."""
    import json
    import zipfile

    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as z:
            info = z.getinfo("config.json")
            if info.file_size > MAX_KERAS_CONFIG_BYTES:
                return None
            value = json.loads(read_zip_member(z, "config.json", MAX_KERAS_CONFIG_BYTES, path))  # the inflated bytes counted
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile, RuntimeError, EOFError):
        return None
    cc = value.get("compile_config") if isinstance(value, dict) else None
    return cc if isinstance(cc, dict) else None


_COMPILE: StatMemo = STATE.table("layouts.keras.compile_config", lambda: StatMemo(limit=4096))


def hyperparameters(run: str) -> dict[str, Any]:
    """What the newest ``.keras`` checkpoint says of ``compile()``: the optimizer's config, the loss, the metrics."""
    names = listing(run)[1]
    models, _ = keras_artifacts(run, names)
    stamped = [(st.st_mtime, m) for m in models if m.endswith(".keras") and (st := stat_or_none(os.path.join(run, m))) is not None]
    if not stamped:
        return {}
    cc = _COMPILE.get(os.path.join(run, max(stamped)[1]), _compile_config) or {}
    raw = cc.get("optimizer")
    opt: dict[str, Any] = raw if isinstance(raw, dict) else {}
    out = {"optimizer": opt.get("class_name"), "loss": cc.get("loss"), "metrics": cc.get("metrics")}
    return flat_params({**{k: v for k, v in out.items() if v is not None}, "optimizer_config": opt.get("config") or {}})


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    metric, direction, deps = monitor_of(run)
    directions = {metric: direction} if metric and direction else None
    stage = StageFacts(runner=ClassRef("keras", "Model.fit"), directions=directions, directions_source="source" if directions else None)
    return ConfigFacts(path=run, stages=[stage]), deps


def complete_from(progress: ProgressInfo) -> bool:
    return progress.progress_percentage >= 100.0  # only when the backup was seen removed: the total is unknown


class KerasProgressTracker(RunFolderTracker):
    """Progress of one Keras run folder from its CSVLogger rows and its callbacks' files."""

    RUNNER_TYPE = RUNNER_TYPE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csv: CsvTail | None = None
        self._backup_seen: str | None = None  # a BackupAndRestore folder seen holding its metadata

    def get_expected_files(self) -> list[str]:
        return []

    def _key_extra(self) -> Any:
        return facts_key(self.config)  # the monitored metric comes from the facts

    def get_log_pattern(self) -> str:
        return "*.csv"

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        wd = self.work_dir
        warnings: list[str] = []
        logs: list[tuple[str, float]] = []
        csvs = csv_logs(wd, names)
        rows: list[dict[str, Any]] = []
        if csvs:
            path = os.path.join(wd, csvs[0])
            if self._csv is None or self._csv.path != path:
                self._csv = CsvTail(path)
            rows, problem = reader.csv_rows(self._csv)
            if problem:
                warnings.append(problem)
            if (mt := reader.mtime(path)) is not None:
                logs.append((csvs[0], mt))
        backup: dict[str, Any] | None = None
        backup_dir = None
        for sub in _subfolders(wd, names):
            d = os.path.join(wd, sub)
            if METADATA in reader.listdir(d)[1]:
                mp = os.path.join(d, METADATA)
                value, problem = reader.json(mp)
                backup, backup_dir = (value if isinstance(value, dict) else {}), d
                if problem:
                    warnings.append(problem)
                if (mt := reader.mtime(mp)) is not None:
                    logs.append((f"{sub}/{METADATA}", mt))
        error = self.with_lab_logs(reader, names, logs)
        by_epoch = rows_by_epoch(rows)
        done = max(by_epoch) + 1 if by_epoch else 0
        # fit() returned: BackupAndRestore deleted the folder this tracker saw it write.
        ended = backup is None and self._backup_seen is not None and not os.path.exists(self._backup_seen)
        if backup_dir is not None:
            self._backup_seen = backup_dir
        warnings.append(f"{wd}: total epochs unknown (Keras writes the number of epochs nowhere)")
        if backup is not None and isinstance(be := backup.get("epoch"), int) and not isinstance(be, bool):
            warnings.append(f"{wd}: BackupAndRestore holds a backup at epoch {be + 1} (training has not ended, or was interrupted)")
        directions = self.config.directions if self.config is not None else None
        obs = Observation(
            completed_epochs=done,
            series=[by_epoch.get(i) for i in range(done)],
            monitor=next(iter(directions), None) if directions else None,
            finished=ended,
            last_update_time=max((m for _, m in logs), default=None),
            warnings=warnings,
            error_message=error,
        )
        # Without a backup folder nothing a Keras run writes marks the end of fit(): no total, no end record
        # (CSVLogger only closes its file, EarlyStopping and ModelCheckpoint write nothing at the end). With no
        # live process such a run reads unknown, never finished or failed by a guess (run_status/rules.py).
        return obs, RunFolderDetails(logs=logs, end_unknown=not ended and backup is None)


class KerasLayout(RunFolderLayout):
    """Keras: a CSVLogger file beside a ModelCheckpoint file or a BackupAndRestore folder."""

    name = "keras"
    title = "Keras (a CSVLogger file beside ModelCheckpoint files or a BackupAndRestore folder)"
    tracker_class = KerasProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        return hyperparameters(run)

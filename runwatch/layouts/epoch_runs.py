"""What the layouts of frameworks that write one row per epoch share (Ultralytics, timm, MMEngine, Keras).

Numbers read from a row, the best row by a direction, the hyperparameters of a run as one flat
``{"dotted.key": value}`` table (what ``compare`` shows side by side), an ETA from the time of
each finished epoch, and the process matcher of a framework whose command line names its run folder.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Callable
from typing import Any

from runwatch.layouts.base import ProcessMatcher
from runwatch.layouts.common import RunFolderTracker, StatMemo
from runwatch.progress_tracking.progress_info import ProgressInfo
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.project import Project
from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.yamlfile import read_yaml_tolerant
from runwatch.state import STATE

MAX_PARAMS = 2000
MAX_PARAM_TEXT = 200

_YAML: StatMemo = STATE.table("layouts.epoch_runs.yaml", StatMemo)


def yaml_at(path: str) -> tuple[Any, str | None]:
    """A YAML file's value and problem, reused while its stat is unchanged."""
    return _YAML.get(path, read_yaml_tolerant) or (None, None)


ARGS_YAML = "args.yaml"


def args_yaml(run: str) -> tuple[dict[str, Any], str | None]:
    """A run folder's ``args.yaml`` (the arguments YOLO and timm's train.py dump) as a mapping, and its problem."""
    path = os.path.join(run, ARGS_YAML)
    value, problem = yaml_at(path)
    if problem is None and not isinstance(value, dict):
        problem = f"{path}: not a mapping of arguments"
    return (value if isinstance(value, dict) else {}), problem


def args_hyperparameters(run: str) -> dict[str, Any]:
    """The arguments of ``args.yaml``, flat: a run's hyperparameters (YOLO, timm)."""
    return flat_params(args_yaml(run)[0])


def num(v: Any) -> float | None:
    """A finite number (bools and text are not), else None."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def count(v: Any) -> int | None:
    """A positive whole number (3 or 3.0), else None."""
    n = num(v)
    return int(n) if n is not None and n > 0 and n == int(n) else None


def best_index(values: list[float | None], direction: int) -> int | None:
    """Index of the first best value (``direction`` +1: highest, -1: lowest), None when there is none."""
    best: int | None = None
    for i, v in enumerate(values):
        if v is None or math.isnan(v):
            continue
        if best is None or (v - values[best]) * direction > 0:  # type: ignore[operator]
            best = i
    return best


def direction_by_name(metric: str) -> int | None:
    """+1 / -1 for metric names whose direction the frameworks themselves infer from the name, else None."""
    m = metric.lower()
    if "loss" in m or m.endswith(("error", "mae", "mse", "rmse", "mape", "msle", "perplexity")):
        return -1
    if any(t in m for t in ("acc", "auc", "precision", "recall", "f1", "map", "iou", "top", "dice", "fitness")):
        return 1
    return None


def rows_by_epoch(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """``{epoch: its numbers}`` of CSV rows whose ``epoch`` counts from 0 (timm's summary.csv, Keras's CSVLogger):
    a resumed run appends rows again from its start epoch, so the last row of an epoch wins."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        e = r.get("epoch")
        if isinstance(e, int) and not isinstance(e, bool) and e >= 0:
            out[e] = {k: v for k, v in r.items() if k != "epoch" and num(v) is not None}
    return out


def flat_params(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"optimizer.lr": 0.01, "epochs": 3}``: nested dicts flattened by dotted keys; lists of
    scalars kept as lists; long text clipped; at most ``MAX_PARAMS`` entries."""
    out = {} if out is None else out
    if not isinstance(value, dict):
        return out
    for k, v in value.items():
        if len(out) >= MAX_PARAMS:
            break
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat_params(v, key + ".", out)
        elif v is None or isinstance(v, bool | int | float):
            out[key] = v
        elif isinstance(v, str):
            out[key] = v if len(v) <= MAX_PARAM_TEXT else v[: MAX_PARAM_TEXT - 1] + "\u2026"
        elif isinstance(v, list | tuple) and len(v) <= 32 and all(x is None or isinstance(x, bool | int | float | str) for x in v):
            out[key] = list(v)
    return out


def facts_key(config: Any) -> Any:
    """What a tracker's answer takes from its run's facts (total, patience, directions), for its cache key:
    the files they come from are watched by the facts' memo, not stat'ed again by the tracker."""
    if config is None:
        return None
    d = config.directions
    return (config.epochs, config.early_stopping_patience, tuple(sorted((str(k), v) for k, v in d.items())) if d else None)


def epoch_eta(points: list[tuple[int, float]], done: int, total: int | None) -> float | None:
    """Seconds left at the pace of the last finished epochs (``points``: (epoch, when it ended))."""
    if total is None or done >= total:
        return None
    pts = sorted(set(points))[-10:]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    pace = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
    return (total - done) * pace if pace > 0 else None


class EpochPacedTracker(RunFolderTracker):
    """A run-folder tracker whose ETA comes from when its epochs ended (no step timestamps to rate):
    ``observe`` sets ``self._epoch_eta``; it is the run's ETA when the step rate gives none."""

    _epoch_eta: float | None = None

    def calculate_progress(self) -> ProgressInfo:
        self._epoch_eta = None
        progress = super().calculate_progress()
        if self.details.eta_seconds is None and self._epoch_eta is not None and not self.complete_from(progress):
            self.details.eta_seconds = self._epoch_eta
        return progress


class CsvRowsTracker(EpochPacedTracker):
    """An epoch-paced tracker whose run writes one CSV row per finished epoch (``ROWS_FILE`` in its folder:
    YOLO's results.csv, timm's summary.csv); its total and main metric come with the facts (args.yaml)."""

    ROWS_FILE = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csv = CsvTail(os.path.join(self.work_dir, self.ROWS_FILE))

    def get_expected_files(self) -> list[str]:
        return [self.ROWS_FILE]

    def get_log_pattern(self) -> str:
        return self.ROWS_FILE

    def _key_extra(self) -> Any:
        return facts_key(self.config)  # args.yaml is watched by the facts

    def read_rows(self, reader: RecordingReader, warnings: list[str]) -> list[dict[str, Any]]:
        """The rows so far (a missing file is no rows, any other problem a warning)."""
        rows, problem = reader.csv_rows(self._csv)
        if problem and problem != f"{self._csv.path}: missing":
            warnings.append(problem)
        return rows


def csv_step_series(path: str, x: str = "epoch", skip: frozenset[str] = frozenset()) -> dict[str, list[tuple[float, float]]]:
    """Every number of a per-epoch CSV (YOLO's results.csv, timm's summary.csv) by its ``x`` column: where a
    run logs nothing finer, its epochs are its steps. Column names are stripped (YOLO pads them)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for row in CsvTail(path).read():
        r = {str(k).strip(): v for k, v in row.items()}
        at = num(r.get(x))
        if at is None:
            continue
        for k, v in r.items():
            if k != x and k not in skip and (value := num(v)) is not None:
                out.setdefault(k, []).append((at, value))
    return out


class FolderMatcher(ProcessMatcher):
    """A process whose command line names its run folder (``folder_of(argv)``, relative to the process's
    working directory), matched to that folder when it lies in the project, even before the folder
    is a run. ``marks``: substrings a candidate command line holds (the cheap test)."""

    def __init__(self, project: Project, folder_of: Callable[[list[str]], str | None], marks: tuple[str, ...]) -> None:
        self.root = os.path.normpath(project.root)
        self.folder_of = folder_of
        self.marks = marks

    def is_candidate(self, text: str) -> bool:
        return any(m in text for m in self.marks)

    def match(self, argv: list[str], text: str, cwd: str | None) -> tuple[str, bool] | None:
        out = self.folder_of(argv)
        if not out:
            return None
        absolute = posixpath.normpath(out if posixpath.isabs(out) else posixpath.join(cwd or self.root, out))
        if not absolute.startswith(self.root + os.sep):
            return None
        return os.path.relpath(absolute, self.root).replace(os.sep, "/"), False


def flag_value(argv: list[str], *flags: str) -> str | None:
    """The value of ``--flag V`` / ``--flag=V`` on a command line."""
    for i, tok in enumerate(argv):
        if tok in flags:
            return argv[i + 1] if i + 1 < len(argv) else None
        for flag in flags:
            if tok.startswith(flag + "="):
                return tok[len(flag) + 1 :]
    return None

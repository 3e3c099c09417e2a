"""Ultralytics YOLO training runs: ``runs/<task>/<name>/`` with ``args.yaml``, ``results.csv`` and ``weights/``.

What is read (see docs/layouts.md): ``args.yaml`` (``epochs``, ``patience``, ``time``, ``task``: the total,
the early-stopping patience and the hyperparameters), ``results.csv`` (one row per finished epoch, ``epoch``
from 1; column names may be padded with spaces), and ``weights/last.pt``'s ``epoch`` (decoded as data,
without torch): a run that ended by itself has its optimizer stripped and ``epoch == -1``, an interrupted
one keeps ``epoch >= 0``. Fitness, YOLO's own score of a row, is 0.1 x mAP50 + 0.9 x mAP50-95 per
head (box, mask, pose; summed), or the mean of top-1 and top-5 accuracy for classification.
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, RunFolderTracker, StatMemo, lab_logs, listing, seen, stat_or_none
from runwatch.layouts.epoch_runs import best_index, count, epoch_eta, facts_key, flat_params, num, percent, yaml_at
from runwatch.progress_tracking.base_progress_tracker import EpochRecord
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch.state import STATE

RUNNER_TYPE = register_runner_type("ultralytics")
ARGS = "args.yaml"
RESULTS = "results.csv"
FITNESS = "fitness"
_HEADS = ("(B)", "(M)", "(P)")  # box, mask, pose


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    return ARGS in names and (RESULTS in names or "weights" in names) and "summary.csv" not in names


def fitness(row: dict[str, Any]) -> float | None:
    """Ultralytics' fitness of a results.csv row (``Metric.fitness`` summed over heads; classification: mean top-1/top-5)."""
    total, found = 0.0, False
    for head in _HEADS:
        m50, m5095 = num(row.get(f"metrics/mAP50{head}")), num(row.get(f"metrics/mAP50-95{head}"))
        if m50 is not None and m5095 is not None:
            total += 0.1 * m50 + 0.9 * m5095
            found = True
    if found:
        return total
    t1, t5 = num(row.get("metrics/accuracy_top1")), num(row.get("metrics/accuracy_top5"))
    return (t1 + t5) / 2 if t1 is not None and t5 is not None else None


def _last_pt(path: str) -> dict[str, Any]:
    value, problem = read_torch_file(path)
    data = plain(value) if value is not None else None
    if not isinstance(data, dict):
        return {"problem": problem or f"{path}: not a checkpoint dict"}
    return {"epoch": data.get("epoch"), "best_fitness": num(data.get("best_fitness"))}


_CKPT: StatMemo = STATE.table("layouts.ultralytics.last_pt", lambda: StatMemo(limit=4096))


def _args(run: str) -> tuple[dict[str, Any], str | None]:
    value, problem = yaml_at(os.path.join(run, ARGS))
    if problem is None and not isinstance(value, dict):
        problem = f"{os.path.join(run, ARGS)}: not a mapping of arguments"
    return (value if isinstance(value, dict) else {}), problem


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    args, _ = _args(run)
    patience = count(args.get("patience"))
    stage = StageFacts(
        runner=ClassRef("ultralytics", "YOLO"),
        epochs=None if args.get("time") else count(args.get("epochs")),
        directions={FITNESS: 1},
        directions_source="source",
        early_stopping_enabled=patience is not None,
        early_stopping_patience=patience,
    )
    return ConfigFacts(path=run, stages=[stage]), [os.path.join(run, ARGS)]


def hyperparameters(run: str) -> dict[str, Any]:
    return flat_params(_args(run)[0])


def complete_from(progress: ProgressInfo) -> bool:
    return progress.early_stopped or progress.progress_percentage >= 100.0


class UltralyticsProgressTracker(RunFolderTracker):
    """Progress of one YOLO training run folder."""

    RUNNER_TYPE = RUNNER_TYPE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csv = CsvTail(os.path.join(self.work_dir, RESULTS))

    def get_expected_files(self) -> list[str]:
        return [RESULTS]

    def _key_extra(self) -> Any:
        return facts_key(self.config)  # args.yaml is watched by the facts

    def get_log_pattern(self) -> str:
        return RESULTS

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def calculate_progress(self) -> ProgressInfo:
        wd = self.work_dir
        warnings: list[str] = list(self.extra_warnings)
        top_m, names = listing(wd)
        if top_m is None:
            return self._unreadable()
        dirs: dict[str, Any] = {wd: (top_m, names)}
        files: dict[str, Any] = {}
        args, problem = _args(wd)
        if problem:
            warnings.append(problem)
        rows: list[dict[str, Any]] = []
        logs: list[tuple[str, float]] = []
        path = os.path.join(wd, RESULTS)
        st = stat_or_none(path)
        files[path] = seen(st)  # watched even before it appears: the folder's listing is then not needed
        if st is not None:
            logs.append((RESULTS, st.st_mtime))
            rows = [{k.strip(): v for k, v in r.items()} for r in self._csv.read()]
            if self._csv.problem:
                warnings.append(self._csv.problem)
        last: dict[str, Any] = {}
        lp = os.path.join(wd, "weights", "last.pt")
        st = stat_or_none(lp)
        files[lp] = seen(st)  # rewritten in place at each save and when stripped at the end
        if st is not None:
            last = _CKPT.get(lp, _last_pt) or {}
            if last.get("problem"):
                warnings.append(last["problem"])
        text_logs, error = lab_logs(wd, names, self.settings.trainer_log_pattern, files)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)

        series = []
        for r in rows:
            scores = {k: v for k, v in r.items() if k not in ("epoch", "time") and num(v) is not None}
            f = fitness(r)
            series.append({FITNESS: f, **scores} if f is not None else scores)
        done = len(series)
        timed = bool(args.get("time"))
        total = None if timed else count(args.get("epochs"))
        if timed:
            warnings.append(f"{wd}: trained for time={args.get('time')} hours: the number of epochs is set as it goes, total unknown")
        elif total is None:
            warnings.append(f"{wd}: total epochs unknown (no epochs in {ARGS})")
        stripped = last.get("epoch") == -1  # strip_optimizer ran: training ended by itself (final_eval)
        reached = total is not None and done >= total
        early = stripped and not reached and not timed
        complete = stripped or reached
        fit = [s.get(FITNESS) for s in series]
        bi = best_index(fit, 1)
        best = series[bi] if bi is not None else None
        latest = series[-1] if series else None
        records = [EpochRecord(index=i, finished=True, scores=s) for i, s in enumerate(series)]
        times = [t for r in rows if (t := num(r.get("time"))) is not None]
        points = [(i, t) for i, r in enumerate(rows) if (t := num(r.get("time"))) is not None]
        start = None
        if files[path] is not None and times and logs:
            # results.csv's "time" is seconds since training started, the file's mtime the last row's end
            start = next(m for n, m in logs if n == RESULTS) - times[-1]
        eta = None if complete else epoch_eta(points, done, total)
        self.details = RunFolderDetails(epochs=records, logs=logs, eta_seconds=eta)
        self._hint = {}
        self._watch(dirs, files)
        stamps = [m for _, m in logs]
        return ProgressInfo(
            completed_epochs=done,
            progress_percentage=percent(done, total, complete),
            early_stopped=early,
            early_stopped_at_epoch=done if early else None,
            runner_type=RUNNER_TYPE,  # type: ignore[arg-type]
            total_epochs=total,
            start_time=start,
            last_update_time=max(stamps, default=None),
            best_score=best,
            latest_score=latest,
            error_message=error,
            warnings=warnings or None,
            best_epoch=bi,
        )


class UltralyticsLayout(RunFolderLayout):
    name = "ultralytics"
    tracker_class = UltralyticsProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def hyperparameters(self, project: Any, run: str) -> dict[str, Any]:
        return hyperparameters(run)

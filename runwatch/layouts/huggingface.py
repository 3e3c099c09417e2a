"""Hugging Face ``Trainer`` runs: an ``output_dir`` with ``checkpoint-<step>/trainer_state.json``.

What is read (see docs/layouts.md): the newest ``trainer_state.json`` (the top one, written
by ``save_state()``, or the highest checkpoint's), ``training_args.bin`` (decoded without
torch, see ``readers.torchpickle``) or ``training_args.json`` for ``metric_for_best_model``
/ ``greater_is_better``, and ``runs/*/events.out.tfevents.*`` (TensorBoard) for liveness,
the current step and the step rate (ETA), since the state file moves only at each save.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.hf_end import MODEL_FILES, early_stop_index, newest_run_checkpoints, returned_from_train, stale_top_state
from runwatch.readers.tfevents import writer_of
from runwatch.layouts.common import (
    RunFolderDetails,
    RunFolderLayout,
    RunFolderTracker,
    newest_writer,
    StatMemo,
    lab_logs,
    event_files,
    listing,
    read_events,
    seen,
    stat_or_none,
    step_rate_eta,
)
from runwatch.progress_tracking.base_progress_tracker import EpochRecord
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.readers.jsonfile import read_json_tolerant
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch import state as _state

RUNNER_TYPE = register_runner_type("hf_trainer")
STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# eval_* entries that are timings, not scores
_NOT_SCORES = ("_runtime", "_samples_per_second", "_steps_per_second")


def checkpoints(names: Any) -> list[tuple[int, str]]:
    """(step, name) of the ``checkpoint-<step>`` entries, oldest first."""
    return sorted((int(m.group(1)), n) for n in names if (m := _CHECKPOINT.match(n)))


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    if _CHECKPOINT.match(os.path.basename(path)):
        return False  # a checkpoint is part of its output_dir's run
    if STATE in names:
        return True
    return any(os.path.isfile(os.path.join(path, n, STATE)) for _, n in checkpoints(names)[-1:])


def _args_of(path: str) -> dict[str, Any] | None:
    if path.endswith(".json"):
        value, _ = read_json_tolerant(path)
    else:
        value = plain(read_torch_file(path)[0])
    return value if isinstance(value, dict) else None


_ARGS: StatMemo = _state.STATE.table("layouts.huggingface.training_args", StatMemo)


def training_args(work_dir: str, names: tuple[str, ...] | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """The run's TrainingArguments as a dict, and the file they came from (JSON twin first)."""
    if names is None:
        names = listing(work_dir)[1]
    candidates = [os.path.join(work_dir, "training_args.json"), os.path.join(work_dir, "training_args.bin")]
    newest = newest_run_checkpoints([(step, n, _mtime(os.path.join(work_dir, n))) for step, n in checkpoints(names)], None)
    for _, n in newest[-1:]:
        candidates += [os.path.join(work_dir, n, "training_args.json"), os.path.join(work_dir, n, "training_args.bin")]
    present = [p for p in candidates if os.path.basename(p) in names or os.path.dirname(p) != work_dir]
    # A reused output_dir: the newest run's arguments (a checkpoint's newer than an earlier run's save_model).
    present.sort(key=lambda p: -(_mtime(p) or 0.0))
    for p in present:
        args = _ARGS.get(p, _args_of)
        if args:
            return args, p
    return None, None


def directions_of(args: dict[str, Any] | None) -> dict[str, int] | None:
    """{"eval_<metric>": +1/-1} from ``metric_for_best_model`` / ``greater_is_better``, exactly as the Trainer decides."""
    if not args:
        return None
    metric = args.get("metric_for_best_model")
    if not isinstance(metric, str) or not metric:
        return {"eval_loss": -1}  # no metric named: the evaluation loss, lower is better (what the Trainer reports first)
    key = metric if metric.startswith("eval_") else f"eval_{metric}"
    greater = args.get("greater_is_better")
    if greater is None:  # the Trainer's own default
        greater = not metric.endswith("loss")
    return {key: 1 if greater else -1}


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    names = listing(run)[1]
    args, source = training_args(run, names)
    directions = directions_of(args)
    stage = StageFacts(runner=ClassRef("transformers", "Trainer"), runner_kind=None, directions=directions, directions_source="source" if directions else None)
    deps = [run] + [os.path.join(run, n) for n in ("training_args.json", "training_args.bin") if n in names]
    if source is not None and source not in deps:
        deps.append(source)
    return ConfigFacts(path=run, stages=[stage]), deps


def _state_at(path: str) -> tuple[dict[str, Any] | None, str | None]:
    value, problem = read_json_tolerant(path)
    if problem is None and not isinstance(value, dict):
        return None, f"{path}: not a trainer state (expected a JSON object)"
    return value, problem


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _count(v: Any) -> int | None:
    """A positive whole number (3 or 3.0), else None."""
    n = _num(v)
    return int(n) if n is not None and n > 0 and n == int(n) else None


def _mtime(path: str) -> float | None:
    st = stat_or_none(path)
    return st.st_mtime if st is not None else None


def eval_entries(log_history: Any) -> list[dict[str, Any]]:
    """The ``eval_*`` entries of a log history, scores only (timings left out), with their step and epoch."""
    out = []
    for e in log_history if isinstance(log_history, list) else []:
        if not isinstance(e, dict):
            continue
        scores = {k: v for k, v in e.items() if k.startswith("eval_") and not k.endswith(_NOT_SCORES) and _num(v) is not None}
        if scores:
            out.append({"step": e.get("step"), "epoch": e.get("epoch"), "scores": scores})
    return out


def event_evals(scalars: Any) -> list[dict[str, Any]]:
    """The evaluations in the event files (``eval/<name>`` tags), as ``eval_entries`` gives them."""
    by_step: dict[int, dict[str, float]] = {}
    for s in scalars:
        key = "eval_" + s.tag[5:]
        if s.tag.startswith("eval/") and not key.endswith(_NOT_SCORES) and key != "eval_runtime" and _num(s.value) is not None:
            by_step.setdefault(s.step, {})[key] = float(s.value)
    return [{"step": k, "epoch": None, "scores": v} for k, v in sorted(by_step.items())]


def complete_from(progress: ProgressInfo) -> bool:
    """Done: the state says training stopped (max_steps, early stop, train() returned); then 100 %."""
    return progress.early_stopped or progress.progress_percentage >= 100.0


class HuggingFaceProgressTracker(RunFolderTracker):
    """Progress of a Trainer ``output_dir`` from its saved states and TensorBoard events."""

    RUNNER_TYPE = RUNNER_TYPE
    FOLDER = "output_dir"

    def get_expected_files(self) -> list[str]:
        return [STATE]

    def get_log_pattern(self) -> str:
        return "runs/*/events.out.tfevents.*"

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
        # TensorBoard events: liveness (mtime), the current step and the step rate. A reused
        # output_dir holds one runs/<date> folder per run: only the newest run's are read.
        runs_dir = os.path.join(wd, "runs")
        by_run: list[tuple[float, list[str]]] = []
        if "runs" in names:
            rm, rnames = listing(runs_dir)
            dirs[runs_dir] = (rm, rnames)
            for n in rnames:
                sub = os.path.join(runs_dir, n)
                sm, snames = listing(sub)
                if sm is not None:
                    dirs[sub] = (sm, snames)
                    found = event_files(sub, snames)
                    opened = [w[2] for p in found if (w := writer_of(os.path.basename(p))) is not None]
                    if found:
                        by_run.append((max(opened, default=float(sm) / 1e9 if sm else 0.0), found))
        run_start, events = max(by_run, key=lambda r: r[0]) if by_run else (None, [])
        # The newest saved state: the top one (save_state) or the newest run's highest checkpoint's.
        cks = newest_run_checkpoints([(step, n, _mtime(os.path.join(wd, n))) for step, n in checkpoints(names)], run_start)
        paths = [os.path.join(wd, STATE)] if STATE in names else []
        if cks:
            paths.append(os.path.join(wd, cks[-1][1], STATE))
        newest_ck = _mtime(os.path.join(wd, cks[-1][1])) if cks else None
        state: dict[str, Any] | None = None
        state_mtimes: list[float] = []
        for p in paths:
            st = stat_or_none(p)
            files[p] = seen(st)
            if p == os.path.join(wd, STATE) and st is not None and stale_top_state(st.st_mtime, run_start, newest_ck):
                continue  # an earlier run's save_state()
            s, problem = _state_at(p)
            if problem:
                warnings.append(problem)
                continue
            if st is not None:
                state_mtimes.append(st.st_mtime)
            if s is not None and (state is None or (s.get("global_step") or 0) > (state.get("global_step") or 0)):
                state = s
        state = state or {}
        logs: list[tuple[str, float]] = []
        for p in events:
            st = stat_or_none(p)
            files[p] = seen(st)
            if st is not None:
                logs.append((os.path.relpath(p, wd), st.st_mtime))
        text_logs, error = lab_logs(wd, names, self.settings.trainer_log_pattern, files)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)
        scalars = read_events(events, warnings) if events else []
        points = [(s.wall_time, s.step) for s in scalars if s.tag.startswith("train/")]
        ev_step = max((s for _, s in points), default=0)
        ev_epoch = max((s.value for s in scalars if s.tag == "train/epoch"), default=None)

        step = max(int(_num(state.get("global_step")) or 0), ev_step)
        max_steps = _count(state.get("max_steps"))
        total_epochs = _count(state.get("num_train_epochs"))
        epoch = max(x for x in (_num(state.get("epoch")), ev_epoch, 0.0) if x is not None)
        completed = int(math.floor(epoch + 1e-6))
        history = state.get("log_history") if isinstance(state.get("log_history"), list) else []
        trained = any(isinstance(e, dict) and "train_runtime" in e for e in history)
        callbacks = _dict(state.get("stateful_callbacks"))
        control = _dict(callbacks.get("TrainerControl"))
        stop_flag = _dict(control.get("args")).get("should_training_stop") is True
        es = callbacks.get("EarlyStoppingCallback")
        es = _dict(es[0] if isinstance(es, list) and es else es)  # a list when several are registered
        patience = _dict(es.get("args")).get("early_stopping_patience")
        counter = _dict(es.get("attributes")).get("early_stopping_patience_counter")
        reached = max_steps is not None and step >= max_steps
        early = isinstance(patience, int) and isinstance(counter, int) and counter >= patience and not reached
        complete = reached or trained or early or stop_flag
        # Scores: every evaluation, the best as the state names it. The event files hold every
        # evaluation; the saved state only those up to its last save (save_total_limit=1 keeps one).
        evals = eval_entries(history)
        ev_evals = event_evals(scalars)
        if len(ev_evals) > len(evals):
            evals = ev_evals
        # EarlyStoppingCallback's counter is saved only at checkpoints: replay the evaluations.
        es_args = _dict(es.get("args"))
        threshold = _num(es_args.get("early_stopping_threshold")) or 0.0
        directions = self.config.directions if self.config is not None else None
        if not early and not reached and isinstance(patience, int) and directions and evals:
            (key, sign), *_ = directions.items()
            stop = early_stop_index([_num(e["scores"].get(key)) for e in evals], patience, threshold, sign > 0)
            early = stop is not None and stop == len(evals) - 1
        # save_model() after train(): a model file in the output dir newer than every checkpoint.
        model_m = max((st.st_mtime for n in MODEL_FILES if n in names and (st := stat_or_none(os.path.join(wd, n))) is not None), default=None)
        ck_m = stat_or_none(os.path.join(wd, cks[-1][1])) if cks else None
        if returned_from_train(model_m, ck_m.st_mtime if ck_m is not None else None):
            trained = True
        complete = reached or trained or early or stop_flag
        records = [EpochRecord(index=i, finished=True, scores=e["scores"]) for i, e in enumerate(evals)]
        latest = evals[-1]["scores"] if evals else None
        best = best_epoch = None
        best_step = state.get("best_global_step")
        if not (isinstance(best_step, int) and not isinstance(best_step, bool)) and isinstance(state.get("best_model_checkpoint"), str):
            m = _CHECKPOINT.match(os.path.basename(state["best_model_checkpoint"].rstrip("/\\")))
            best_step = int(m.group(1)) if m else None
        if isinstance(best_step, int):
            for i, e in enumerate(evals):
                if e["step"] == best_step:
                    best, best_epoch = e["scores"], i
        if best is None and evals and self.config is not None and self.config.directions:
            from runwatch.progress_tracking.early_stopping import replay

            trace = replay([e["scores"] for e in evals], self.config.directions, None)
            if trace.best_index is not None:
                best, best_epoch = evals[trace.best_index]["scores"], trace.best_index
        if not state:
            warnings.append(f"{wd}: no readable {STATE} yet (written at the first save)")
        if total_epochs is None and max_steps is None:
            warnings.append(f"{wd}: total unknown (no max_steps / num_train_epochs in the state)")
        pct = (
            100.0 if complete else (min(100.0, step * 100.0 / max_steps) if max_steps else (min(100.0, epoch * 100.0 / total_epochs) if total_epochs else 0.0))
        )
        eta = None if complete else step_rate_eta(points, step, max_steps)
        start = min((s.wall_time for s in scalars), default=None)
        last = max([m for _, m in logs[:1]] + state_mtimes, default=None)
        # Its pulse: the wall times of its event records, else the times of its saves (report_to="none").
        beats = [t for t, _ in points] or [st.st_mtime for _, n in cks if (st := stat_or_none(os.path.join(wd, n))) is not None]
        self.details = RunFolderDetails(
            epochs=records, logs=logs, eta_seconds=eta, writer=newest_writer(events), clean_end=False, beats=sorted(beats)[-512:] or None
        )
        self._hint = {}
        self._watch(dirs, files)
        return ProgressInfo(
            completed_epochs=completed,
            progress_percentage=pct,
            early_stopped=early,
            early_stopped_at_epoch=completed if early else None,
            runner_type=RUNNER_TYPE,  # type: ignore[arg-type]
            total_epochs=total_epochs,
            start_time=start,
            last_update_time=last,
            best_score=best,
            latest_score=latest,
            error_message=error,
            warnings=warnings or None,
            best_epoch=best_epoch,
            completed_steps=step,
            total_steps=max_steps,
        )


class HuggingFaceLayout(RunFolderLayout):
    name = "huggingface"
    tracker_class = HuggingFaceProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

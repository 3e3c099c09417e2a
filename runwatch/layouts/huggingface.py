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
import posixpath
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.base import ProcessMatcher
from runwatch.project import Project
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, RunFolderTracker, StatMemo, event_files, listing, newest_writer
from runwatch.layouts.hf_end import MODEL_FILES, early_stop_index, newest_run_checkpoints, returned_from_train, stale_top_state
from runwatch.readers.tfevents import writer_of
from runwatch.progress_tracking.observation import Observation
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.layouts.run_params import flatten_params
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.readers.jsonfile import finite_number, read_json_tolerant
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


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


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
    # training_args.bin that could not be read (a FIFO, a link out, over a budget): say so on the run.
    problems = [problem for p in deps[1:] if args is None and p.endswith(".bin") and (problem := read_torch_file(p)[1])]
    return ConfigFacts(path=run, stages=[stage], warnings=problems), deps


def _state_at(reader: RecordingReader, path: str) -> tuple[dict[str, Any] | None, str | None]:
    value, problem = reader.json(path)
    if problem is None and not isinstance(value, dict):
        return None, f"{path}: not a trainer state (expected a JSON object)"
    return value, problem


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _count(v: Any) -> int | None:
    """A positive whole number (3 or 3.0), else None."""
    n = finite_number(v)
    return int(n) if n is not None and n > 0 and n == int(n) else None


def eval_entries(log_history: Any) -> list[dict[str, Any]]:
    """The ``eval_*`` entries of a log history, scores only (timings left out), with their step and epoch."""
    out = []
    for e in log_history if isinstance(log_history, list) else []:
        if not isinstance(e, dict):
            continue
        scores = {k: v for k, v in e.items() if k.startswith("eval_") and not k.endswith(_NOT_SCORES) and finite_number(v) is not None}
        if scores:
            out.append({"step": e.get("step"), "epoch": e.get("epoch"), "scores": scores})
    return out


def event_evals(scalars: Any) -> list[dict[str, Any]]:
    """The evaluations in the event files (``eval/<name>`` tags), as ``eval_entries`` gives them."""
    by_step: dict[int, dict[str, float]] = {}
    for s in scalars:
        key = "eval_" + s.tag[5:]
        if s.tag.startswith("eval/") and not key.endswith(_NOT_SCORES) and key != "eval_runtime" and finite_number(s.value) is not None:
            by_step.setdefault(s.step, {})["eval_" + s.tag[5:]] = float(s.value)
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

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        wd = self.work_dir
        warnings: list[str] = []
        # TensorBoard events: liveness (mtime), the current step and the step rate. A reused
        # output_dir holds one runs/<date> folder per run: only the newest run's are read.
        by_run: list[tuple[float, list[str]]] = []
        if "runs" in names:
            runs_dir = os.path.join(wd, "runs")
            for n in reader.listdir(runs_dir)[1]:
                sub = os.path.join(runs_dir, n)
                sm, snames = reader.listdir(sub)
                if sm is not None:
                    found = event_files(sub, snames)
                    opened = [w[2] for p in found if (w := writer_of(os.path.basename(p))) is not None]
                    if found:
                        by_run.append((max(opened, default=sm / 1e9), found))
        run_start, events = max(by_run, key=lambda r: r[0]) if by_run else (None, [])
        # The newest saved state: the top one (save_state) or the newest run's highest checkpoint's.
        cks = newest_run_checkpoints([(step, n, reader.mtime(os.path.join(wd, n))) for step, n in checkpoints(names)], run_start)
        paths = [os.path.join(wd, STATE)] if STATE in names else []
        if cks:
            paths.append(os.path.join(wd, cks[-1][1], STATE))
        newest_ck = reader.mtime(os.path.join(wd, cks[-1][1])) if cks else None
        state: dict[str, Any] | None = None
        state_mtimes: list[float] = []
        for p in paths:
            if p == os.path.join(wd, STATE) and (m := reader.mtime(p)) is not None and stale_top_state(m, run_start, newest_ck):
                continue  # an earlier run's save_state()
            s, problem = _state_at(reader, p)
            if problem:
                warnings.append(problem)
                continue
            seen = reader.files.get(p)
            if seen is not None:
                state_mtimes.append(seen[0])
            if s is not None and (state is None or (s.get("global_step") or 0) > (state.get("global_step") or 0)):
                state = s
        state = state or {}
        logs: list[tuple[str, float]] = []
        for p in events:
            mtime = reader.mtime(p)
            if mtime is not None:
                logs.append((os.path.relpath(p, wd), mtime))
        text_logs, error = reader.text_logs(wd, names, self.settings.trainer_log_pattern)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)
        scalars = reader.event_scalars(events, warnings) if events else []
        points = [(s.wall_time, s.step) for s in scalars if s.tag.startswith("train/")]
        ev_step = max((s for _, s in points), default=0)
        ev_epoch = max((s.value for s in scalars if s.tag == "train/epoch"), default=None)

        step = max(int(finite_number(state.get("global_step")) or 0), ev_step)
        max_steps = _count(state.get("max_steps"))
        total_epochs = _count(state.get("num_train_epochs"))
        epoch = max(x for x in (finite_number(state.get("epoch")), ev_epoch, 0.0) if x is not None)
        raw_history = state.get("log_history")
        history: list[Any] = raw_history if isinstance(raw_history, list) else []
        trained = any(isinstance(e, dict) and "train_runtime" in e for e in history)
        callbacks = _dict(state.get("stateful_callbacks"))
        control = _dict(callbacks.get("TrainerControl"))
        stop_flag = _dict(control.get("args")).get("should_training_stop") is True
        es = callbacks.get("EarlyStoppingCallback")
        es = _dict(es[0] if isinstance(es, list) and es else es)  # a list when several are registered
        patience = _dict(es.get("args")).get("early_stopping_patience")
        counter = _dict(es.get("attributes")).get("early_stopping_patience_counter")
        # Scores: every evaluation, the best as the state names it (else replayed with the directions).
        # The event files hold every evaluation; the saved state only those up to its last save.
        evals = eval_entries(history)
        ev_evals = event_evals(scalars)
        if len(ev_evals) > len(evals):
            evals = ev_evals
        # EarlyStoppingCallback's counter is saved only at checkpoints: replay the evaluations (hf_end.py).
        threshold = finite_number(_dict(es.get("args")).get("early_stopping_threshold")) or 0.0
        directions = self.config.directions if self.config is not None else None
        replayed_stop = False
        if isinstance(patience, int) and directions and evals:
            (key, sign), *_ = directions.items()
            stop = early_stop_index([finite_number(e["scores"].get(key)) for e in evals], patience, threshold, sign > 0)
            replayed_stop = stop is not None and stop == len(evals) - 1
        # save_model() after train(): a model file in the output dir newer than every checkpoint.
        model_m = max((m for n in MODEL_FILES if n in names and (m := reader.mtime(os.path.join(wd, n))) is not None), default=None)
        if returned_from_train(model_m, newest_ck):
            trained = True
        best_index = None
        best_step = state.get("best_global_step")
        if not (isinstance(best_step, int) and not isinstance(best_step, bool)) and isinstance(state.get("best_model_checkpoint"), str):
            ck = _CHECKPOINT.match(os.path.basename(state["best_model_checkpoint"].rstrip("/\\")))
            best_step = int(ck.group(1)) if ck else None
        if isinstance(best_step, int):
            for i, e in enumerate(evals):
                if e["step"] == best_step:
                    best_index = i
        if not state:
            warnings.append(f"{wd}: no readable {STATE} yet (written at the first save)")
        if total_epochs is None and max_steps is None:
            warnings.append(f"{wd}: total unknown (no max_steps / num_train_epochs in the state)")
        obs = Observation(
            completed_epochs=int(math.floor(epoch + 1e-6)),
            total_epochs=total_epochs,
            completed_steps=step,
            total_steps=max_steps,
            epoch_progress=epoch,
            series=[e["scores"] for e in evals],
            best_index=best_index,
            stopped_early=(isinstance(patience, int) and isinstance(counter, int) and counter >= patience) or replayed_stop,
            finished=trained or stop_flag,
            step_points=points,
            start_time=min((s.wall_time for s in scalars), default=None),
            last_update_time=max([m for _, m in logs[:1]] + state_mtimes, default=None),
            warnings=warnings,
            error_message=error,
        )
        # Its pulse: the wall times of its event records, else the times of its saves (report_to="none").
        beats = [t for t, _ in points] or [m for _, n in cks if (m := reader.mtime(os.path.join(wd, n))) is not None]
        return obs, RunFolderDetails(logs=logs, writer=newest_writer(events), beats=sorted(beats)[-512:] or None)


OUTPUT_FLAGS = ("--output_dir", "--output-dir")


def output_dir_argument(argv: list[str]) -> str | None:
    for i, tok in enumerate(argv):
        if tok in OUTPUT_FLAGS:
            return argv[i + 1] if i + 1 < len(argv) else None
        for flag in OUTPUT_FLAGS:
            if tok.startswith(flag + "="):
                return tok[len(flag) + 1 :]
        if tok.startswith("output_dir="):
            return tok[len("output_dir=") :]
    return None


class OutputDirMatcher(ProcessMatcher):
    """A Hugging Face script's ``--output_dir X`` (HfArgumentParser's spelling, ``--output-dir`` and
    ``output_dir=X`` too) names its run folder, resolved against the process's working directory,
    even before the first checkpoint makes it a run. Only what the command line says for certain
    is used; a run launched without it is matched by the writer its event file names
    (``RunFolderDetails.writer``)."""

    def __init__(self, project: Project) -> None:
        self.root = os.path.normpath(project.root)

    def is_candidate(self, text: str) -> bool:
        return "output_dir" in text or "output-dir" in text

    def match(self, argv: list[str], text: str, cwd: str | None) -> tuple[str, bool] | None:
        out = output_dir_argument(argv)
        if not out:
            return None
        absolute = posixpath.normpath(out if posixpath.isabs(out) else posixpath.join(cwd or self.root, out))
        if not absolute.startswith(self.root + os.sep):
            return None
        return os.path.relpath(absolute, self.root).replace(os.sep, "/"), False


def hyperparameters(work_dir: str) -> dict[str, Any]:
    """The run's TrainingArguments, flat (``learning_rate``, ``lr_scheduler_type``...)."""
    args, _ = training_args(work_dir)
    return flatten_params(args) if args else {}


def step_series(work_dir: str) -> dict[str, list[tuple[float, float]]]:
    """Every number of the newest saved state's log history by its step (``loss``, ``learning_rate``, ``eval_*``)."""
    names = listing(work_dir)[1]
    paths = [os.path.join(work_dir, STATE)] if STATE in names else []
    cks = checkpoints(names)
    if cks:
        paths.append(os.path.join(work_dir, cks[-1][1], STATE))
    best: dict[str, Any] | None = None
    for p in paths:
        s, problem = read_json_tolerant(p)
        if problem is None and isinstance(s, dict) and (best is None or (s.get("global_step") or 0) > (best.get("global_step") or 0)):
            best = s
    history = best.get("log_history") if best else None
    out: dict[str, list[tuple[float, float]]] = {}
    for e in history if isinstance(history, list) else []:
        step = finite_number(e.get("step")) if isinstance(e, dict) else None
        if step is None:
            continue
        for k, v in e.items():
            if k not in ("step", "epoch") and finite_number(v) is not None and not k.endswith(("_runtime", "_per_second", "total_flos")):
                out.setdefault(k, []).append((step, float(v)))
    return out


class HuggingFaceLayout(RunFolderLayout):
    """Hugging Face Trainer: an ``output_dir`` holding ``trainer_state.json`` (top or in a checkpoint)."""

    name = "huggingface"
    title = "Hugging Face Trainer (output_dir with checkpoint-*/trainer_state.json)"
    tracker_class = HuggingFaceProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def hyperparameters(self, project: Any, run: str) -> dict[str, Any]:
        return hyperparameters(run)

    def step_series(self, project: Any, run: str) -> dict[str, list[tuple[float, float]]]:
        return step_series(run)

    def process_matcher(self, project: Project, remote: bool) -> ProcessMatcher | None:
        return OutputDirMatcher(project)

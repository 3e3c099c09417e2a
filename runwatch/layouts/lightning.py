"""PyTorch Lightning runs: ``<save_dir>/<name>/version_<N>/`` as its loggers write them.

What is read (see docs/layouts.md): ``metrics.csv`` (CSVLogger, tailed) or
``events.out.tfevents.*`` (TensorBoardLogger) for the per-epoch scores and epochs done;
``checkpoints/epoch=<e>-step=<s>.ckpt`` names for epochs done; the newest checkpoint's
callback states (decoded without torch) for the EarlyStopping / ModelCheckpoint monitor,
mode and patience; LightningCLI's ``config.yaml`` (``trainer.max_epochs`` / ``max_steps``)
for the total, else ``max_epochs`` in ``hparams.yaml``, else unknown.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.lightning_end import csv_pulse, ends_on_epoch_boundary
from runwatch.layouts.epoch_runs import csv_step_series
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, RunFolderTracker, StatMemo, event_files, listing, newest_writer, stat_or_none
from runwatch.progress_tracking.observation import Observation
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.layouts.run_params import flatten_params, num
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch.readers.yamlfile import read_yaml_tolerant
from runwatch.state import STATE

RUNNER_TYPE = register_runner_type("lightning")
_VERSION = re.compile(r"^version_\d+$")
_CKPT = re.compile(r"^epoch=(\d+)-step=(\d+)(?:-v\d+)?\.ckpt$")
_MARKERS = ("hparams.yaml", "metrics.csv", "checkpoints")


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    if not _VERSION.match(os.path.basename(path)):
        # A logger version of the user's naming (NeMo's exp_manager: a timestamp; ``version="run1"``):
        # the hyperparameters file beside the logger's own output.
        return "hparams.yaml" in names and ("metrics.csv" in names or "checkpoints" in names or any(n.startswith("events.out.tfevents.") for n in names))
    return any(m in names for m in _MARKERS) or any(n.startswith("events.out.tfevents.") for n in names)


def _callbacks_of(path: str) -> dict[str, Any]:
    value, problem = read_torch_file(path)
    data = plain(value) if value is not None else None
    cbs = data.get("callbacks") if isinstance(data, dict) else None
    return {
        "problem": problem,
        "callbacks": cbs if isinstance(cbs, dict) else {},
        "epoch": data.get("epoch") if isinstance(data, dict) else None,
        "global_step": data.get("global_step") if isinstance(data, dict) else None,
    }


_CKPTS: StatMemo = STATE.table("layouts.lightning.checkpoints", lambda: StatMemo(limit=4096))
_YAML: StatMemo = STATE.table("layouts.lightning.hparams", StatMemo)


def _yaml(path: str) -> tuple[Any, str | None]:
    return _YAML.get(path, read_yaml_tolerant) or (None, None)


def _state_key(key: str) -> tuple[str, dict[str, Any]]:
    """``EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}`` -> ("EarlyStopping", {...})."""
    name, _, rest = key.partition("{")
    try:
        info = ast.literal_eval("{" + rest) if rest else {}
    except (ValueError, SyntaxError):
        info = {}
    return name, info if isinstance(info, dict) else {}


def monitor_facts(work_dir: str, ckpt_names: tuple[str, ...], reader: RecordingReader | None = None) -> dict[str, Any]:
    """Monitor, mode, patience and stop of the newest checkpoint's EarlyStopping/ModelCheckpoint states
    (every checkpoint looked at is recorded by ``reader``, when given)."""
    out: dict[str, Any] = {}
    folder = os.path.join(work_dir, "checkpoints")
    paths = [os.path.join(folder, n) for n in ckpt_names if n.endswith(".ckpt")]
    stat = reader.stat if reader is not None else stat_or_none
    stats = [(st.st_mtime, p) for p in paths if (st := stat(p)) is not None]
    if not stats:
        return out
    newest = max(stats)[1]
    out["newest"] = os.path.basename(newest)
    data = (reader.remembered(newest, _CKPTS, _callbacks_of) if reader is not None else _CKPTS.get(newest, _callbacks_of)) or {}
    out["ckpt_epoch"], out["ckpt_step"] = data.get("epoch"), data.get("global_step")
    out["problem"] = data.get("problem")
    for key, state in (data.get("callbacks") or {}).items():
        name, info = _state_key(key)
        if not isinstance(state, dict):
            continue
        if name == "EarlyStopping":
            out["monitor"] = info.get("monitor") or out.get("monitor")
            out["mode"] = info.get("mode") or out.get("mode")
            out["patience"] = state.get("patience")
            out["stopped_epoch"] = state.get("stopped_epoch")
        elif name == "ModelCheckpoint" and state.get("monitor"):
            out.setdefault("monitor", state.get("monitor"))
            out.setdefault("mode", info.get("mode"))
            out["best_model_path"] = state.get("best_model_path")
    return out


def totals(work_dir: str, names: tuple[str, ...], reader: RecordingReader | None = None) -> tuple[int | None, int | None, str | None]:
    """(max_epochs, max_steps, problem) from config.yaml's trainer section, else hparams.yaml; None when unknown
    (the files looked at are recorded by ``reader``, when given)."""
    for fname, section in (("config.yaml", "trainer"), ("hparams.yaml", None)):
        if fname not in names:
            continue
        path = os.path.join(work_dir, fname)
        data, problem = (reader.remembered(path, _YAML, read_yaml_tolerant) or (None, None)) if reader is not None else _yaml(path)
        if problem:
            return None, None, problem
        node = data.get(section) if section and isinstance(data, dict) else data
        if not isinstance(node, dict):
            continue
        me, ms = node.get("max_epochs"), node.get("max_steps")
        me = me if isinstance(me, int) and not isinstance(me, bool) and me > 0 else None
        ms = ms if isinstance(ms, int) and not isinstance(ms, bool) and ms > 0 else None
        if me is not None or ms is not None:
            return me, ms, None
        if section == "trainer" and "max_epochs" in node:  # LightningCLI with neither set: Lightning's default
            return 1000, None, None
    return None, None, None


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    names = listing(run)[1]
    me, _, _ = totals(run, names)
    ck = listing(os.path.join(run, "checkpoints"))[1] if "checkpoints" in names else ()
    mon = monitor_facts(run, ck)
    directions = {mon["monitor"]: 1 if mon.get("mode") == "max" else -1} if mon.get("monitor") and mon.get("mode") in ("min", "max") else None
    patience = mon.get("patience") if isinstance(mon.get("patience"), int) else None
    stage = StageFacts(
        runner=ClassRef("lightning.pytorch", "Trainer"),
        epochs=me,
        directions=directions,
        directions_source="source" if directions else None,
        early_stopping_enabled=patience is not None,
        early_stopping_patience=patience,
    )
    deps = [run, os.path.join(run, "config.yaml"), os.path.join(run, "hparams.yaml")]
    if ck:
        deps.append(os.path.join(run, "checkpoints"))
        deps += [os.path.join(run, "checkpoints", n) for n in ck if n == "last.ckpt" or n == mon.get("newest")]
    return ConfigFacts(path=run, stages=[stage]), deps


def _epoch_rows(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per epoch, the last value of each metric logged in it (epoch and step left out)."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        e = r.get("epoch")
        if not isinstance(e, int | float) or isinstance(e, bool):
            continue
        d = out.setdefault(int(e), {})
        d.update({k: v for k, v in r.items() if k not in ("epoch", "step") and isinstance(v, int | float)})
    return out


def complete_from(progress: ProgressInfo) -> bool:
    return (
        progress.early_stopped
        or (progress.total_epochs is not None and progress.completed_epochs >= progress.total_epochs)
        or (progress.total_steps is not None and progress.completed_steps is not None and progress.completed_steps >= progress.total_steps)
    )


class LightningProgressTracker(RunFolderTracker):
    """Progress of one ``version_<N>`` folder from its logger's files and checkpoint names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._csv = CsvTail(os.path.join(self.work_dir, "metrics.csv"))

    RUNNER_TYPE = RUNNER_TYPE
    FOLDER = "version folder"

    def get_expected_files(self) -> list[str]:
        return ["metrics.csv"]

    def get_log_pattern(self) -> str:
        return "events.out.tfevents.*"

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        wd = self.work_dir
        warnings: list[str] = []
        ck_names: tuple[str, ...] = ()
        if "checkpoints" in names:
            ck_names = reader.listdir(os.path.join(wd, "checkpoints"))[1]
        # Metrics: CSVLogger rows, or TensorBoardLogger scalars grouped by their "epoch" tag.
        rows: list[dict[str, Any]] = []
        points: list[tuple[float, int]] = []
        logs: list[tuple[str, float]] = []
        if "metrics.csv" in names:
            rows, problem = reader.csv_rows(self._csv)
            if problem:
                warnings.append(problem)
            mtime = reader.mtime(self._csv.path)
            if mtime is not None:
                logs.append(("metrics.csv", mtime))
        events = event_files(wd, names)
        for p in events:
            mtime = reader.mtime(p)
            if mtime is not None:
                logs.append((os.path.basename(p), mtime))
        text_logs, error = reader.text_logs(wd, names, self.settings.trainer_log_pattern)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)
        if events:
            scalars = reader.event_scalars(events, warnings)
            by_step: dict[int, dict[str, Any]] = {}
            for s in scalars:
                by_step.setdefault(s.step, {"step": s.step})[s.tag] = s.value
                points.append((s.wall_time, s.step))
            if not rows:
                rows = [by_step[k] for k in sorted(by_step)]
        per_epoch = _epoch_rows(rows)
        max_step = max((int(r["step"]) for r in rows if isinstance(r.get("step"), int | float)), default=-1)
        # Epochs done: an epoch with a later epoch's rows after it, or with its end-of-epoch (validation) row.
        mon = monitor_facts(wd, ck_names, reader)
        if mon.get("problem"):
            warnings.append(mon["problem"])
        monitor = mon.get("monitor")
        done = 0
        if per_epoch:
            last = max(per_epoch)
            done = last
            tail_keys = per_epoch[last]
            if (monitor and monitor in tail_keys) or any(k.startswith("val") or k.endswith("_epoch") for k in tail_keys):
                done = last + 1
        ck_epochs = [int(m.group(1)) for n in ck_names if (m := _CKPT.match(n))]
        ck_steps = [int(m.group(2)) for n in ck_names if (m := _CKPT.match(n))]
        if ck_epochs:
            done = max(done, max(ck_epochs) + 1)
        steps = max([max_step + 1 if max_step >= 0 else 0] + ck_steps)
        total, total_steps, problem = totals(wd, names, reader)
        if problem:
            warnings.append(problem)
        if total is None and total_steps is None:
            warnings.append(f"{wd}: total epochs unknown (no config.yaml with trainer.max_epochs, no max_epochs in hparams.yaml)")
        obs = Observation(
            completed_epochs=done,
            total_epochs=total,
            completed_steps=steps,
            total_steps=total_steps,
            series=[per_epoch.get(i) for i in range(done)],
            monitor=monitor,
            stopped_early=isinstance(mon.get("stopped_epoch"), int) and mon["stopped_epoch"] > 0,
            step_points=points,
            start_time=min((t for t, _ in points), default=None),
            last_update_time=reader.newest_mtime(),
            warnings=warnings,
            error_message=error,
        )
        # How it ended (lightning_end.py): records that close the last epoch; its pulse: the event records' times.
        clean = ends_on_epoch_boundary(done, max(per_epoch) if per_epoch else None, max_step, list(zip(ck_epochs, ck_steps, strict=True)))
        beats = sorted(t for t, _ in points)[-512:] or None
        pulse = None
        if beats is None and rows and "metrics.csv" in names:  # CSVLogger only: its rows' pace
            start = reader.mtime(os.path.join(wd, "hparams.yaml")) if "hparams.yaml" in names else None
            pulse = csv_pulse(start, reader.mtime(self._csv.path), rows)
        return obs, RunFolderDetails(logs=logs, writer=newest_writer(events), clean_end=clean, beats=beats, pulse=pulse)


def hyperparameters(work_dir: str) -> dict[str, Any]:
    """LightningCLI's ``config.yaml`` (``model.lr``, ``trainer.max_epochs``), then ``hparams.yaml`` (the module's
    ``save_hyperparameters``) for the keys it adds, flat."""
    out: dict[str, Any] = {}
    data, problem = _yaml(os.path.join(work_dir, "config.yaml"))
    if problem is None and isinstance(data, dict):
        flatten_params(data, "", out)
    data, problem = _yaml(os.path.join(work_dir, "hparams.yaml"))
    if problem is None and isinstance(data, dict):
        for k, v in flatten_params(data).items():
            out.setdefault(k, v)
    return out


_NOT_SERIES = frozenset({"epoch"})


def step_series(work_dir: str) -> dict[str, list[tuple[float, float]]]:
    """Every logged number by its step: ``metrics.csv``'s rows, else the event files' scalars."""
    names = listing(work_dir)[1]
    out: dict[str, list[tuple[float, float]]] = {}
    if "metrics.csv" in names:
        return csv_step_series(os.path.join(work_dir, "metrics.csv"), x="step", skip=_NOT_SERIES)
    from runwatch.readers.tfevents import event_tail

    for s in (x for p in event_files(work_dir, names) for x in event_tail(p).read()):
        if s.tag != "epoch" and num(s.value):
            out.setdefault(s.tag, []).append((float(s.step), float(s.value)))
    return out


class LightningLayout(RunFolderLayout):
    """PyTorch Lightning: ``<save_dir>/<name>/version_<N>/`` as its loggers write them."""

    name = "lightning"
    title = "PyTorch Lightning (<save_dir>/<name>/version_<N>/)"
    tracker_class = LightningProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def hyperparameters(self, project: Any, run: str) -> dict[str, Any]:
        return hyperparameters(run)

    def step_series(self, project: Any, run: str) -> dict[str, list[tuple[float, float]]]:
        return step_series(run)

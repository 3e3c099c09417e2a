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
from runwatch.layouts.lightning_end import ends_on_epoch_boundary
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
from runwatch.progress_tracking.early_stopping import replay
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
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
        return False
    return any(m in names for m in _MARKERS) or any(n.startswith("events.out.tfevents.") for n in names)


def _callbacks_of(path: str) -> dict[str, Any]:
    value, _ = read_torch_file(path)
    data = plain(value) if value is not None else None
    cbs = data.get("callbacks") if isinstance(data, dict) else None
    return {
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


def monitor_facts(work_dir: str, ckpt_names: tuple[str, ...]) -> dict[str, Any]:
    """Monitor, mode, patience and stop of the newest checkpoint's EarlyStopping/ModelCheckpoint states."""
    out: dict[str, Any] = {}
    folder = os.path.join(work_dir, "checkpoints")
    paths = [os.path.join(folder, n) for n in ckpt_names if n.endswith(".ckpt")]
    stats = [(st.st_mtime, p) for p in paths if (st := stat_or_none(p)) is not None]
    if not stats:
        return out
    newest = max(stats)[1]
    out["newest"] = os.path.basename(newest)
    data = _CKPTS.get(newest, _callbacks_of) or {}
    out["ckpt_epoch"], out["ckpt_step"] = data.get("epoch"), data.get("global_step")
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


def totals(work_dir: str, names: tuple[str, ...]) -> tuple[int | None, int | None, str | None]:
    """(max_epochs, max_steps, problem) from config.yaml's trainer section, else hparams.yaml; None when unknown."""
    for fname, section in (("config.yaml", "trainer"), ("hparams.yaml", None)):
        if fname not in names:
            continue
        data, problem = _yaml(os.path.join(work_dir, fname))
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

    def calculate_progress(self) -> ProgressInfo:
        wd = self.work_dir
        warnings: list[str] = list(self.extra_warnings)
        top_m, names = listing(wd)
        if top_m is None:
            return self._unreadable()
        dirs: dict[str, Any] = {wd: (top_m, names)}
        files: dict[str, Any] = {}
        for n in ("metrics.csv", "config.yaml", "hparams.yaml"):
            if n in names:
                files[os.path.join(wd, n)] = seen(stat_or_none(os.path.join(wd, n)))
        ck_dir = os.path.join(wd, "checkpoints")
        ck_names: tuple[str, ...] = ()
        if "checkpoints" in names:
            cm, ck_names = listing(ck_dir)
            dirs[ck_dir] = (cm, ck_names)
            for n in ck_names:
                if n == "last.ckpt":
                    files[os.path.join(ck_dir, n)] = seen(stat_or_none(os.path.join(ck_dir, n)))
        # Metrics: CSVLogger rows, or TensorBoardLogger scalars grouped by their "epoch" tag.
        rows: list[dict[str, Any]] = []
        points: list[tuple[float, int]] = []
        if "metrics.csv" in names:
            rows = list(self._csv.read())
            if self._csv.problem:
                warnings.append(self._csv.problem)
        events = event_files(wd, names)
        logs: list[tuple[str, float]] = []
        for p in events:
            st = stat_or_none(p)
            files[p] = seen(st)
            if st is not None:
                logs.append((os.path.basename(p), st.st_mtime))
        if "metrics.csv" in names and (st := stat_or_none(os.path.join(wd, "metrics.csv"))) is not None:
            logs.append(("metrics.csv", st.st_mtime))
        text_logs, error = lab_logs(wd, names, self.settings.trainer_log_pattern, files)
        logs += text_logs
        logs.sort(key=lambda x: x[1], reverse=True)
        if events:
            scalars = read_events(events, warnings)
            by_step: dict[int, dict[str, Any]] = {}
            for s in scalars:
                by_step.setdefault(s.step, {"step": s.step})[s.tag] = s.value
                points.append((s.wall_time, s.step))
            if not rows:
                rows = [by_step[k] for k in sorted(by_step)]
        per_epoch = _epoch_rows(rows)
        max_step = max((int(r["step"]) for r in rows if isinstance(r.get("step"), int | float)), default=-1)
        # Epochs done: an epoch with a later epoch's rows after it, or with its end-of-epoch (validation) row.
        mon = monitor_facts(wd, ck_names)
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
        total, total_steps, problem = totals(wd, names)
        if problem:
            warnings.append(problem)
        if total is None and total_steps is None:
            warnings.append(f"{wd}: total epochs unknown (no config.yaml with trainer.max_epochs, no max_epochs in hparams.yaml)")
        series: list[dict[str, Any] | None] = [per_epoch.get(i) for i in range(done)]
        directions = self.config.directions if self.config is not None else None
        patience = self.config.early_stopping_patience if self.config is not None else None
        mseries = [({monitor: s[monitor]} if s and monitor in s else None) for s in series] if monitor else series
        trace = replay(mseries, directions, patience) if directions else None
        stopped = isinstance(mon.get("stopped_epoch"), int) and mon["stopped_epoch"] > 0
        reached = (total is not None and done >= total) or (total_steps is not None and steps >= total_steps)
        early = not reached and (stopped or (trace is not None and trace.stop_at is not None and trace.stop_at == done))
        best_i = trace.best_index if trace is not None else None
        best = series[best_i] if best_i is not None and best_i < len(series) else None
        latest = next((s for s in reversed(series) if s), None)
        records = [EpochRecord(index=i, finished=True, scores=s) for i, s in enumerate(series)]
        if early:
            pct = 100.0
        elif total_steps:
            pct = min(100.0, steps * 100.0 / total_steps)
        elif total:
            pct = min(100.0, done * 100.0 / total)
        else:
            pct = 0.0
        eta = None
        if not (early or reached):
            if total_steps:
                eta = step_rate_eta(points, steps, total_steps)
            elif total and points:
                per_epoch_steps = steps / done if done else None
                eta = step_rate_eta(points, steps, int(per_epoch_steps * total)) if per_epoch_steps else None
        clean = not (early or reached) and ends_on_epoch_boundary(done, max(per_epoch) if per_epoch else None, max_step, list(zip(ck_epochs, ck_steps)))
        self.details = RunFolderDetails(
            epochs=records, logs=logs, eta_seconds=eta, writer=newest_writer(events), clean_end=clean, beats=sorted(t for t, _ in points)[-512:] or None
        )
        self._hint = {}
        self._watch(dirs, files)
        stamps = [st.st_mtime for p in files if (st := stat_or_none(p)) is not None]
        return ProgressInfo(
            completed_epochs=done,
            progress_percentage=pct,
            early_stopped=early,
            early_stopped_at_epoch=done if early else None,
            runner_type=RUNNER_TYPE,  # type: ignore[arg-type]
            total_epochs=total,
            start_time=min((t for t, _ in points), default=None),
            last_update_time=max(stamps, default=None),
            best_score=best,
            latest_score=latest,
            error_message=error,
            warnings=warnings or None,
            best_epoch=best_i,
            completed_steps=steps,
            total_steps=total_steps,
        )


class LightningLayout(RunFolderLayout):
    name = "lightning"
    tracker_class = LightningProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

"""MMEngine runs (MMDetection, MMSegmentation, MMPretrain...): ``work_dirs/<cfg>/``.

What is read (see docs/layouts.md): the dumped config ``<cfg>.py`` (read as data, never run:
``train_cfg.max_epochs`` / ``max_iters``, ``default_hooks.checkpoint.save_best`` / ``rule``, the
hyperparameters), the newest ``<timestamp>/vis_data/scalars.json`` (one JSON line per logging step with
``epoch``, ``iter``, ``step``, ``loss``, ``lr``; one per validation with its metrics), the names of
``epoch_N.pth`` / ``iter_N.pth`` / ``best_<metric>_<epoch|iter>_N.pth``, and the end of the text log
``<timestamp>/<timestamp>.log`` for ``EarlyStoppingHook``'s stop line. A Runner built from Python
arguments dumps an empty config: its total is then read from the newest checkpoint's message hub
(``runtime_info.max_epochs`` / ``max_iters``, decoded as data without torch), and unknown before one.
That is MMEngine's own record, not a guess: ``RuntimeInfoHook.before_train`` writes the loop's
``max_epochs`` / ``max_iters`` into the message hub, and every checkpoint saves the hub (an
``IterBasedTrainLoop``'s ``max_epochs`` is its placeholder 1: such a run counts in iterations). The
checkpoint is decoded once per checkpoint file (its ``data.pkl`` only, bounded: readers/torchpickle.py),
and the totals are kept with the run's stored progress, so a new process does not decode it again.
Its process: ``train.py CONFIG`` (``work_dirs/<config name>``) or ``--work-dir W`` on the command line.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, StageFacts
from runwatch.layouts.base import ProcessMatcher
from runwatch.layouts.common import RunFolderDetails, RunFolderLayout, StatMemo, listing, stat_or_none
from runwatch.layouts.epoch_runs import EpochPacedTracker, FolderMatcher, count, epoch_eta, facts_key, flag_value, flat_params, num
from runwatch.progress_tracking.observation import Observation
from runwatch.progress_tracking.progress_info import ProgressInfo, register_runner_type
from runwatch.progress_tracking.recording_reader import RecordingReader
from runwatch.project import Project
from runwatch.readers.dumped_config import read_dumped_config
from runwatch.readers.jsonlines import JsonLinesTail
from runwatch.readers.logs import read_tail
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch.state import STATE

RUNNER_TYPE = register_runner_type("mmengine")
_STAMP = re.compile(r"^\d{8}_\d{6}$")
_CKPT = re.compile(r"^(epoch|iter)_(\d+)\.pth$")
_BEST = re.compile(r"^best_(.+)_(epoch|iter)_(\d+)\.pth$")
# EarlyStoppingHook's reasons (mmengine/hooks/early_stopping_hook.py), logged when it stops training.
_EARLY = re.compile(r"the monitored metric did not improve in the last \d+ records|Stopping threshold reached: |is infinite\. Previous best value was")
# CheckpointHook's rule inference for save_best (mmengine/hooks/checkpoint_hook.py).
_GREATER = ("acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc")
_LESS = ("loss",)
_NOT_SCORES = frozenset(("epoch", "iter", "step", "time", "data_time", "memory", "eta"))
LOG_TAIL_BYTES = 64 * 1024


def is_run_dir(path: str, names: frozenset[str]) -> bool:
    if not any(_STAMP.match(n) for n in names):
        return False
    return "last_checkpoint" in names or any(n.endswith(".py") or _CKPT.match(n) for n in names)


def config_path(run: str, names: Any) -> str | None:
    """The dumped config: ``<work dir name>.py``, else the newest-named ``.py`` (a Runner from arguments: ``<timestamp>.py``)."""
    own = os.path.basename(run) + ".py"
    if own in names:
        return os.path.join(run, own)
    pys = sorted(n for n in names if n.endswith(".py"))
    return os.path.join(run, pys[-1]) if pys else None


_CONFIGS: StatMemo = STATE.table("layouts.mmengine.configs", StatMemo)
_CKPTS: StatMemo = STATE.table("layouts.mmengine.checkpoints", lambda: StatMemo(limit=4096))


def _config(path: str | None) -> tuple[dict[str, Any], str | None]:
    if path is None:
        return {}, None
    return _CONFIGS.get(path, read_dumped_config) or ({}, None)


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def totals(cfg: dict[str, Any]) -> tuple[int | None, int | None, bool]:
    """(max_epochs, max_iters, by_iter) from ``train_cfg`` (MMEngine's loops: EpochBasedTrainLoop unless by_epoch=False / IterBasedTrainLoop)."""
    tc = _dict(cfg.get("train_cfg"))
    by_iter = tc.get("type") == "IterBasedTrainLoop" or tc.get("by_epoch") is False or ("max_iters" in tc and "max_epochs" not in tc)
    return count(tc.get("max_epochs")), count(tc.get("max_iters")), by_iter


def _rule_of(metric: str, rule: Any) -> int | None:
    if rule in ("greater", "less"):
        return 1 if rule == "greater" else -1
    if any(k in metric for k in _GREATER):
        return 1
    if any(k in metric for k in _LESS):
        return -1
    return None


def save_best(cfg: dict[str, Any]) -> tuple[str | None, int | None]:
    """The ``save_best`` metric of the config's CheckpointHook and its direction (``rule``, else MMEngine's inference)."""
    ck = _dict(_dict(cfg.get("default_hooks")).get("checkpoint"))
    metric, rule = ck.get("save_best"), ck.get("rule")
    if isinstance(metric, list | tuple):
        metric = metric[0] if metric else None
        rule = rule[0] if isinstance(rule, list | tuple) and rule else rule
    if not isinstance(metric, str) or not metric:
        return None, None
    return metric, (None if metric == "auto" else _rule_of(metric, rule))


def _runtime_info(path: str) -> dict[str, Any]:
    value, _ = read_torch_file(path)
    data = plain(value) if value is not None else None
    info = _dict(_dict(_dict(data).get("message_hub")).get("runtime_info"))
    return {"max_epochs": count(info.get("max_epochs")), "max_iters": count(info.get("max_iters"))}


def _read_facts(run: str) -> tuple[ConfigFacts, list[str]]:
    names = listing(run)[1]
    path = config_path(run, names)
    cfg, problem = _config(path)
    me, _, by_iter = totals(cfg)
    metric, direction = save_best(cfg)
    if metric in (None, "auto"):
        best = [m.group(1) for n in names if (m := _BEST.match(n))]
        metric = best[0] if best else None
        direction = _rule_of(metric, None) if metric else None
    directions = {metric: direction} if metric and direction else None
    es = [h for h in cfg.get("custom_hooks") or [] if isinstance(h, dict) and h.get("type") == "EarlyStoppingHook"]
    patience = count(es[0].get("patience", 5)) if es else None
    stage = StageFacts(
        runner=ClassRef("mmengine.runner", "Runner"),
        epochs=None if by_iter else me,
        directions=directions,
        directions_source="source" if directions else None,
        early_stopping_enabled=bool(es),
        early_stopping_patience=patience,
    )
    return ConfigFacts(path=run, stages=[stage], warnings=[problem] if problem else []), [run] + ([path] if path else [])


def hyperparameters(run: str) -> dict[str, Any]:
    cfg, _ = _config(config_path(run, listing(run)[1]))
    return flat_params({k: v for k, v in cfg.items() if k not in ("work_dir", "launcher")})


def step_series(run: str) -> dict[str, list[tuple[float, float]]]:
    """Every number of the newest ``vis_data/scalars.json`` by its step. A training row's step is its global
    iteration (``step``, else ``iter``); a validation row's own ``step`` is its epoch (0 in an iteration-based
    loop), so its metrics go at the step of the training row before it, where they were measured."""
    stamps = sorted(n for n in listing(run)[1] if _STAMP.match(n))
    if not stamps:
        return {}
    tail = JsonLinesTail(os.path.join(run, stamps[-1], "vis_data", "scalars.json"))
    out: dict[str, list[tuple[float, float]]] = {}
    last: float | None = None
    for r in tail.read():
        if "iter" in r:
            at = num(r.get("step"))
            at = num(r.get("iter")) if at is None else at
            if at is None:
                continue
            last = at
        else:
            at = last if last is not None else num(r.get("step"))
            if at is None:
                continue
        for k, v in r.items():
            if k not in _NOT_SCORES and (value := num(v)) is not None:
                out.setdefault(k, []).append((at, value))
    return out


def complete_from(progress: ProgressInfo) -> bool:
    return progress.early_stopped or progress.progress_percentage >= 100.0


class MMEngineProgressTracker(EpochPacedTracker):
    """Progress of one MMEngine work dir."""

    RUNNER_TYPE = RUNNER_TYPE
    FOLDER = "work dir"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scalars: JsonLinesTail | None = None

    def get_expected_files(self) -> list[str]:
        return ["last_checkpoint"]

    def get_log_pattern(self) -> str:
        return "*/vis_data/scalars.json"

    def complete_from(self, progress: ProgressInfo) -> bool:
        return complete_from(progress)

    def _key_extra(self) -> Any:
        return facts_key(self.config)  # the dumped config is watched by the facts

    def observe(self, reader: RecordingReader, names: tuple[str, ...]) -> tuple[Observation, RunFolderDetails]:
        wd = self.work_dir
        warnings: list[str] = []
        cpath = config_path(wd, names)
        cfg = _config(cpath)[0]  # watched by the facts (their key is part of this tracker's)
        stamps = sorted(n for n in names if _STAMP.match(n))
        logs: list[tuple[str, float]] = []
        records: list[dict[str, Any]] = []
        log_text = ""
        if stamps:
            ts = stamps[-1]
            scalars = os.path.join(wd, ts, "vis_data", "scalars.json")
            log = os.path.join(wd, ts, ts + ".log")
            if self._scalars is None or self._scalars.path != scalars:
                self._scalars = JsonLinesTail(scalars)
            if (mt := reader.mtime(scalars)) is not None:
                logs.append((os.path.relpath(scalars, wd), mt))
                records = self._scalars.read()
                if self._scalars.problem:
                    warnings.append(self._scalars.problem)
            if (mt := reader.mtime(log)) is not None:
                logs.append((os.path.relpath(log, wd), mt))
                log_text = read_tail(log, LOG_TAIL_BYTES)
        error = self.with_lab_logs(reader, names, logs)

        me, mi, by_iter = totals(cfg)
        ck_epochs = [int(m.group(2)) for n in names if (m := _CKPT.match(n)) and m.group(1) == "epoch"]
        ck_iters = [int(m.group(2)) for n in names if (m := _CKPT.match(n)) and m.group(1) == "iter"]
        kept = None
        if me is None and mi is None:
            newest = max(((e, f"epoch_{e}.pth") for e in ck_epochs), default=None) or max(((i, f"iter_{i}.pth") for i in ck_iters), default=None)
            if newest is not None:
                kept = self._hub_totals(reader, newest[1])
                me, mi = kept[3:5] if kept is not None else (None, None)
                by_iter = by_iter or not ck_epochs
            if me is None and mi is None:
                why = (
                    "the dumped config is empty (a Runner built from Python arguments)"
                    if cpath and not cfg
                    else "no train_cfg.max_epochs / max_iters in the dumped config"
                )
                warnings.append(f"{wd}: total unknown ({why}; read from the first checkpoint once there is one)")
        # Training rows carry "iter"; a validation row does not, and its metrics belong to the training just before it.
        train_last: dict[str, Any] = {}
        last_train_row: dict[str, Any] = {}
        rounds: list[dict[str, Any]] = []
        iter_times: list[float] = []
        for r in records:
            if "iter" in r:
                last_train_row = r
                if (t := num(r.get("time"))) is not None:
                    iter_times.append(t)
                train_last.update({k: v for k, v in r.items() if k not in _NOT_SCORES and num(v) is not None})
            else:
                scores = {k: v for k, v in r.items() if k not in _NOT_SCORES and num(v) is not None}
                if scores:
                    rounds.append({**scores, **{k: v for k, v in train_last.items() if k not in scores}})
        step = max([count(last_train_row.get("iter")) or 0] + ck_iters + [0])
        series: list[dict[str, Any] | None]
        if by_iter:
            done = len(rounds)
            series = list(rounds)
            total, total_steps = None, mi
            if mi and iter_times:
                recent = iter_times[-20:]  # each training row's "time": seconds per iteration
                self._epoch_eta = max(0.0, (mi - step) * sum(recent) / len(recent))
        else:
            done = max([len(rounds), (count(last_train_row.get("epoch")) or 0) - 1, 0] + ck_epochs)
            series = [rounds[i] if i < len(rounds) else None for i in range(done)]
            total, total_steps = me, None
            ck_times = [(e, st.st_mtime) for e in ck_epochs if (st := stat_or_none(os.path.join(wd, f"epoch_{e}.pth"))) is not None]
            self._epoch_eta = epoch_eta(ck_times, done, total)
        directions = self.config.directions if self.config is not None else None
        obs = Observation(
            completed_epochs=done,
            total_epochs=total,
            completed_steps=step if step or by_iter else None,
            total_steps=total_steps,
            series=series,
            monitor=next(iter(directions), None) if directions else None,
            stopped_early=bool(_EARLY.search(log_text)),
            last_update_time=max((m for _, m in logs), default=None),
            warnings=warnings,
            error_message=error,
        )
        return obs, RunFolderDetails(logs=logs, kept=kept)

    def _hub_totals(self, reader: RecordingReader, name: str) -> tuple[Any, ...] | None:
        """(name, mtime_ns, size, max_epochs, max_iters) of checkpoint ``name``'s message hub: decoded once per
        checkpoint file, then kept with the run's stored progress (a new process does not decode it again)."""
        path = os.path.join(self.work_dir, name)
        st = reader.stat(path)
        if st is None:
            return None
        stamp = (name, st.st_mtime_ns, st.st_size)
        entry = self.store.get(self.work_dir) if self.store is not None else None
        for earlier in (self.details, entry.details if entry is not None else None):
            kept = getattr(earlier, "kept", None)
            if isinstance(kept, tuple) and len(kept) == 5 and kept[:3] == stamp:
                return kept
        info = _CKPTS.get(path, _runtime_info) or {}
        if info.get("max_epochs") is None and info.get("max_iters") is None:
            return None  # unreadable (still being written?): read again next time
        return (*stamp, info["max_epochs"], info["max_iters"])


def mmengine_folder(argv: list[str]) -> str | None:
    """The work dir of an MMEngine ``train.py CONFIG`` command line: ``--work-dir``, else ``work_dirs/<config name>``."""
    wd = flag_value(argv, "--work-dir", "--work_dir")
    if wd:
        return wd
    scripts = [i for i, t in enumerate(argv) if os.path.basename(t) == "train.py"]
    if not scripts:
        return None
    config = next((t for t in argv[scripts[0] + 1 :] if t.endswith(".py") and not t.startswith("-")), None)
    return posixpath.join("work_dirs", posixpath.splitext(posixpath.basename(config))[0]) if config else None


class MMEngineLayout(RunFolderLayout):
    """MMEngine: a work dir holding ``<timestamp>/`` beside its dumped config or checkpoints."""

    name = "mmengine"
    title = "MMEngine (work_dirs/<config> with the dumped config and <timestamp>/vis_data/scalars.json)"
    tracker_class = MMEngineProgressTracker
    marks_run = staticmethod(is_run_dir)
    read_facts = staticmethod(_read_facts)

    def process_matcher(self, project: Project, remote: bool) -> ProcessMatcher | None:
        return FolderMatcher(project, mmengine_folder, ("train.py", "--work-dir", "--work_dir"))

    def hyperparameters(self, project: Project, run: str) -> dict[str, Any]:
        return hyperparameters(run)

    def step_series(self, project: Project, run: str) -> dict[str, list[tuple[float, float]]]:
        return step_series(run)

"""Progress of multi-stage training: a config that is a list of stages, as Pylon's ``main.py`` runs it.

``main.py`` runs a list's stages one after another, each in its own ``work_dir``; a
trainer resumes from the finished epochs already in its work dir and trains up to its
own ``epochs``. So stages that share one work dir end at the largest stage's epochs
(2 then 3 epochs in one dir: 3 epochs in all, not 5), and stages in separate work dirs
each have their own progress. The run's total is the sum over its distinct work dirs
of the largest ``epochs`` of the stages in each. A ``MultiStageTrainer`` runner
(``stage_configs`` in one dict config) is one trainer in one work dir: tracked as the
trainer scan with the config's epochs.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal

from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.base_progress_tracker import EpochRecord
from runwatch.progress_tracking.progress_info import ProgressInfo, StageProgress
from runwatch.progress_tracking.stage_ends import stage_ends
from runwatch.progress_tracking.base_progress_tracker import BaseProgressTracker
from runwatch.progress_tracking.trainer_progress_tracker import TrainerProgressTracker
from runwatch.readers.logs import log_facts


def _norm(p: str) -> str:
    return os.path.normpath(p).replace(os.sep, "/")


class MultiStageProgressTracker(TrainerProgressTracker):
    """Progress tracker for multi-stage runs (list configs: Pylon's ``main.py`` semantics)."""

    _sub_scan_keys: tuple[Any, ...] | None  # set only around a scan (read through __dict__)

    def get_runner_type(self) -> Literal["trainer", "evaluator", "multi_stage"]:
        return "multi_stage"

    def live_paths(self, progress: ProgressInfo) -> tuple[set[str], set[str]]:
        """Stages train in their own dirs: the generic rule (quick_check.default_live), not the trainer's."""
        return BaseProgressTracker.live_paths(self, progress)

    def stage_epochs(self) -> list[int | None]:
        if self.config is None:
            return []
        return [s.epochs for s in self.config.stages]

    # ---- which work dir each stage trains in

    def _project_root(self) -> str | None:
        """The dir declared work dirs are relative to (Pylon runs from the project root)."""
        wd = _norm(os.path.abspath(self.work_dir))
        for st in self.config.stages if self.config is not None else []:
            if st.work_dir and not os.path.isabs(st.work_dir):
                declared = _norm(st.work_dir)
                if wd.endswith("/" + declared):
                    return wd[: -len(declared) - 1] or "/"
        path = self.config.path if self.config is not None else ""
        marker = "/" + self.settings.configs_dir.strip("/") + "/"
        if os.path.isabs(path) and marker in _norm(path):
            return _norm(path).rsplit(marker, 1)[0] or "/"
        return None

    def stage_dirs(self) -> list[str]:
        """The work dir of each stage: its declared ``work_dir``, else the run's own."""
        memo = getattr(self, "_stage_dirs_memo", None)
        if memo is not None and memo[0] is self.config:
            return memo[1]
        own = _norm(os.path.abspath(self.work_dir))
        root = self._project_root()
        out: list[str] = []
        for st in self.config.stages if self.config is not None else []:
            d = st.work_dir
            if d and os.path.isabs(d):
                out.append(_norm(d))
            elif d and root is not None:
                out.append(_norm(os.path.join(root, d)))
            else:
                out.append(own)
        self._stage_dirs_memo = (self.config, out)
        return out

    def _is_list_config(self) -> bool:
        return self.config is not None and self.config.is_multi_stage

    def _other_dirs(self) -> list[str]:
        own = _norm(os.path.abspath(self.work_dir))
        seen: list[str] = []
        for d in self.stage_dirs() if self._is_list_config() else []:
            if d != own and d not in seen:
                seen.append(d)
        return seen

    def _group_total(self, d: str) -> int | None:
        counts = [e for e, sd in zip(self.stage_epochs(), self.stage_dirs(), strict=False) if sd == d]
        if not counts or any(c is None for c in counts):
            return None
        return max(c for c in counts if c is not None)

    def configured_total_epochs(self) -> int | None:
        if not self._is_list_config():
            return super().configured_total_epochs()
        return self._group_total(_norm(os.path.abspath(self.work_dir)))

    # ---- the other stages' work dirs: one trainer tracker each, in the cache key

    def _sub_trackers(self) -> dict[str, TrainerProgressTracker]:
        subs: dict[str, TrainerProgressTracker] = self.__dict__.setdefault("_subs", {})
        wanted = self._other_dirs()
        for d in list(subs):
            if d not in wanted:
                del subs[d]
        for d in wanted:
            t = subs.get(d)
            if t is None or t.config is None or t.config.stages[0].epochs != self._group_total(d):
                stage = next(st for st, sd in zip(self.config.stages, self.stage_dirs(), strict=False) if sd == d)  # type: ignore[union-attr]
                facts = ConfigFacts(path=self.config.path, stages=[stage])  # type: ignore[union-attr]
                facts.stages = [dataclasses.replace(stage, epochs=self._group_total(d))]
                subs[d] = t = TrainerProgressTracker(d, facts, settings=self.settings)
        return subs

    def _key_extra(self) -> Any:
        base = super()._key_extra()
        subs = self.__dict__.get("_subs")
        if not subs:
            return base
        scan_keys = self.__dict__.get("_sub_scan_keys")
        if scan_keys is not None:  # building the key from this scan: the subs' own scan keys
            return (base, scan_keys)
        return (base, tuple(t._disk_key() for t in subs.values()))

    def _key_from_scan(self, now: float) -> Any:
        subs = self.__dict__.get("_subs")
        if subs:
            self._sub_scan_keys = tuple(t._cache_key for t in subs.values())
        try:
            return super()._key_from_scan(now)
        finally:
            self._sub_scan_keys = None

    # ---- stages

    def _finish(self, progress: ProgressInfo, records: list[EpochRecord], completed: int) -> None:
        counts = self.stage_epochs()
        if not self._is_list_config():
            self._finish_sequential(progress, counts, completed)
            return
        own = _norm(os.path.abspath(self.work_dir))
        dirs = self.stage_dirs()
        done_in: dict[str, int] = {own: completed}
        subs = self._sub_trackers()
        for d, t in subs.items():
            sub = t.get_progress()
            done_in[d] = sub.completed_epochs
            for w in sub.warnings or []:
                if "no work dir" not in w:
                    progress.add_warning(w)
        stages: list[StageProgress] = []
        current: int | None = None
        for i, n in enumerate(counts):
            runner = self.config.stages[i].runner if self.config is not None else None
            # A stage resumes from what its dir holds and trains up to its own epochs.
            done = min(done_in.get(dirs[i], 0), n) if n is not None else done_in.get(dirs[i], 0)
            pct = (100.0 * done / n) if n else 0.0
            stages.append(StageProgress(index=i, total_epochs=n, completed_epochs=done, progress_percentage=pct, runner=str(runner) if runner else None))
            if current is None and (n is None or done < n):
                current = i
        progress.stages = stages
        progress.current_stage = current
        if not subs:
            self._stage_early_stops(progress, completed)
        if subs:  # separate work dirs: the run is the sum over its dirs
            totals = [self._group_total(d) for d in [own, *subs]]
            total = None if any(t is None for t in totals) else sum(t for t in totals if t is not None)
            done_all = sum(min(done_in[d], self._group_total(d) or done_in[d]) for d in [own, *subs])
            progress.completed_epochs = done_all
            progress.total_epochs = total
            if total:
                progress.progress_percentage = min(100.0, done_all * 100.0 / total)
            if current is not None:  # a stage in another dir still to train: not stopped, not done
                progress.early_stopped = False
                progress.early_stopped_at_epoch = None

    def _stopped_at(self, progress: ProgressInfo) -> int | None:
        """The epoch count at which the run recorded an early stop: its own record, else a session's log line."""
        if progress.early_stopped and progress.early_stopped_at_epoch is not None:
            return progress.early_stopped_at_epoch
        memo: dict[tuple[str, float], int | None] = self.__dict__.setdefault("_stop_lines", {})
        found: list[int] = []
        details = getattr(self, "details", None)
        for name, mtime in (details.logs if details is not None else [])[:16]:
            key = (name, mtime)
            if key not in memo:
                if len(memo) > 64:
                    memo.clear()
                memo[key] = log_facts(os.path.join(self.work_dir, name)).stopped_early_at
            if memo[key] is not None:
                found.append(memo[key])  # type: ignore[arg-type]
        return min(found) if found else None

    def _stage_early_stops(self, progress: ProgressInfo, completed: int) -> None:
        """Stages sharing one work dir, as main.py runs them: a stage that stops early ends there."""
        if self.config is None:
            return
        es = [bool(st.early_stopping_enabled) for st in self.config.stages]
        stopped_at = self._stopped_at(progress) if any(es) else None
        if stopped_at is None:
            return
        ends, current, early = stage_ends(self.stage_epochs(), es, completed, stopped_at)
        for sp, e in zip(progress.stages or [], ends, strict=False):
            sp.completed_epochs = e.completed
            sp.progress_percentage = 100.0 if e.stopped_early or (e.ends_at is not None and e.completed >= e.ends_at) else sp.progress_percentage
        progress.current_stage = current
        if early:
            progress.early_stopped, progress.early_stopped_at_epoch, progress.progress_percentage = True, stopped_at, 100.0
        elif current is not None:
            progress.early_stopped, progress.early_stopped_at_epoch = False, None

    def _finish_sequential(self, progress: ProgressInfo, counts: list[int | None], completed: int) -> None:
        """One trainer over consecutive epochs (MultiStageTrainer): stage i holds the next ``counts[i]`` epochs."""
        stages: list[StageProgress] = []
        remaining = completed
        current: int | None = None
        for i, n in enumerate(counts):
            runner = self.config.stages[i].runner if self.config is not None else None
            done = min(remaining, n) if n is not None else remaining
            remaining -= done
            pct = (100.0 * done / n) if n else 0.0
            stages.append(StageProgress(index=i, total_epochs=n, completed_epochs=done, progress_percentage=pct, runner=str(runner) if runner else None))
            if current is None and (n is None or done < n):
                current = i
        progress.stages = stages
        progress.current_stage = current

    def _progress_json_targets(self, progress: ProgressInfo) -> list[tuple[str, dict[str, Any]]]:
        # With stages in other dirs the record is the sum over dirs, not this dir's trainer's
        # count; each other dir's tracker writes its own (setting "missing").
        if self.__dict__.get("_subs"):
            return []
        return super()._progress_json_targets(progress)

    def complete_from(self, progress: ProgressInfo) -> bool:
        if self._is_list_config() and progress.current_stage is not None:
            return False
        return super().complete_from(progress)

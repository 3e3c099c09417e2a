"""The demo's director: keeps the live slots busy for as long as the demo runs.

Each live slot has a kind (train, early_stop, crash, multi_stage, eval, stall). When a
slot's run ends (it finished, stopped early or crashed), the director waits a little
and starts the slot's next run under a new name (``live/train_0_2`` after
``live/train_0``), so the table keeps showing every status moving. A ``stall`` run
trains a few epochs of a longer config; then a silent process holds the config (a
hung run: stuck once its log is quiet for ``sleep_time``) until the director kills it
(failed), as a person would.

The population is bounded by construction: a slot keeps its newest ``KEEP_PER_SLOT`` runs,
and starting one more retires the oldest (its config, work dir and output go, as a person
clears out old runs), so an hour of demo shows as many runs as its first minutes, with the
same mix of statuses, not an ever longer list of failures.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from runwatch.demo.processes import WriterProcesses
from runwatch.demo.project import DemoProject, retire_run, write_live_run, write_plan

PAUSE_S = (10.0, 30.0)  # between a run's end and the slot's next run
STALL_HOLD_S = (45.0, 75.0)  # how long a hung run is left hanging before it is killed
KEEP_PER_SLOT = 3  # runs a slot keeps on disk: the one under way and the two before it


@dataclass
class Slot:
    kind: str
    index: int
    rel: str
    gen: int = 0
    phase: str = "run"  # run -> (stall: hang) -> wait
    next_at: float = 0.0


class Director:
    """Watches the live runs' processes from a thread and starts each slot's next run."""

    def __init__(self, demo: DemoProject, writers: WriterProcesses, seed: int = 1, tick_s: float = 1.0) -> None:
        self.demo = demo
        self.writers = writers
        self.rng = random.Random(seed)
        self.tick_s = tick_s
        self.slots: list[Slot] = []
        for rel, entry in demo.plan.items():
            if entry.get("slot") is None:
                continue
            slot = next((s for s in self.slots if s.index == entry["slot"]), None)
            gen = int(entry.get("gen", 0))
            if slot is None:
                self.slots.append(Slot(entry["kind"], entry["slot"], rel, gen))
            elif gen > slot.gen:
                slot.rel, slot.gen = rel, gen
        for slot in self.slots:  # a reused demo whose stall run was hanging: it hangs a while more
            if self.demo.plan[slot.rel].get("mode") == "stuck":
                slot.phase, slot.next_at = "hang", time.monotonic() + self.rng.uniform(*STALL_HOLD_S)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_runs: list[str] = []  # every run the director started (tests read it)

    def start(self) -> Director:
        self._thread = threading.Thread(target=self._loop, name="runwatch-demo-director", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick(time.monotonic())
            except Exception:
                pass

    def tick(self, now: float) -> None:
        alive = set(self.writers.alive())
        for slot in self.slots:
            if slot.phase == "run" and slot.rel not in alive:
                if slot.kind == "stall" and self.demo.plan[slot.rel].get("mode") == "train":
                    self._hang(slot, now)
                else:
                    slot.phase, slot.next_at = "wait", now + self.rng.uniform(*PAUSE_S)
            elif slot.phase == "hang" and now >= slot.next_at:
                self.writers.kill(slot.rel)  # the hung run is killed: failed
                slot.phase, slot.next_at = "wait", now + self.rng.uniform(*PAUSE_S)
            elif slot.phase == "wait" and now >= slot.next_at and not self._stop.is_set():
                self._next_run(slot)

    def _hang(self, slot: Slot, now: float) -> None:
        """The stall run's process comes back silent: alive, holding its config, writing nothing."""
        self.demo.plan[slot.rel] = {**self.demo.plan[slot.rel], "mode": "stuck"}
        write_plan(self.demo.root, self.demo.plan)
        self.writers.start_run(slot.rel)
        slot.phase, slot.next_at = "hang", now + self.rng.uniform(*STALL_HOLD_S)

    def _next_run(self, slot: Slot) -> None:
        self._retire_old(slot, keep=KEEP_PER_SLOT - 1)
        slot.gen += 1
        rel = f"live/{slot.kind}_{slot.index}_{slot.gen + 1}"
        entry: dict[str, Any] = write_live_run(self.demo.root, rel, slot.kind, self.rng)
        self.demo.plan[rel] = {**entry, "slot": slot.index, "gen": slot.gen}
        write_plan(self.demo.root, self.demo.plan)
        slot.rel, slot.phase = rel, "run"
        self.writers.start_run(rel)
        self.started_runs.append(rel)

    def _retire_old(self, slot: Slot, keep: int) -> None:
        """Retire the slot's oldest runs (long ended) so that ``keep`` are left before the next one starts."""
        mine = sorted((int(e.get("gen", 0)), rel) for rel, e in self.demo.plan.items() if e.get("slot") == slot.index)
        alive = set(self.writers.alive())
        for _, rel in mine[: max(0, len(mine) - keep)]:
            if rel in alive:  # never the one a process still holds
                continue
            del self.demo.plan[rel]
            retire_run(self.demo.root, rel)
        write_plan(self.demo.root, self.demo.plan)

"""TensorBoard event files (``events.out.tfevents.*``) as a score and liveness source, tailed.

Read with the ``tensorboard`` package's own event-file loader (no TensorFlow needed),
an optional extra: ``pip install runwatch[tensorboard]``. One loader is kept per file
and asked only for the records appended since the last call (the loader resumes where
it stopped; a half-written record is retried next time). Without the package the
scalars are unknown and ``TENSORBOARD_MISSING`` says how to get them; a file's mtime
(liveness) needs no package at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from runwatch.state import STATE

TENSORBOARD_MISSING = "reading TensorBoard event files needs the tensorboard package: pip install runwatch[tensorboard]"
_MAX_LOADERS = 512


@dataclass
class Scalar:
    tag: str
    step: int
    wall_time: float
    value: float


@dataclass
class EventTail:
    """The scalars of one event file read so far."""

    path: str
    scalars: list[Scalar] = field(default_factory=list)
    size: int = -1
    problem: str | None = None
    _loader: Any = None

    def read(self) -> list[Scalar]:
        try:
            size = os.stat(self.path).st_size
        except OSError as e:
            self.problem = f"{self.path}: cannot read ({e.strerror or e})"
            return self.scalars
        if size == self.size:
            return self.scalars
        try:
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
            from tensorboard.util import tensor_util
        except ImportError:
            self.problem = TENSORBOARD_MISSING
            return self.scalars
        self.problem = None
        if self._loader is None or size < self.size:
            self.scalars = []
            self._loader = EventFileLoader(self.path)
        try:
            for event in self._loader.Load():
                if not event.HasField("summary"):
                    continue
                for v in event.summary.value:
                    value = _scalar(v, tensor_util)
                    if value is not None:
                        self.scalars.append(Scalar(v.tag, int(event.step), float(event.wall_time), value))
        except Exception as e:  # a corrupt record: keep what was read, say why
            self.problem = f"{self.path}: unreadable event record ({type(e).__name__}: {e})"
        self.size = size
        return self.scalars


def _scalar(v: Any, tensor_util: Any) -> float | None:
    if v.HasField("simple_value"):
        return float(v.simple_value)
    if v.HasField("tensor"):
        try:
            arr = tensor_util.make_ndarray(v.tensor)
        except Exception:
            return None
        if getattr(arr, "size", 0) == 1:
            try:
                return float(arr.reshape(()))
            except (TypeError, ValueError):
                return None
    return None


_TAILS: dict[str, EventTail] = STATE.table("readers.tfevents.tails", lambda: LRUCache(maxsize=_MAX_LOADERS))


def event_tail(path: str) -> EventTail:
    """The process's tail of one event file (bounded: the oldest are dropped past a limit)."""
    tail = _TAILS.get(path)
    if tail is None:
        tail = _TAILS[path] = EventTail(path)
    return tail


def is_event_file(name: str) -> bool:
    return name.startswith("events.out.tfevents.")


def writer_of(name: str) -> tuple[str, int, float] | None:
    """(host, pid, opened at) of the process that writes an event file, from its name.

    TensorBoard's writers name their files ``events.out.tfevents.<time>.<host>.<pid>.<n>``
    (the host may hold dots); None for any other name.
    """
    if not is_event_file(name):
        return None
    parts = name[len("events.out.tfevents.") :].split(".")
    if len(parts) < 4 or not parts[0].isdigit() or not parts[-2].isdigit():
        return None
    host = ".".join(parts[1:-2])
    return (host, int(parts[-2]), float(parts[0])) if host else None

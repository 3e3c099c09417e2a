"""TensorBoard event files (``events.out.tfevents.*``) as a score and liveness source, tailed.

The records (TFRecord framing: a length, its checksum, the bytes, their checksum) are
read here through the checked opener, so a FIFO or a device never blocks or feeds a scan
and a link out of the project is refused; each record is decoded with the ``tensorboard``
package's ``Event`` message (no TensorFlow needed), an optional extra:
``pip install runwatch[tensorboard]``. Each file is tailed: only the bytes appended since
the last call are read (a half-written record is retried next time). Bounded: a record
over ``MAX_RECORD_BYTES``, more than ``MAX_READ_BYTES`` in one call (the rest comes next
time) and more than ``MAX_SCALARS`` scalars per file (the oldest are dropped) are budgets
whose excess is a problem naming the file. Without the package the scalars are unknown
and ``TENSORBOARD_MISSING`` says how to get them; a file's mtime (liveness) needs no
package at all.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from runwatch.readers.safe_open import open_regular
from runwatch.state import STATE

TENSORBOARD_MISSING = "reading TensorBoard event files needs the tensorboard package: pip install runwatch[tensorboard]"
_MAX_LOADERS = 512
# A scalar event is ~100 bytes; images and histograms can be MBs. Past this, the file is not read on.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# Bytes read from one file per call (the rest is read on the next calls).
MAX_READ_BYTES = 128 * 1024 * 1024
# Scalars kept per file (the oldest dropped past it).
MAX_SCALARS = 500_000


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
    offset: int = 0  # where the next record starts
    stopped: str | None = None  # why the file is not read on (a record over the budget, a corrupt one)

    def read(self) -> list[Scalar]:
        try:
            size = os.stat(self.path).st_size
        except OSError as e:
            self.problem = f"{self.path}: cannot read ({e.strerror or e})"
            return self.scalars
        if size == self.size:
            return self.scalars
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.util import tensor_util
        except ImportError:
            self.problem = TENSORBOARD_MISSING
            return self.scalars
        self.problem = None
        if size < self.size or size < self.offset:  # rewritten: start again
            self.scalars, self.offset, self.stopped = [], 0, None
        if self.stopped:
            self.problem = self.stopped
            self.size = size
            return self.scalars
        try:
            with open_regular(self.path) as f:
                f.seek(self.offset)
                data = f.read(min(size - self.offset, MAX_READ_BYTES) + 12)
        except OSError as e:
            self.problem = f"{self.path}: cannot read ({e.strerror or e})"
            return self.scalars
        at, more = 0, False
        try:
            while len(data) - at >= 12:
                (length,) = struct.unpack_from("<Q", data, at)
                if length > MAX_RECORD_BYTES:
                    self.stopped = f"{self.path}: an event record of {length} bytes, more than {MAX_RECORD_BYTES}; not read on"
                    break
                end = at + 12 + length + 4
                if end > len(data):
                    more = size - self.offset > len(data)  # cut by the read budget, not by the writer
                    break
                event = Event.FromString(data[at + 12 : at + 12 + length])
                at = end
                if not event.HasField("summary"):
                    continue
                for v in event.summary.value:
                    value = _scalar(v, tensor_util)
                    if value is not None:
                        self.scalars.append(Scalar(v.tag, int(event.step), float(event.wall_time), value))
        except Exception as e:  # a corrupt record: keep what was read, say why, read no further
            self.stopped = f"{self.path}: unreadable event record ({type(e).__name__}: {str(e)[:200]})"
        self.offset += at
        if len(self.scalars) > MAX_SCALARS:
            del self.scalars[: len(self.scalars) - MAX_SCALARS]
            self.problem = f"{self.path}: more than {MAX_SCALARS:,} scalars; the oldest dropped"
        self.problem = self.stopped or self.problem
        # Unchanged size: nothing new to read (unless the read budget left bytes for the next call).
        self.size = -1 if more else size
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


_TAILS: LRUCache[str, EventTail] = STATE.table("readers.tfevents.tails", lambda: LRUCache(maxsize=_MAX_LOADERS))


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

"""How a Lightning run ended, from what it left: pure functions over what the tracker parsed.

A plain ``Trainer(max_epochs=N)`` (or ``max_steps``) writes its total nowhere on disk. What a
normal end leaves is a run whose records close an epoch: the last epoch's end-of-epoch row
(validation, ``*_epoch``) is logged, and the newest ``epoch=E-step=S.ckpt`` (the default
ModelCheckpoint saves one at each epoch's end) is that epoch's. Once its process is gone (or
it is silent past its limit with no process to ask), such a run has ended after ``E + 1``
epochs; one whose records run past its newest checkpoint, or end inside an epoch, was cut off.
A fit that reaches its total ends exactly there, so the status rules read it finished. Only a kill
right after that checkpoint leaves the same files (Lightning writes nothing at the end of ``fit``:
the loggers flush at every log, ModelCheckpoint's ``on_train_end`` saves only a ``last.ckpt`` not
yet saved, the checkpoint's loop state is that of any epoch's end); the rules tell it apart only
when the process was seen alive well after that end (``ALIVE_AFTER_END``).

One process that writes ``version_0`` and then ``version_1`` (two ``fit`` calls, a sweep) has
moved on from ``version_0``: the writer named by ``version_0``'s event file (host, pid) opening
a newer sibling's event file says so.

A run logging only with a CSVLogger has no record times: its ``metrics.csv`` rows carry steps, not
times. Lightning writes the file at every ``log_metrics`` (each ``log_every_n_steps``-th training
batch, each validation end), one row each, so its pace is the time from the start (``hparams.yaml``,
written once before the first batch) to the file's last write over the rows written
(``csv_pulse``): a run that was killed reads dead a minute after its last row, not an hour.
"""

from __future__ import annotations

import os
import re
from typing import Any

from runwatch.readers.log_pulse import Pulse

_VERSION = re.compile(r"^version_(\d+)$")


def ends_on_epoch_boundary(done: int, last_epoch_with_rows: int | None, last_step: int, checkpoints: list[tuple[int, int]]) -> bool:
    """Whether the records end where a normal end leaves them.

    With checkpoints ((epoch, step) of each ``epoch=E-step=S.ckpt``): the newest one closes the
    last epoch with records and no record is past its step (``max_steps`` ends inside an epoch,
    and its checkpoint is saved there). Without: the last epoch's rows are closed
    (``done == last + 1``)."""
    if done <= 0:
        return False
    if checkpoints:
        epoch, step = max(checkpoints)
        return (last_epoch_with_rows is None or last_epoch_with_rows <= epoch) and last_step < step + 1
    return last_epoch_with_rows is None or last_epoch_with_rows + 1 == done


def moved_on(work_dir: str, writer: tuple[str, int, float] | None, writers_of: Any) -> str | None:
    """The newer sibling ``version_<K>`` folder that this run's own writer went on to, or None.

    ``writers_of(path)`` gives the writers (host, pid, opened at) of a folder's event files."""
    if writer is None:
        return None
    m = _VERSION.match(os.path.basename(work_dir))
    if m is None:
        return None
    parent, mine = os.path.dirname(work_dir), int(m.group(1))
    try:
        names = os.listdir(parent)
    except OSError:
        return None
    for n in sorted(names):
        k = _VERSION.match(n)
        if k is None or int(k.group(1)) <= mine:
            continue
        for w in writers_of(os.path.join(parent, n)):
            if (w[0], w[1]) == (writer[0], writer[1]) and w[2] >= writer[2]:
                return n
    return None


def _closes_epoch(row: dict[str, Any]) -> bool:
    return any(k.startswith("val") or k.endswith("_epoch") for k in row)


def csv_pulse(start: float | None, last_write: float | None, rows: list[dict[str, Any]]) -> Pulse | None:
    """The pulse of a CSVLogger run: a row every ``(last_write - start) / len(rows)`` seconds, or None.

    ``start``: ``hparams.yaml``'s mtime (the logger writes it once, before the first batch);
    ``last_write``: ``metrics.csv``'s. The mean includes the start-up and every validation, so it
    is never finer than the run really is. Where the last row leaves it: after an epoch's closing
    row (validation, ``*_epoch``), else between training batches."""
    if start is None or last_write is None or not rows or last_write <= start:
        return None
    position = "after_validation" if _closes_epoch(rows[-1]) else "training"
    return Pulse((last_write - start) / len(rows), position, None, None, True)

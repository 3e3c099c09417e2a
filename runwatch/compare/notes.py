"""What is wrong with a run's per-datapoint data, as far as the datapoint cache already knows.

Reading per-datapoint scores is a comparison's work (tens of MB per epoch), never a status
scan's. Once a scores file has been read (a score map, a failure map, ``runwatch compare``), its
problems are known: the cache notes them here by the file's fingerprint, and its disk entries
carry them in their header. A run's detail (``/api/runs/{id}``, ``runwatch show``) then shows them
as the run's warnings, naming the file: no ``per_datapoint``, a metric whose datapoint count
differs from the others', NaN scores, and datapoint counts that differ between the run's epochs.

Asking costs one ``stat`` per scores file of the run, plus, for a file read by another process, the
small header of its disk cache entry; a file never read, or changed since, says nothing.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Any

from runwatch.state import STATE

MAX_NOTES = 100_000
MAX_HEADER_BYTES = 1024 * 1024
_MAGIC = b"RWDP1\n"


class _Notes(OrderedDict[str, tuple[str, int, tuple[str, ...]]]):
    """path -> (fingerprint, datapoints, warnings), the most recent last."""


_NOTES: _Notes = STATE.table("compare.notes", _Notes)


def remember(path: str, fp: str, n: int, warnings: list[str]) -> None:
    """Note what reading ``path`` (at fingerprint ``fp``) found: its datapoint count and its problems."""
    _NOTES[path] = (fp, int(n), tuple(warnings))
    _NOTES.move_to_end(path)
    while len(_NOTES) > MAX_NOTES:
        _NOTES.popitem(last=False)


def known(path: str, fp: str | None, disk_file: str | None = None) -> tuple[int, tuple[str, ...]] | None:
    """(datapoints, warnings) of ``path`` as it is now, when it has been read: from this process's
    notes, else from the header of its disk cache entry (``disk_file``); None when nothing is known."""
    if fp is None:
        return None
    hit = _NOTES.get(path)
    if hit is not None and hit[0] == fp:
        return hit[1], hit[2]
    if disk_file is None:
        return None
    header = _disk_header(disk_file)
    if header is None or header.get("key") != f"{path}\0{fp}":
        return None
    lengths = [int(x[1]) for x in header.get("columns") or [] if isinstance(x, list) and len(x) == 2]
    n = header.get("n")
    if not isinstance(n, int):
        n = max(set(lengths), key=lambda x: (lengths.count(x), x)) if lengths else 0
    warnings = tuple(str(w) for w in header.get("warnings") or [])
    remember(path, fp, n, list(warnings))
    return n, warnings


def _disk_header(disk_file: str) -> dict[str, Any] | None:
    """The JSON header of a disk cache entry (runwatch's own file: never through a link), read alone."""
    from runwatch.readers.safe_open import open_own

    try:
        with open_own(disk_file) as f:
            head = f.read(len(_MAGIC) + 8)
            if len(head) < len(_MAGIC) + 8 or not head.startswith(_MAGIC):
                return None
            size = int.from_bytes(head[len(_MAGIC) :], "little")
            if size > MAX_HEADER_BYTES:
                return None
            data = f.read(size)
    except OSError:
        return None
    try:
        header = json.loads(data)
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def scores_files(status: Any, settings: Any) -> list[tuple[int, str]]:
    """(epoch, path) of a run's scores files that hold per-datapoint scores (Pylon's trainers and evaluators)."""
    runner = status.progress.runner_type
    wd = status.work_dir
    if runner == "evaluator":
        return [(0, os.path.join(wd, settings.evaluation_scores_file))]
    if runner in ("trainer", "multi_stage") and status.details is not None:
        return [(e.index, os.path.join(wd, settings.epoch_dir_name(e.index), settings.validation_scores_file)) for e in status.details.epochs if e.finished]
    return []


def fingerprint(path: str) -> str | None:
    """``dev:ino:size:mtime_ns`` of a file (following a link), or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def data_warnings(status: Any, project: Any, cache: Any = None) -> list[str]:
    """The problems the cache knows of the run's per-datapoint data, each naming its file (``cache``:
    the project's ``DatapointCache``, whose disk entries are looked at; without one, this process's notes)."""
    if status is None or project is None:
        return []
    out: list[str] = []
    counts: list[tuple[int, str, int]] = []
    for epoch, path in scores_files(status, project.settings):
        fp = fingerprint(path)
        got = known(path, fp, cache.entry_file(path, fp) if fp is not None and cache is not None else None)
        if got is None:
            continue
        n, warnings = got
        out.extend(w for w in warnings if w not in out)
        if n:
            counts.append((epoch, path, n))
    if len({n for _, _, n in counts}) > 1:
        usual = max({n for _, _, n in counts}, key=lambda x: (sum(1 for _, _, m in counts if m == x), x))
        odd = [(e, p, n) for e, p, n in counts if n != usual]
        shown = "; ".join(f"{p}: {n}" for _, p, n in odd[:5]) + (f"; and {len(odd) - 5} more" if len(odd) > 5 else "")
        out.append(f"per-datapoint counts differ between epochs: {usual} datapoints in most, but {shown}")
    return out

"""``/api/runs`` answers built once per index sequence number, then sliced and reused.

An index's records only change with its sequence number, so the records, each
filtered and sorted order and the encoded page are the same for every request of one
seq: the first request of a seq builds them, the next ones reuse them. Only the newest
seq is kept (a new seq drops everything older, so an answer is never stale), with a few
variants (filter, search, sort) and a few encoded pages each, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

Records = list[dict[str, Any]]


class RowsCache:
    """The newest seq's records, up to ``variants`` filtered/sorted orders and ``pages`` encoded pages."""

    def __init__(self, variants: int = 6, pages: int = 2) -> None:
        self.variants = variants
        self.pages = pages
        self._lock = threading.Lock()
        self.seq: int | None = None
        self._records: Records | None = None
        self._rows: OrderedDict[Hashable, Records] = OrderedDict()
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()

    def _at(self, seq: int) -> None:
        """Forget everything of another seq (called under the lock)."""
        if self.seq != seq:
            self.seq = seq
            self._records = None
            self._rows.clear()
            self._pages.clear()

    def page(self, seq: int, key: Hashable) -> bytes | None:
        """The encoded page ``key`` of ``seq``, if built."""
        with self._lock:
            if self.seq != seq:
                return None
            body = self._pages.get(key)
            if body is not None:
                self._pages.move_to_end(key)
            return body

    def put_page(self, seq: int, key: Hashable, body: bytes) -> None:
        with self._lock:
            if self.seq is not None and seq < self.seq:
                return  # built for an older seq while a newer one arrived: never kept
            self._at(seq)
            self._pages[key] = body
            while len(self._pages) > self.pages:
                self._pages.popitem(last=False)

    def rows(
        self, seq: int, variant: Hashable, load: Callable[[], tuple[int, Records]], select: Callable[[Records], Records], keep: bool = True
    ) -> tuple[int, Records]:
        """(seq, the rows of ``variant``): ``select(records)`` once per seq and variant.

        ``load()`` gives (seq, records) from the index; it may answer a newer seq than the one
        asked for, and what it gives is kept under the seq it names. Rows that do not follow from
        the records alone (a search of hyperparameters, read from the run's files) are selected
        anew each time (``keep=False``); only the records are reused. Call it off the event loop.
        """
        with self._lock:
            hit = self._rows.get(variant) if self.seq == seq and keep else None
            if hit is not None:
                self._rows.move_to_end(variant)
                return seq, hit
            records = self._records if self.seq == seq else None
        if records is None:
            seq, records = load()
        rows = select(records)
        with self._lock:
            if self.seq is None or seq >= self.seq:
                self._at(seq)
                self._records = records
                if keep:
                    self._rows[variant] = rows
                while len(self._rows) > self.variants:
                    self._rows.popitem(last=False)
        return seq, rows

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows) + len(self._pages)

    def clear(self) -> None:
        with self._lock:
            self.seq = None
            self._records = None
            self._rows.clear()
            self._pages.clear()

    def sizes(self) -> dict[str, Any]:
        """What is held: the seq, the variants and the pages (tests, ``/healthz``-style checks)."""
        with self._lock:
            return {"seq": self.seq, "records": len(self._records or ()), "variants": list(self._rows), "pages": list(self._pages)}

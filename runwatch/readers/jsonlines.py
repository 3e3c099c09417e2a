"""A JSON-lines file read incrementally (MMEngine's ``vis_data/scalars.json``: one object per line).

Like ``csvmetrics.CsvTail``: the records read so far and the byte offset of the last complete
line are kept, so an unchanged file costs nothing and an appended one is read from the offset;
a file that shrank (rewritten) is read again from the start. A half-written last line is left
for the next call; a line that is not a JSON object is skipped and counted. Opened through the
checked opener (a FIFO or a device is refused), and bounded in size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from runwatch.readers.safe_open import open_regular

MAX_JSONL_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024


@dataclass
class JsonLinesTail:
    """The JSON objects of one JSON-lines file read so far."""

    path: str
    records: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    skipped: int = 0
    problem: str | None = None

    def read(self) -> list[dict[str, Any]]:
        """The records now in the file, reading only what was appended since the last call."""
        self.problem = None
        try:
            with open_regular(self.path, MAX_JSONL_BYTES) as f:
                size = os.fstat(f.fileno()).st_size
                if size < self.offset:
                    self.records, self.offset, self.skipped = [], 0, 0
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
        except FileNotFoundError:
            self.records, self.offset, self.skipped = [], 0, 0
            self.problem = f"{self.path}: missing"
            return self.records
        except OSError as e:
            self.problem = f"{self.path}: cannot read ({e.strerror or e})"
            return self.records
        end = chunk.rfind(b"\n")
        if end < 0:
            return self.records
        self.offset += end + 1
        for line in chunk[: end + 1].splitlines():
            if not line.strip():
                continue
            if len(line) > MAX_LINE_BYTES:
                self.skipped += 1
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, dict):
                self.records.append(value)
            else:
                self.skipped += 1
        if self.skipped:
            self.problem = f"{self.path}: {self.skipped} line(s) not a JSON object, skipped"
        return self.records

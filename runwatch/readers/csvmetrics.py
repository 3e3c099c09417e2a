"""Lightning's ``metrics.csv`` (CSVLogger), read incrementally.

CSVLogger appends rows at each flush and rewrites the whole file (new header) when
a new metric name appears. A ``CsvTail`` keeps the rows read so far and the byte
offset of the last complete line: an unchanged file costs nothing, an appended one
is read from the offset, and a rewritten one (smaller, or a different header) is read
again from the start. A half-written last line is left for the next call.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from typing import Any

MAX_CSV_BYTES = 256 * 1024 * 1024


def _value(text: str) -> Any:
    if text == "":
        return None
    try:
        v = float(text)
    except ValueError:
        return text
    if math.isfinite(v) and v.is_integer() and "." not in text and "e" not in text.lower():
        return int(v)
    return v


@dataclass
class CsvTail:
    """The rows of one metrics.csv read so far (dicts of column -> number, empty cells left out)."""

    path: str
    header: list[str] | None = None
    header_line: bytes = b""
    rows: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    problem: str | None = None

    def read(self) -> list[dict[str, Any]]:
        """The rows now in the file, reading only what was appended since the last call."""
        self.problem = None
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_CSV_BYTES:
                    self.problem = f"{self.path}: larger than {MAX_CSV_BYTES} bytes, not parsed"
                    return self.rows
                first = f.readline()
                if size < self.offset or first != self.header_line:
                    self.header, self.header_line, self.rows, self.offset = None, b"", [], 0
                if self.header is None:
                    if not first.endswith(b"\n"):
                        return self.rows  # header still being written
                    self.header = next(csv.reader([first.decode("utf-8", "replace")]), [])
                    self.header_line = first
                    self.offset = len(first)
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
        except FileNotFoundError:
            self.problem = f"{self.path}: missing"
            self.header, self.header_line, self.rows, self.offset = None, b"", [], 0
            return self.rows
        except OSError as e:
            self.problem = f"{self.path}: cannot read ({e.strerror or e})"
            return self.rows
        end = chunk.rfind(b"\n")
        if end < 0:
            return self.rows
        complete = chunk[: end + 1]
        self.offset += len(complete)
        header = self.header
        for cells in csv.reader(io.StringIO(complete.decode("utf-8", "replace"))):
            if not cells:
                continue
            row = {k: v for k, c in zip(header, cells) if (v := _value(c)) is not None}
            self.rows.append(row)
        return self.rows

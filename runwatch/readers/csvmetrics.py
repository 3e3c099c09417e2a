"""Lightning's ``metrics.csv`` (CSVLogger), read incrementally.

CSVLogger appends rows at each flush and rewrites the whole file (new header) when
a new metric name appears. A ``CsvTail`` keeps the rows read so far and the byte
offset of the last complete line: an unchanged file costs nothing, an appended one
is read from the offset, and a rewritten one (smaller, or a different header) is read
again from the start. A half-written last line is left for the next call.

Bounded: the file is opened through the checked opener; a header of more than
``MAX_COLUMNS`` columns, a line longer than ``MAX_ROW_BYTES`` and rows past ``MAX_ROWS``
are not parsed (a problem naming the file says so), so a crafted 2,000,000-column file
costs a count of commas, not a parse.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from typing import Any

from runwatch.readers.safe_open import LIMITS, open_regular

MAX_CSV_BYTES = LIMITS["csv"]
# CSVLogger writes one column per logged metric: hundreds at most.
MAX_COLUMNS = 10_000
# One row of MAX_COLUMNS numbers is ~250 KB.
MAX_ROW_BYTES = 1024 * 1024
# A row per logging step (every 50 steps by default): 200,000 rows is 10 million steps.
MAX_ROWS = 200_000


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
            with open_regular(self.path) as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_CSV_BYTES:
                    self.problem = f"{self.path}: larger than {MAX_CSV_BYTES} bytes, not parsed"
                    return self.rows
                first = f.readline(MAX_ROW_BYTES + 1)
                if size < self.offset or first != self.header_line:
                    self.header, self.header_line, self.rows, self.offset = None, b"", [], 0
                if self.header is None:
                    if len(first) > MAX_ROW_BYTES or first.count(b",") >= MAX_COLUMNS:
                        self.problem = f"{self.path}: header wider than {MAX_COLUMNS:,} columns or {MAX_ROW_BYTES:,} bytes; not parsed"
                        return self.rows
                    if not first.endswith(b"\n"):
                        return self.rows  # header still being written
                    try:
                        self.header = next(csv.reader([first.decode("utf-8", "replace")]), [])
                    except csv.Error as e:  # a stray carriage return, a NUL byte
                        self.problem = f"{self.path}: malformed CSV header ({e}); not parsed"
                        return self.rows
                    self.header_line = first
                    self.offset = len(first)
                if len(self.rows) >= MAX_ROWS:
                    self.problem = f"{self.path}: more than {MAX_ROWS:,} rows; the rest not parsed"
                    return self.rows
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
        width = len(header)
        lines = complete.split(b"\n")
        long = sum(1 for line in lines if len(line) > MAX_ROW_BYTES)
        if long:
            self.problem = f"{self.path}: {long} line(s) longer than {MAX_ROW_BYTES:,} bytes; not parsed"
            lines = [line for line in lines if len(line) <= MAX_ROW_BYTES]
        room = MAX_ROWS - len(self.rows)
        if len(lines) > room + 1:
            self.problem = f"{self.path}: more than {MAX_ROWS:,} rows; the rest not parsed"
            lines = lines[: room + 1]
        try:
            for cells in csv.reader(io.StringIO(b"\n".join(lines).decode("utf-8", "replace"))):
                if not cells:
                    continue
                if len(cells) > width:
                    del cells[width:]  # cells past the header's columns have no name
                row = {k: v for k, c in zip(header, cells) if (v := _value(c)) is not None}
                self.rows.append(row)
        except csv.Error as e:  # a field over csv's own limit, a NUL byte...
            self.problem = f"{self.path}: malformed CSV ({e}); rows after it not parsed"
        return self.rows

"""Chunks of one list taken in turn by forked processes: each chunk by exactly one, whoever is free first.

A fixed share per process leaves one of them idle at the end whenever they go at different
speeds (another program on the machine, a share of longer runs, a process that also decides
the others' runs): a cold scan on two cores kept both busy only 87-94 % of its time, the
first process done waiting for the other. Here the chunks' numbers wait in a pipe made before
the fork; a process takes the next one by reading 4 bytes (the kernel hands each read of a
pipe out whole, under its lock: no two readers get the same number), and a pipe left empty
means every chunk is taken. Nothing to lock and nothing to clean up when a process dies: the
chunks it took and never finished are its caller's to redo.
"""

from __future__ import annotations

import os
import struct

_NUMBER = struct.Struct("<I")
# The pipe holds every number from the start (its writer closes before anyone reads), within one page
# (the least a Linux pipe holds, even past the user's pipe-buffer limits): more items make bigger chunks.
MAX_CHUNKS = 1024

__all__ = ["Claims"]


class Claims:
    """The chunks of ``range(n)``, ``chunk`` items each (the last one shorter), for ``take`` to hand out.

    Made before the fork: the processes forked after it share its pipe. ``close`` in each when done.
    Raises OSError when no pipe can be made (out of descriptors): the caller does not fork then.
    """

    def __init__(self, n: int, chunk: int) -> None:
        self.n = n
        self.chunk = max(chunk, 1, -(-n // MAX_CHUNKS))
        count = -(-n // self.chunk)
        r, w = os.pipe()
        try:
            data = b"".join(_NUMBER.pack(i) for i in range(count))
            os.set_blocking(w, False)  # (a pipe that cannot hold them all raises here, never hangs)
            if os.write(w, data) != len(data):
                raise OSError("a pipe too small for the chunks' numbers")
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        self._fd = r

    def take(self) -> range | None:
        """The next chunk's items, or None when every chunk was taken (or this end is closed)."""
        if self._fd < 0:
            return None
        try:
            b = os.read(self._fd, _NUMBER.size)
        except OSError:
            return None
        if len(b) != _NUMBER.size:
            return None  # empty: its only writer closed long ago, so an empty pipe reads as its end
        (i,) = _NUMBER.unpack(b)
        start = i * self.chunk
        return range(start, min(start + self.chunk, self.n))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

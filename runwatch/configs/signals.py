"""Control-flow signals of the interpreter and its two markers (not a value, not decided)."""

from __future__ import annotations


class _Missing:
    pass


MISSING = _Missing()
UNDECIDED = object()  # truthiness / comparison that cannot be decided


class Break(Exception):
    pass


class Continue(Exception):
    pass


class Stop(Exception):
    """A statement that would end the module (``raise``, ``sys.exit``) was reached."""


class Indeterminate(Exception):
    """Control flow inside a loop depends on an unknown; the loop is poisoned as a whole."""


class Raised(Exception):
    """Inside a ``try`` body, a statement raised a Python exception (``exc``): the handlers decide."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc

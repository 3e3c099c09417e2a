"""Torture suite plumbing: the ``--soak`` switch, example budgets, and the figures tally.

CI runs every torture test with small budgets (the whole suite in well under three
minutes on two cores); ``--soak`` (or ``RUNWATCH_SOAK=1``) multiplies the budgets so
the same tests run long enough to catch rare interleavings. The tally is printed at
the end of the session so docs/RELIABILITY.md can quote real numbers.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

FIGURES: Counter[str] = Counter()


def is_soak(config: pytest.Config) -> bool:
    return bool(config.getoption("--soak", default=False)) or os.environ.get("RUNWATCH_SOAK") == "1"


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> bool:
    return is_soak(request.config)


@pytest.fixture(scope="session")
def budget(soak: bool):
    """``budget(ci, soak)``: the number (iterations, seconds, examples) for this mode."""

    def pick(ci: float, long: float) -> float:
        return long if soak else ci

    return pick


@pytest.fixture(scope="session")
def tally():
    """Count cases tried, faults injected and failures seen, for the session summary."""
    return FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if FIGURES:
        mode = "soak" if is_soak(config) else "ci"
        items = ", ".join(f"{k}={v}" for k, v in sorted(FIGURES.items()))
        terminalreporter.write_line(f"runwatch torture figures ({mode}): {items}")


_SOAK = os.environ.get("RUNWATCH_SOAK") == "1"


def pytest_configure(config: pytest.Config) -> None:
    global _SOAK
    _SOAK = is_soak(config)


def examples(ci: int, long: int) -> int:
    """Hypothesis example budget, decided when test modules are imported (after configure)."""
    return long if _SOAK else ci

"""Shared fixtures: generated Pylon trees with known answers."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from runwatch.testing import generate_tree  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered here (the root conftest) so `pytest --soak` works from the repo root too.
    parser.addoption("--soak", action="store_true", default=False, help="run the torture suite with long budgets")


@pytest.fixture
def tree(tmp_path):
    """A small project with every scenario (trainers, evaluators, a multi-stage run)."""
    return generate_tree(str(tmp_path / "proj"), n_runs=26, seed=1)


@pytest.fixture(scope="session")
def big_tree(tmp_path_factory):
    return generate_tree(str(tmp_path_factory.mktemp("big") / "proj"), n_runs=300, seed=7, max_epochs=12)

"""Shared fixtures: generated Pylon trees with known answers."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from runwatch.testing import generate_tree  # noqa: E402


# Files of the slow tier as a whole: real processes that train, crash and are killed, real framework runs,
# the CLI in tmux, the torture suite. `.ci/run` runs them; the fast tier for development
# (`pytest -m "not slow and not browser and not ssh and not slurm"`) leaves them out.
SLOW_FILES = frozenset(
    {
        "test_notify_e2e.py",
        "test_status_real.py",
        "test_layouts_real.py",
        "test_cli_terminal.py",
        "test_demo.py",
        "test_hub_prometheus.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_FILES or "torture" in item.path.parts:
            item.add_marker(pytest.mark.slow)


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

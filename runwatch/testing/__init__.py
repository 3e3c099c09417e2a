"""Builders of realistic Pylon-style trees with known answers (tests, demo, benchmarks)."""

from runwatch.testing.generator import ExpectedRun, GeneratedTree, generate_tree, write_project_sources

__all__ = ["ExpectedRun", "GeneratedTree", "generate_tree", "write_project_sources"]

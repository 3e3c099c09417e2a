"""Comparing runs: overlaid curves, hyperparameters and per-datapoint score maps.

The documents every surface shows of a comparison (``runwatch compare --json``, the
``/api/compare/...`` endpoints and the page's compare panel) are built by
``runwatch.compare.views`` from ``CompareRun`` values (``runwatch.compare.runs``), so
the terminal, the REST API and the page give one answer. Per-datapoint scores are read
only when asked for, once, into a compact columnar cache (``runwatch.compare.cache``).
See docs/compare.md.
"""

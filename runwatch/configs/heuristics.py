"""The last-resort guess of metric directions from score key names.

Used only when neither the project's sources nor its settings file give a metric's
``DIRECTIONS``. It is deliberately narrow: a key gets a direction only when one of its
name tokens is in a list below; every other key gets none and is therefore ignored by
comparisons (as keys without a direction are in Pylon). Callers must surface that the
result is a guess (``directions_source == "heuristic"`` plus a warning).
"""

from __future__ import annotations

import re
from typing import Any

# Tokens naming quantities where lower is better.
LOWER_IS_BETTER = frozenset(
    {
        "loss",
        "error",
        "err",
        "distance",
        "dist",
        "mae",
        "mse",
        "rmse",
        "rmsle",
        "l1",
        "l2",
        "epe",
        "absrel",
        "sqrel",
        "nll",
        "perplexity",
        "ppl",
        "chamfer",
        "fid",
        "wer",
        "cer",
        "hausdorff",
    }
)
# Tokens naming quantities where higher is better.
HIGHER_IS_BETTER = frozenset(
    {
        "acc",
        "accuracy",
        "iou",
        "miou",
        "f1",
        "fscore",
        "precision",
        "recall",
        "ap",
        "map",
        "ar",
        "auc",
        "psnr",
        "ssim",
        "dice",
        "kappa",
        "r2",
    }
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def key_tokens(key: str) -> list[str]:
    """``mean_IoU`` -> ['mean', 'iou']; ``abs_rel`` -> ['abs', 'rel', 'absrel']; ``EPE`` -> ['epe']."""
    words: list[str] = []
    for chunk in _SPLIT.split(key):
        words.extend(w.lower() for w in _CAMEL.split(chunk) if w)
    joined = ["".join(words[i : i + 2]) for i in range(len(words) - 1)]
    return words + joined


def heuristic_direction(key: str) -> int | None:
    """-1, +1 or None for one score key; a key matching both lists gets None."""
    tokens = set(key_tokens(key))
    lower = bool(tokens & LOWER_IS_BETTER)
    higher = bool(tokens & HIGHER_IS_BETTER)
    if lower == higher:
        return None
    return -1 if lower else 1


def heuristic_directions(scores: dict[str, Any]) -> dict[str, Any]:
    """Directions for a nested ``aggregated`` score dict, only for keys the name lists match.

    Nested dicts are followed (``{"depth": {"l1": ..}}`` -> ``{"depth": {"l1": -1}}``); a nested
    dict whose parent key names the quantity (``{"loss": {"seg": ..}}``) inherits that direction.
    """
    return _walk(scores, None, 0)


def _walk(scores: dict[str, Any], inherited: int | None, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if depth > 20:
        return out
    for key, value in scores.items():
        if not isinstance(key, str):
            continue
        own = heuristic_direction(key)
        direction = own if own is not None else inherited
        if isinstance(value, dict):
            sub = _walk(value, direction, depth + 1)
            if sub:
                out[key] = sub
        elif direction is not None:
            out[key] = direction
    return out

from __future__ import annotations

from runwatch.configs import heuristic_directions
from runwatch.configs.heuristics import heuristic_direction, key_tokens


def test_tokens() -> None:
    assert key_tokens("mean_IoU")[:2] == ["mean", "iou"]
    assert "absrel" in key_tokens("abs_rel")
    assert key_tokens("EPE") == ["epe"]


def test_only_matching_keys_get_directions() -> None:
    scores = {
        "loss": 0.3,
        "mean_IoU": 0.7,
        "class_IoU": [0.9, 0.5],
        "epoch_time": 3.0,
        "count": 5,
        "depth": {"l1": 0.1, "rmse": 0.2, "delta1": 0.9},
        "total_loss": {"seg": 0.1, "acc": 0.5},
        "EPE": 1.2,
        "accuracy": 0.9,
        "RR": 0.4,
    }
    assert heuristic_directions(scores) == {
        "loss": -1,
        "mean_IoU": 1,
        "class_IoU": 1,
        "depth": {"l1": -1, "rmse": -1},
        "total_loss": {"seg": -1, "acc": 1},
        "EPE": -1,
        "accuracy": 1,
    }


def test_ambiguous_key_gets_none() -> None:
    assert heuristic_direction("loss_accuracy") is None
    assert heuristic_direction("unrelated") is None

class SimMetric:
    DIRECTIONS = {"acc": 1, "loss": -1}

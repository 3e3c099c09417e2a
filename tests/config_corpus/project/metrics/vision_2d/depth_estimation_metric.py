from metrics.base_metric import SingleTaskMetric

_LOWER = -1


class DepthEstimationMetric(SingleTaskMetric):
    DIRECTIONS = {"l1": _LOWER, "rmse": -1, "delta1": 1}


class SurfaceNormalMetric(SingleTaskMetric):
    DIRECTIONS = dict(angle_mean=-1, within_11_25=1)

import torch
from metrics.base_metric import SingleTaskMetric


class SemanticSegmentationMetric(SingleTaskMetric):
    DIRECTIONS = {
        'mean_IoU': 1,
        'accuracy': +1,
        'mean_precision': 1,
        'mean_recall': 1,
        'mean_f1': 1,
    }

    def __init__(self, num_classes):
        self.num_classes = num_classes


class LabelSmoothedSegmentationMetric(SemanticSegmentationMetric):
    """Inherits DIRECTIONS."""

from metrics.base_metric import SingleTaskMetric
from metrics.vision_2d.semantic_segmentation_metric import SemanticSegmentationMetric


class ChangeStarMetric(SingleTaskMetric):
    DIRECTIONS = {
        'change': SemanticSegmentationMetric.DIRECTIONS,
        'semantic_1': SemanticSegmentationMetric.DIRECTIONS,
        'semantic_2': SemanticSegmentationMetric.DIRECTIONS,
    }

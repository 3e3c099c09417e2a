import torch
from metrics.vision_2d import SemanticSegmentationMetric, ChangeStarMetric

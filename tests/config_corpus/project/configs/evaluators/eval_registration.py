import os
import torch
from runners.evaluators import Evaluator as BaseEvaluator
from runners.evaluators.base_evaluator import PointCloudRegistrationRunner
from metrics.vision_2d import SemanticSegmentationMetric
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': BaseEvaluator,
    'work_dir': './logs/evaluators/eval_registration',
    'eval_dataset': {'class': None, 'args': {}},
    'metric': {'class': SemanticSegmentationMetric, 'args': {'num_classes': 2}},
}
other = {'runner': PointCloudRegistrationRunner}

import copy
import os
import torch
from runners.trainers import SupervisedSingleTaskTrainer, BufferTrainer
from metrics.vision_2d import SemanticSegmentationMetric
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

stage_1 = {
    'runner': SupervisedSingleTaskTrainer,
    'epochs': 10,
    'work_dir': './logs/multi_stage/two_stage',
    'metric': {'class': SemanticSegmentationMetric, 'args': {'num_classes': 2}},
}
stage_2 = copy.deepcopy(stage_1)
stage_2['runner'] = BufferTrainer
stage_2['epochs'] = 20
stage_2['early_stopping'] = {'class': None, 'args': {'enabled': True, 'epochs': 4}}

config = [stage_1, stage_2]

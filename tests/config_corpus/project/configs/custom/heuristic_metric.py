import os
import torch
from somewhere_else.metrics import UnlistedMetric
from runners.trainers import SupervisedSingleTaskTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': SupervisedSingleTaskTrainer,
    'epochs': 3,
    'metric': {'class': UnlistedMetric, 'args': {}},
}

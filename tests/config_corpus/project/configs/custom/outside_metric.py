# Metric classes from outside the project: settings file directions, then the name heuristic.
import os
import torch
import functools
from somewhere_else.metrics import OutsideMetric, UnlistedMetric
from runners.trainers import SupervisedSingleTaskTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': SupervisedSingleTaskTrainer,
    'epochs': 3,
    'metric': {'class': OutsideMetric, 'args': {}},
    'scheduler': functools.partial(torch.optim.lr_scheduler.StepLR, step_size=10),
}
config_b = copy_of = dict(config)
config_b['metric'] = {'class': UnlistedMetric, 'args': {}}

import os
import torch
from runners.trainers import MultiValDatasetTrainer
from metrics.vision_2d import ChangeStarMetric
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': MultiValDatasetTrainer,
    'work_dir': './logs/benchmarks/cd/package_reexport',
    'epochs': 50,
    'metric': {'class': ChangeStarMetric, 'args': {}},
    'early_stopping': {'class': None, 'args': {'enabled': True, 'epochs': 5}},
    'val_datasets': ({'split': 'val'}, {'split': 'test'}),
}

import os
import torch
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': None,
    'work_dir': None,
    'epochs': None,
    'init_seed': None,
    'train_seeds': None,
    'optimizer': {'class': torch.optim.SGD, 'args': {'lr': 1.0e-03, 'momentum': 0.9}},
    'early_stopping': {'class': None, 'args': {'enabled': False, 'epochs': 10}},
}

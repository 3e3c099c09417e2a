import os
import torch
from configs.does_not_exist.anywhere import config as base_config
from runners.trainers import SupervisedSingleTaskTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {'runner': SupervisedSingleTaskTrainer, 'epochs': base_config['epochs']}
config.update(base_config)
config['work_dir'] = compute_work_dir()

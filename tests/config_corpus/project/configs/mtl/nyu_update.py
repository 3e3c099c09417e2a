# Cross-file update chain: a dataset config read recursively, then module-level mutation.
import copy
import os
import torch
import optimizers
from runners.trainers import SupervisedMultiTaskTrainer
from configs.common.datasets.multi_task_learning.nyu_v2_f import config as dataset_config
from configs.common.templates import base_trainer_template
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = copy.deepcopy(base_trainer_template.config)
config.update(dataset_config)
config['runner'] = SupervisedMultiTaskTrainer
config['init_seed'] = 58978059
config['train_seeds'] = [58978059 + i for i in range(100)]
config['work_dir'] = './logs/mtl/nyu_update'

optimizer_config = copy.deepcopy(config['optimizer'])
optimizer_config['args']['per_layer'] = False
config['optimizer'] = {'class': optimizers.PCGradOptimizer, 'args': {'optimizer_config': optimizer_config}}
config['train_dataloader']['args']['batch_size'] = 8
config['early_stopping'] = {'class': None, 'args': {'enabled': True, 'epochs': 15}}
config['epochs'] += 20

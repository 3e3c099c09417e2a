import os
import torch
from runners.multi_stage_trainer import MultiStageTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {'runner': MultiStageTrainer, 'epochs': 30, 'stages': [{'epochs': 10}, {'epochs': 20}]}

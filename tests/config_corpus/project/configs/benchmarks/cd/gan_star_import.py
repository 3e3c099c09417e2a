import os
import torch
from runners.trainers import CSA_CDGAN_Trainer
from runners.trainers.custom_runner import CustomRunner
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': CSA_CDGAN_Trainer,
    'epochs': 200,
    'work_dir': f"./logs/benchmarks/cd/{'gan_star_import'}",
}
second = dict(config, runner=CustomRunner)

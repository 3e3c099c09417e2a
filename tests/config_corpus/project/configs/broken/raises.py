import os
from runners.trainers import SupervisedSingleTaskTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {'runner': SupervisedSingleTaskTrainer, 'epochs': 4}
raise RuntimeError("this config refuses to be imported")
config['epochs'] = 999

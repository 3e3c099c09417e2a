import os
from configs.cycles.a import config as a_config
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {'epochs': 7, 'other': a_config}

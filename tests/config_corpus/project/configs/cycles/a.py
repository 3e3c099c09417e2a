import os
from configs.cycles.b import config as b_config
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {'runner': None, 'epochs': b_config['epochs']}

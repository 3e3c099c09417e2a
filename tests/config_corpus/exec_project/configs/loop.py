import functools
import os

from runners import LoopTrainer, RatioMetric

# Proves where it ran: a file named after the executing process id.
open(os.path.join(os.environ["RUNWATCH_MARKER_DIR"], f"pid-{os.getpid()}"), "w").close()


def epochs_for(stage):
    return 10 * (stage + 1)


config = []
for i in range(3):
    config.append({
        "runner": LoopTrainer,
        "epochs": epochs_for(i),
        "metric": {"class": RatioMetric, "args": {}},
        "scheduler": functools.partial(sorted, reverse=True),
        "work_dir": f"./logs/loop",
    })

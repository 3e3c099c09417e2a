"""Real Ultralytics YOLO detection runs on the CPU (``yolov8n.yaml``, no weights), for the layout tests.

usage: yolo_run.py PROJECT MODE [MODE...] [project=P name=N]   (MODE: complete | early | hold | crash)
``key=value`` arguments are ignored (they put ``project=`` / ``name=`` on the command line, as ``yolo train``
has them). Each mode trains ``PROJECT/<mode>`` on a few generated images (made once in PROJECT/data):
``complete``: 3 epochs, done. ``early``: 12 epochs with ``patience=2``; a from-scratch model on four images
scores 0 and Ultralytics never stops on zero fitness, so its EarlyStopping starts from a best fitness of 1.0
(as a resumed run's would) and ends training after two epochs without reaching it. ``hold``: 5 epochs,
pauses after epoch 2 (its ``last.pt`` saved) until PROJECT/hold.release exists. ``crash``: raises at
the end of epoch 2. Offline: ``YOLO_OFFLINE=1``, ``plots=False``, ``amp=False`` (no AMP-check weights),
settings under ``YOLO_CONFIG_DIR``; torchvision's operators through ``torchvision_standin``.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_standin import import_torchvision

import_torchvision()
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

project, modes = os.path.abspath(sys.argv[1]), [a for a in sys.argv[2:] if "=" not in a]


def dataset(root):
    """Four generated images (a red square each) for train and val, made once: in a private folder renamed into place."""
    data = os.path.join(root, "data")
    yaml_path = os.path.join(data, "data.yaml")
    if os.path.exists(yaml_path):
        return yaml_path
    tmp = f"{data}.tmp{os.getpid()}"
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        os.makedirs(os.path.join(tmp, "images", split), exist_ok=True)
        os.makedirs(os.path.join(tmp, "labels", split), exist_ok=True)
        for i in range(4):
            img = np.full((64, 64, 3), 30, np.uint8)
            x, y = rng.integers(8, 40, 2)
            img[y : y + 16, x : x + 16] = (220, 40, 40)
            Image.fromarray(img).save(os.path.join(tmp, "images", split, f"{i}.jpg"))
            with open(os.path.join(tmp, "labels", split, f"{i}.txt"), "w") as f:
                f.write(f"0 {(x + 8) / 64:.4f} {(y + 8) / 64:.4f} 0.25 0.25\n")
    with open(os.path.join(tmp, "data.yaml"), "w") as f:
        f.write(f"path: {data}\ntrain: images/train\nval: images/val\nnames:\n  0: square\n")
    try:
        os.rename(tmp, data)
    except OSError:  # another writer made it first
        import shutil

        shutil.rmtree(tmp)
    return yaml_path


from ultralytics import YOLO  # noqa: E402

data = dataset(project)
common = dict(data=data, imgsz=64, batch=4, workers=0, device="cpu", plots=False, amp=False, project=project, exist_ok=True, verbose=False, seed=0)
for mode in modes:
    model = YOLO("yolov8n.yaml")
    kw = dict(epochs=3)
    if mode == "early":
        kw = dict(epochs=12, patience=2)

        def seed_stopper(trainer):
            trainer.stopper.best_fitness = 1.0

        model.add_callback("on_pretrain_routine_end", seed_stopper)
    elif mode == "hold":
        kw = dict(epochs=5)

        def hold(trainer):
            if trainer.epoch == 1:
                open(os.path.join(project, "hold.held"), "w").close()
                while not os.path.exists(os.path.join(project, "hold.release")):
                    time.sleep(0.05)

        model.add_callback("on_model_save", hold)
    elif mode == "crash":

        def crash(trainer):
            if trainer.epoch == 1:
                raise RuntimeError("boom: the data loader broke")

        model.add_callback("on_fit_epoch_end", crash)
    model.train(name=mode, **common, **kw)

"""Real MMEngine runs on the CPU (a toy model on random tensors), for the layout tests.

usage: mmengine_run.py ROOT MODE [MODE...] [--work-dir W]  (``--work-dir``: tools/train.py's flag, ignored here)
Each mode writes ``ROOT/configs/toy_<mode>.py`` and runs ``Runner.from_cfg(Config.fromfile(it))`` with
``work_dir = ROOT/work_dirs/toy_<mode>``, which is what MMDetection's ``tools/train.py`` does:
``complete``: EpochBasedTrainLoop, 3 epochs, validation each epoch, ``save_best='acc'``. ``iters``:
IterBasedTrainLoop, ``max_iters=12``, validation every 4 iterations. ``early``: 20 epochs with
``EarlyStoppingHook(monitor='acc', patience=2)`` and a frozen model (lr 0), so it stops. ``hold``: 5
epochs, pauses after epoch 2 until ROOT/hold.release exists. ``crash``: raises in epoch 3. ``pyargs``: a
Runner built from Python arguments (no config file): it dumps an empty config, 3 epochs. ``pyiters``: the
same with an IterBasedTrainLoop of 12 iterations, a checkpoint every 4. ``pyhold``: ``pyargs`` for 5 epochs,
paused after epoch 2 until ROOT/pyhold.release exists (CheckpointHook ``interval=3``: no checkpoint yet).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_standin import import_torchvision

import_torchvision()  # MMEngine's runner imports torchvision where it is installed
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.evaluator import BaseMetric  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

argv = sys.argv[1:]
if "--work-dir" in argv:
    del argv[argv.index("--work-dir") : argv.index("--work-dir") + 2]
root, modes = os.path.abspath(argv[0]), argv[1:]


@MODELS.register_module()
class ToyNet(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)

    def forward(self, inputs, labels, mode="tensor"):
        out = self.lin(inputs)
        if mode == "loss":
            return {"loss": torch.nn.functional.cross_entropy(out, labels)}
        if mode == "predict":
            return list(zip(out.argmax(1).tolist(), labels.tolist()))
        return out


@DATASETS.register_module()
class ToyData(Dataset):
    def __init__(self, n=16, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = (self.x[:, 0] > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


@METRICS.register_module()
class ToyAcc(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results.extend(int(p == t) for p, t in data_samples)

    def compute_metrics(self, results):
        return dict(acc=sum(results) / max(1, len(results)))


@HOOKS.register_module()
class Pause(Hook):
    def __init__(self, at=-1, crash_at=-1, flag=""):
        self.at, self.crash_at, self.flag = at, crash_at, flag

    def after_train_epoch(self, runner):
        if runner.epoch == self.at:  # runner.epoch is already the count of finished epochs here
            open(self.flag + ".held", "w").close()
            while not os.path.exists(self.flag + ".release"):
                time.sleep(0.05)

    def before_train_epoch(self, runner):
        if runner.epoch == self.crash_at:
            raise RuntimeError("boom: the toy loader broke")


LOADER = "dict(dataset=dict(type='ToyData', seed={seed}), sampler=dict(type='DefaultSampler', shuffle={shuffle}), batch_size=4, collate_fn=dict(type='default_collate'))"
BASE = f"""model = dict(type='ToyNet')
train_dataloader = {LOADER.format(seed=0, shuffle=True)}
val_dataloader = {LOADER.format(seed=1, shuffle=False)}
val_evaluator = dict(type='ToyAcc')
val_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='SGD', lr={{lr}}))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, save_best='acc', rule='greater'), logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
"""


def config(mode):
    lr, epochs, extra = 0.1, 3, ""
    if mode == "iters":
        extra = "train_cfg = dict(type='IterBasedTrainLoop', max_iters=12, val_interval=4)\n"
        extra += "default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False, save_best='acc', rule='greater'), logger=dict(type='LoggerHook', interval=1))\n"
    else:
        epochs = {"early": 20, "hold": 5}.get(mode, 3)
        if mode == "early":
            lr = 0.0
            extra = "custom_hooks = [dict(type='EarlyStoppingHook', monitor='acc', patience=2, rule='greater')]\n"
        elif mode == "hold":
            extra = f"custom_hooks = [dict(type='Pause', at=2, flag='{root}/hold')]\n"
        elif mode == "crash":
            extra = "custom_hooks = [dict(type='Pause', crash_at=2)]\n"
        extra = f"train_cfg = dict(by_epoch=True, max_epochs={epochs}, val_interval=1)\n" + extra
    text = BASE.format(lr=lr) + extra
    os.makedirs(os.path.join(root, "configs"), exist_ok=True)
    path = os.path.join(root, "configs", f"toy_{mode}.py")
    with open(path, "w") as f:
        f.write(text)
    cfg = Config.fromfile(path)
    cfg.work_dir = os.path.join(root, "work_dirs", f"toy_{mode}")
    return cfg


for mode in modes:
    if mode in ("pyargs", "pyiters", "pyhold"):
        loop = dict(by_epoch=True, max_epochs=5 if mode == "pyhold" else 3, val_interval=1)
        checkpoint = dict(type="CheckpointHook", interval=3 if mode == "pyhold" else 1)
        if mode == "pyiters":
            loop = dict(type="IterBasedTrainLoop", max_iters=12, val_interval=4)
            checkpoint = dict(type="CheckpointHook", interval=4, by_epoch=False)
        runner = Runner(
            model=ToyNet(),
            work_dir=os.path.join(root, "work_dirs", f"toy_{mode}"),
            experiment_name=f"toy_{mode}",  # its logger and visualizer: two Runners started in one second share a timestamp
            train_dataloader=dict(
                dataset=dict(type="ToyData"), sampler=dict(type="DefaultSampler", shuffle=True), batch_size=4, collate_fn=dict(type="default_collate")
            ),
            val_dataloader=dict(
                dataset=dict(type="ToyData", seed=1), sampler=dict(type="DefaultSampler", shuffle=False), batch_size=4, collate_fn=dict(type="default_collate")
            ),
            val_evaluator=dict(type="ToyAcc"),
            val_cfg=dict(),
            optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
            train_cfg=loop,
            default_hooks=dict(checkpoint=checkpoint),
            custom_hooks=[dict(type="Pause", at=2, flag=f"{root}/pyhold")] if mode == "pyhold" else None,
        )
    else:
        runner = Runner.from_cfg(config(mode))
    runner.train()

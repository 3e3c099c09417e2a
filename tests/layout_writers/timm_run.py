"""Real timm training runs on the CPU, written the way timm's ``train.py`` writes its output folder.

timm's ``train.py`` is not in the timm package, so this drives timm as it does: ``args.yaml`` dumped from
the arguments, ``timm.utils.update_summary`` appending ``summary.csv`` after each epoch and
``timm.utils.CheckpointSaver`` writing ``last.pth.tar`` / ``checkpoint-<epoch>.pth.tar`` /
``model_best.pth.tar``, into ``<output>/<date>-<model>-<size>`` (``get_outdir``), on a generated image folder
(``timm.data.create_dataset`` + ``create_loader``) and the tiny ``test_resnet`` model.

usage: timm_run.py OUTPUT MODE [MODE...] [--output O --experiment E]   (MODE: complete | loss | hold | crash)
``complete``: 3 epochs, eval_metric top1. ``loss``: 2 epochs + 1 cooldown epoch, eval_metric loss (lower is
better). ``hold``: 5 epochs, pauses after epoch 2 until OUTPUT/hold.release exists. ``crash``: raises during
epoch 3. With ``--experiment E`` (train.py's flag) the folder is ``OUTPUT/E``. Each run's folder is also linked from OUTPUT/<mode>.path (a text file holding the folder).
"""

import argparse
import os
import sys
import time
from collections import OrderedDict
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_standin import import_torchvision

import_torchvision()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402

import timm  # noqa: E402
from timm import utils  # noqa: E402
from timm.data import create_dataset, create_loader, resolve_data_config  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402
from timm.scheduler import create_scheduler_v2  # noqa: E402

argv = sys.argv[1:]
experiment = argv[argv.index("--experiment") + 1] if "--experiment" in argv else None
flags = {i for i, a in enumerate(argv) if a.startswith("--")} | {i + 1 for i, a in enumerate(argv) if a.startswith("--")}
output, modes = os.path.abspath(argv[0]), [a for i, a in enumerate(argv[1:], 1) if i not in flags]


def image_folder(root):
    """Two classes of generated 32x32 images, made once: in a private folder renamed into place."""
    if os.path.isdir(root):
        return root
    tmp = f"{root}.tmp{os.getpid()}"
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, color in enumerate(((200, 30, 30), (30, 30, 200))):
            d = os.path.join(tmp, split, f"class{c}")
            os.makedirs(d, exist_ok=True)
            for i in range(6):
                img = (rng.normal(0, 20, (32, 32, 3)) + color).clip(0, 255).astype(np.uint8)
                Image.fromarray(img).save(os.path.join(d, f"{i}.png"))
    try:
        os.rename(tmp, root)
    except OSError:  # another writer made it first
        import shutil

        shutil.rmtree(tmp)
    return root


def run(mode):
    torch.manual_seed(0)
    epochs, cooldown, eval_metric = {"loss": (2, 1, "loss"), "hold": (5, 0, "top1")}.get(mode, (3, 0, "top1"))
    args = dict(
        model="test_resnet",
        data_dir=data,
        epochs=epochs,
        cooldown_epochs=cooldown,
        eval_metric=eval_metric,
        lr=0.05,
        batch_size=4,
        opt="sgd",
        sched="cosine",
        input_size=[3, 32, 32],
        checkpoint_hist=2,
        seed=0,
    )
    model = timm.create_model(args["model"], num_classes=2)
    data_config = resolve_data_config({"input_size": tuple(args["input_size"])}, model=model)
    train = create_loader(
        create_dataset("", root=os.path.join(data, "train")),
        input_size=data_config["input_size"],
        batch_size=4,
        is_training=True,
        num_workers=0,
        use_prefetcher=False,
        device=torch.device("cpu"),
    )
    val = create_loader(
        create_dataset("", root=os.path.join(data, "val")),
        input_size=data_config["input_size"],
        batch_size=4,
        num_workers=0,
        use_prefetcher=False,
        device=torch.device("cpu"),
    )
    optimizer = create_optimizer_v2(model, opt=args["opt"], lr=args["lr"])
    scheduler, num_epochs = create_scheduler_v2(optimizer, sched=args["sched"], num_epochs=epochs, cooldown_epochs=cooldown)
    exp_name = "-".join([datetime.now().strftime("%Y%m%d-%H%M%S"), timm.models.safe_model_name(args["model"]), str(data_config["input_size"][-1])])
    exp_name = experiment or exp_name + "-" + mode  # several runs start within the same second here
    output_dir = utils.get_outdir(output, exp_name)
    with open(os.path.join(output, f"{mode}.path"), "w") as f:
        f.write(output_dir)
    decreasing = eval_metric == "loss"
    saver = utils.CheckpointSaver(
        model=model,
        optimizer=optimizer,
        args=argparse.Namespace(**args),
        checkpoint_dir=output_dir,
        recovery_dir=output_dir,
        decreasing=decreasing,
        max_history=args["checkpoint_hist"],
    )
    with open(os.path.join(output_dir, "args.yaml"), "w") as f:
        f.write(yaml.safe_dump(args, default_flow_style=False))
    loss_fn = torch.nn.CrossEntropyLoss()
    best_metric = None
    for epoch in range(num_epochs):
        model.train()
        losses = utils.AverageMeter()
        for i, (x, y) in enumerate(train):
            if mode == "crash" and epoch == 2:
                raise RuntimeError("boom: a corrupt image in the batch")
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.update(loss.item(), x.size(0))
        train_metrics = OrderedDict([("loss", losses.avg)])
        model.eval()
        vl, t1, t5 = utils.AverageMeter(), utils.AverageMeter(), utils.AverageMeter()
        with torch.no_grad():
            for x, y in val:
                out = model(x)
                a1, a5 = utils.accuracy(out, y, topk=(1, 2))
                vl.update(loss_fn(out, y).item(), x.size(0))
                t1.update(a1.item(), x.size(0))
                t5.update(a5.item(), x.size(0))
        eval_metrics = OrderedDict([("loss", vl.avg), ("top1", t1.avg), ("top5", t5.avg)])
        lrs = [g["lr"] for g in optimizer.param_groups]
        utils.update_summary(
            epoch, train_metrics, eval_metrics, filename=os.path.join(output_dir, "summary.csv"), lr=sum(lrs) / len(lrs), write_header=best_metric is None
        )
        best_metric, best_epoch = saver.save_checkpoint(epoch, metric=eval_metrics[eval_metric])
        scheduler.step(epoch + 1, eval_metrics[eval_metric])
        if mode == "hold" and epoch == 1:
            open(os.path.join(output, "hold.held"), "w").close()
            while not os.path.exists(os.path.join(output, "hold.release")):
                time.sleep(0.05)
    print(f"*** Best metric: {best_metric} (epoch {best_epoch})")


data = image_folder(os.path.join(output, "data"))
for m in modes:
    run(m)

"""A real Hugging Face Trainer run on the CPU (tiny linear model, random tensors), for the layout tests.

usage: hf_run.py SAVE_DIR MODE [MODE...] [--output_dir SAVE_DIR/MODE]   (MODE: complete | early | hold); each writes SAVE_DIR/<mode>
``early`` adds EarlyStoppingCallback on a metric that stops improving; ``hold`` pauses after
the second save until SAVE_DIR/hold.release exists (the test reads the run meanwhile,
then kills it).
"""

import torchvision_standin  # noqa: F401 (before anything imports torchvision)
import os
import sys
import time

import torch
from torch import nn
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

save_dir = sys.argv[1]
# modes, then an optional ``--output_dir X`` that only shows on the command line (as an HfArgumentParser script's would)
modes = [a for i, a in enumerate(sys.argv[2:], 2) if not a.startswith("--") and not sys.argv[i - 1].startswith("--")]
torch.manual_seed(0)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, x, labels=None):
        pred = self.lin(x).squeeze(-1)
        loss = nn.functional.mse_loss(pred, labels)
        return {"loss": loss, "logits": pred}


class Data(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


class Hold(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        if state.global_step >= 2 * 4:
            release = os.path.join(save_dir, "hold.release")
            open(os.path.join(save_dir, "hold.held"), "w").close()
            while not os.path.exists(release):
                time.sleep(0.05)


def score(p):
    # "mae" stops improving from epoch 2 on in ``early`` mode (learning rate 0 after a step): a real plateau
    return {"mae": float(abs(p.predictions - p.label_ids).mean())}


for mode in modes:
    out = os.path.join(save_dir, mode)
    epochs = 20 if mode == "early" else 4
    args = TrainingArguments(
        output_dir=out,
        num_train_epochs=epochs,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=32,
        learning_rate=0.05 if mode != "early" else 1e-9,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_steps=1,
        report_to=["tensorboard"],
        metric_for_best_model="mae",
        greater_is_better=False,
        load_best_model_at_end=mode == "early",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    callbacks = []
    if mode == "early":
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=2))
    if mode == "hold":
        callbacks.append(Hold())
    trainer = Trainer(model=Tiny(), args=args, train_dataset=Data(32, 1), eval_dataset=Data(32, 2), compute_metrics=score, callbacks=callbacks)
    trainer.train()
    trainer.save_state()

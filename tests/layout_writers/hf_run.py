"""A real Hugging Face Trainer run on the CPU (tiny linear model, random tensors), for the layout tests.

usage: hf_run.py SAVE_DIR MODE [MODE...] [--output_dir SAVE_DIR/MODE]   (MODE: complete | early | hold | es_nosave | noname | none_hold);
each writes SAVE_DIR/<mode>. ``es_nosave``: EarlyStoppingCallback on an evaluation every epoch, a checkpoint
every other epoch, no save_state() at the end (a plain script). ``noname``: no metric_for_best_model.
``none_hold``: report_to="none", 8 epochs, pauses after the 3rd save until SAVE_DIR/none_hold.release exists.
``reuse1`` then ``reuse2``: two runs into one output_dir SAVE_DIR/reuse (4 epochs with save_model() and
save_state(), then 2 epochs with no metric named and nothing saved at the end).
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
    def __init__(self, name="hold", saves=2):
        self.name, self.saves = name, saves

    def on_save(self, args, state, control, **kw):
        if state.global_step >= self.saves * 4:
            release = os.path.join(save_dir, f"{self.name}.release")
            open(os.path.join(save_dir, f"{self.name}.held"), "w").close()
            while not os.path.exists(release):
                time.sleep(0.05)


def score(p):
    # "mae" stops improving from epoch 2 on in ``early`` mode (learning rate 0 after a step): a real plateau
    return {"mae": float(abs(p.predictions - p.label_ids).mean())}


for mode in modes:
    out = os.path.join(save_dir, "reuse" if mode.startswith("reuse") else mode)
    epochs = 20 if mode in ("early", "es_nosave") else 8 if mode == "none_hold" else 2 if mode == "reuse2" else 4
    save = dict(save_strategy="steps", save_steps=8) if mode == "es_nosave" else dict(save_strategy="epoch")
    metric = {} if mode in ("noname", "reuse2") else dict(metric_for_best_model="mae", greater_is_better=False)
    args = TrainingArguments(
        output_dir=out,
        num_train_epochs=epochs,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=32,
        learning_rate=1e-9 if mode in ("early", "es_nosave") else 0.05,
        eval_strategy="epoch",
        **save,
        logging_steps=1,
        report_to="none" if mode == "none_hold" else ["tensorboard"],
        **metric,
        load_best_model_at_end=mode == "early",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    callbacks = []
    if mode == "early":
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=2))
    if mode == "es_nosave":
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=2, early_stopping_threshold=0.001))
    if mode == "hold":
        callbacks.append(Hold())
    if mode == "none_hold":
        callbacks.append(Hold("none_hold", 3))
    trainer = Trainer(model=Tiny(), args=args, train_dataset=Data(32, 1), eval_dataset=Data(32, 2), compute_metrics=score, callbacks=callbacks)
    trainer.train()
    if mode not in ("es_nosave", "noname", "reuse2"):
        trainer.save_state()
    if mode == "reuse1":
        trainer.save_model()
        time.sleep(2.5)  # the second run starts later (its event file's name has whole seconds)

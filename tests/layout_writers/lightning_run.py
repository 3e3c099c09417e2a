"""Real PyTorch Lightning runs on the CPU (tiny linear model, random tensors), for the layout tests.

usage: lightning_run.py SAVE_DIR MODE [MODE...]   (MODE: cli | early | hold | tb | nemo)
``cli``: LightningCLI (writes config.yaml with trainer.max_epochs), CSVLogger, 4 epochs, done.
``early``: Trainer + CSVLogger + EarlyStopping(patience=2) on a plateau, ModelCheckpoint(save_last=True).
``tb``: Trainer with the default logger (TensorBoard), 3 epochs, done.
``plain``: ``Trainer(max_epochs=3)`` with every default (TensorBoard logger, a checkpoint per epoch).
``steps``: ``Trainer(max_steps=10)``, defaults otherwise. ``twice``: one process, two ``fit`` calls
(version_0, then version_1), defaults otherwise; pauses before the second until SAVE_DIR/twice.release exists.
``hold``: CSVLogger flushing every step (``flush_logs_every_n_steps=1``; the default 100 would leave
metrics.csv empty this early), 6 epochs, pauses after epoch 2 until SAVE_DIR/hold.release exists.
``csvkill``: CSVLogger only (every default: a row each 50th batch and at each validation end), 100 batches
an epoch, up to 50 epochs; stops in the middle of epoch 2 (SAVE_DIR/csvkill.held) until killed.
``csvlive``: CSVLogger only, a slow first epoch (a 40 s first batch, then 0.2 s a batch), a 45 s validation
without a row in epoch 1, 3 epochs, done. ``between`` / ``csvbetween``: ``Trainer(max_epochs=6)`` with every
default (TensorBoard logger) / with a CSVLogger only; stops as epoch 2 starts, after epoch 1's checkpoint
(SAVE_DIR/<mode>.held), until killed.
Each mode writes SAVE_DIR/<mode>/version_0, but ``nemo``: laid out as NeMo's exp_manager lays out its
runs, SAVE_DIR/nemo_experiments/megatron_tiny/<timestamp>/ (TensorBoardLogger with that version,
ModelCheckpoint under checkpoints/, exp_manager's cmd-args.log and nemo_log_globalrank-0_localrank-0.txt),
3 epochs.
"""

import torchvision_standin  # noqa: F401 (before anything imports torchvision)
import os
import sys
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger
from torch import nn

save_dir, modes = sys.argv[1], sys.argv[2:]


class Tiny(L.LightningModule):
    def __init__(self, lr: float = 0.05):
        super().__init__()
        self.save_hyperparameters()
        self.lin = nn.Linear(4, 1)

    def _loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.lin(x).squeeze(-1), y)

    def training_step(self, batch, i):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, i):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Data(L.LightningDataModule):
    def __init__(self, n: int = 32):
        super().__init__()
        self.n = n

    def _loader(self, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(self.n, 4, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)

    def train_dataloader(self):
        return self._loader(1)

    def val_dataloader(self):
        return self._loader(2)


class Hold(Callback):
    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 1:
            open(os.path.join(save_dir, "hold.held"), "w").close()
            while not os.path.exists(os.path.join(save_dir, "hold.release")):
                time.sleep(0.05)


class Sleepy(Tiny):
    """``csvlive``: a slow first epoch, a silent 45 s validation in epoch 1."""

    def training_step(self, batch, i):
        if self.current_epoch == 0:
            time.sleep(40.0 if i == 0 else 0.2)
        return super().training_step(batch, i)

    def validation_step(self, batch, i):
        if self.current_epoch == 1 and not self.trainer.sanity_checking:
            time.sleep(45.0 / 100)
        return super().validation_step(batch, i)


class Stop(Callback):
    """Stops (sleeps until killed) in the middle of epoch 2, or as epoch 2 starts (``at_start``)."""

    def __init__(self, mode: str, at_start: bool) -> None:
        self.mode, self.at_start = mode, at_start

    def _stop(self) -> None:
        open(os.path.join(save_dir, f"{self.mode}.held"), "w").close()
        time.sleep(3600)

    def on_train_epoch_start(self, trainer, module):
        if self.at_start and trainer.current_epoch == 2:
            self._stop()

    def on_train_batch_end(self, trainer, module, outputs, batch, i):
        if not self.at_start and trainer.current_epoch == 2 and i == 60:
            self._stop()


common = dict(accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
torch.manual_seed(0)
for mode in modes:
    if mode == "cli":
        cli = LightningCLI(
            Tiny,
            Data,
            run=False,
            save_config_kwargs={"overwrite": True},
            args=[
                "--trainer.max_epochs=4",
                "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
                f"--trainer.logger.save_dir={save_dir}",
                "--trainer.logger.name=cli",
                "--trainer.accelerator=cpu",
                "--trainer.devices=1",
                "--trainer.enable_progress_bar=false",
                "--trainer.log_every_n_steps=1",
            ],
        )
        cli.trainer.fit(cli.model, cli.datamodule)
    elif mode == "early":
        t = L.Trainer(
            max_epochs=30,
            logger=CSVLogger(save_dir, name="early"),
            callbacks=[EarlyStopping("val_loss", patience=2), ModelCheckpoint(monitor="val_loss", save_last=True)],
            **common,
        )
        t.fit(Tiny(lr=1e-9), Data())
    elif mode == "tb":
        from lightning.pytorch.loggers import TensorBoardLogger

        t = L.Trainer(max_epochs=3, logger=TensorBoardLogger(save_dir, name="tb"), **common)
        t.fit(Tiny(), Data())
    elif mode == "nemo":
        import datetime

        from lightning.pytorch.loggers import TensorBoardLogger

        version = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")  # exp_manager's default version
        log_dir = os.path.join(save_dir, "nemo_experiments", "megatron_tiny", version)
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "cmd-args.log"), "w") as f:
            f.write(" ".join(sys.argv))
        with open(os.path.join(log_dir, "nemo_log_globalrank-0_localrank-0.txt"), "w") as f:
            f.write("[NeMo I] Experiments will be logged at " + log_dir + "\n")
        logger = TensorBoardLogger(os.path.join(save_dir, "nemo_experiments"), name="megatron_tiny", version=version)
        ckpt = ModelCheckpoint(dirpath=os.path.join(log_dir, "checkpoints"), monitor="val_loss", save_last=True)
        t = L.Trainer(max_epochs=3, logger=logger, callbacks=[ckpt], **common)
        t.fit(Tiny(), Data())
    elif mode in ("plain", "steps", "twice"):
        plain = dict(accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False, default_root_dir=os.path.join(save_dir, mode))
        limit = dict(max_steps=10) if mode == "steps" else dict(max_epochs=3)
        L.Trainer(**limit, **plain).fit(Tiny(), Data())
        if mode == "twice":
            open(os.path.join(save_dir, "twice.held"), "w").close()
            while not os.path.exists(os.path.join(save_dir, "twice.release")):
                time.sleep(0.05)
            L.Trainer(max_epochs=2, **plain).fit(Tiny(), Data())
            open(os.path.join(save_dir, "twice.second_done"), "w").close()
            while not os.path.exists(os.path.join(save_dir, "twice.exit")):
                time.sleep(0.05)
    elif mode in ("csvkill", "csvlive", "between", "csvbetween"):
        quiet = dict(accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False, default_root_dir=os.path.join(save_dir, mode))
        logger = CSVLogger(save_dir, name=mode) if mode != "between" else True
        stop = [] if mode == "csvlive" else [Stop(mode, at_start=mode.endswith("between"))]
        module = Sleepy() if mode == "csvlive" else Tiny()
        data = Data(n=800) if mode.startswith("csv") else Data()
        L.Trainer(max_epochs={"csvkill": 50, "csvlive": 3}.get(mode, 6), logger=logger, callbacks=stop, **quiet).fit(module, data)
    elif mode == "hold":
        t = L.Trainer(max_epochs=6, logger=CSVLogger(save_dir, name="hold", flush_logs_every_n_steps=1), callbacks=[Hold()], **common)
        t.fit(Tiny(), Data())

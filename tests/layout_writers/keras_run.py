"""Real Keras 3 runs on the torch backend (CPU), for the layout tests.

usage: keras_run.py ROOT MODE [MODE...]   (MODE: complete | early | hold | plainhold | crash)
Each mode writes ``ROOT/<mode>/``: ``CSVLogger('log.csv')``, ``ModelCheckpoint('ckpt/model-{epoch:02d}-{val_loss:.3f}.keras',
monitor='val_loss', save_best_only=True)``, ``BackupAndRestore('backup')`` (``training_metadata.json`` while it
trains, deleted when ``fit`` ends). ``complete``: 3 epochs. ``early``: 30 epochs with ``EarlyStopping(monitor='val_loss',
patience=1)`` on a frozen model (learning rate 0). ``hold``: 5 epochs, pauses after epoch 2 until ROOT/hold.release
exists. ``plainhold``: ``hold`` without BackupAndRestore (ROOT/plainhold.held / .release). ``crash``: raises in epoch 3
(BackupAndRestore's file stays behind). The paths are in the code: no command line names a run.
"""

import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

root, modes = os.path.abspath(sys.argv[1]), sys.argv[2:]


class Pause(keras.callbacks.Callback):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def on_epoch_end(self, epoch, logs=None):
        if self.mode in ("hold", "plainhold") and epoch == 1:
            open(os.path.join(root, self.mode + ".held"), "w").close()
            while not os.path.exists(os.path.join(root, self.mode + ".release")):
                time.sleep(0.05)

    def on_epoch_begin(self, epoch, logs=None):
        if self.mode == "crash" and epoch == 2:
            raise RuntimeError("boom: the input pipeline broke")


rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]
for mode in modes:
    keras.utils.set_random_seed(0)
    out = os.path.join(root, mode)
    os.makedirs(os.path.join(out, "ckpt"), exist_ok=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.0 if mode == "early" else 0.05), loss="mse", metrics=["mae"])
    callbacks = [
        keras.callbacks.CSVLogger(os.path.join(out, "log.csv")),
        keras.callbacks.ModelCheckpoint(os.path.join(out, "ckpt", "model-{epoch:02d}-{val_loss:.3f}.keras"), monitor="val_loss", save_best_only=True),
        Pause(mode),
    ]
    if mode != "plainhold":
        callbacks.insert(2, keras.callbacks.BackupAndRestore(os.path.join(out, "backup")))
    if mode == "early":
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=1))
    epochs = {"early": 30, "hold": 5, "plainhold": 5}.get(mode, 3)
    model.fit(x, y, validation_split=0.25, epochs=epochs, batch_size=16, callbacks=callbacks, verbose=0)

"""Cost of one training batch and of predicting one 30 s clip, per architecture and tau (paper-sized models).

Run: PYTHONPATH=. python benchmarks/bench_rows.py ; prints ratios and the short schedule's upper bound
per model (SHORT_TRAIN: at most max_epochs epochs of steps_per_epoch batches), which is what `make reproduce` on the mini data trains.
"""
import time

import numpy as np

from rsed.config import SHORT_TRAIN, FeatureConfig, ModelConfig
from rsed.features.windows import sliding_windows
from rsed.inference.sliding import predict_windows
from rsed.training.fit import build_model

F = FeatureConfig().frames_per_step
rng = np.random.default_rng(0)
for arch in ("crnn", "cnn"):
    for tau in (5, 9, 50):
        m = build_model(arch, ModelConfig(timesteps=tau), F, 128)
        m.compile(optimizer="adam", loss="binary_crossentropy")
        x = rng.standard_normal((64, tau, F, 128, 1)).astype(np.float32)
        y = (rng.random((64, tau, 1)) > 0.9).astype(np.float32)
        m.train_on_batch(x, y)
        t = time.time()
        n = 3
        for _ in range(n):
            m.train_on_batch(x, y)
        tb = (time.time() - t) / n
        steps = rng.standard_normal((322, F, 128)).astype(np.float32)
        w = sliding_windows(steps, tau)
        predict_windows(m, w[:8])
        t = time.time()
        predict_windows(m, w)
        tp = time.time() - t
        budget = SHORT_TRAIN.max_epochs * SHORT_TRAIN.steps_per_epoch * tb / 60
        print(
            f"{arch} tau {tau}: {tb:.2f} s per training batch of 64 windows; "
            f"SHORT_TRAIN (<={SHORT_TRAIN.max_epochs} epochs x {SHORT_TRAIN.steps_per_epoch} batches) <= {budget:.1f} min; "
            f"one 30 s clip predicted in {tp:.2f} s (60 clips: {60*tp/60:.1f} min)",
            flush=True,
        )

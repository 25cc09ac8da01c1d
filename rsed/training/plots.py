"""The training curves of one detector: loss and AUC per epoch, training and validation, from ``train_log.csv``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_path


def read_train_log(path: str | Path) -> dict[str, list[float]]:
    """Columns of a Keras ``CSVLogger`` file as float lists, one value per epoch, sorted by epoch.

    A resumed run may log an epoch twice (interrupted after the log, before the backup); the
    last row of an epoch wins.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DataError(path, f"cannot read the training log ({exc})") from None
    by_epoch = {}
    try:
        for row in rows:
            by_epoch[int(row["epoch"])] = {key: float(value) if value not in ("", None) else math.nan for key, value in row.items()}
    except (KeyError, ValueError) as exc:
        raise DataError(path, f"malformed training log ({exc})") from None
    epochs = sorted(by_epoch)
    columns = sorted({key for row in by_epoch.values() for key in row})
    return {key: [by_epoch[e].get(key, math.nan) for e in epochs] for key in columns}


def plot_training_curves(log_csv: str | Path, out_png: str | Path, *, title: str | None = None) -> Path:
    """Draw loss and AUC per epoch (training and validation) into a PNG, written atomically.

    The epoch with the lowest validation loss (the weights kept) is marked. Uses the Agg
    canvas directly: no pyplot state, no display needed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    log = read_train_log(log_csv)
    if "epoch" not in log or not log["epoch"]:
        raise DataError(Path(log_csv), "the training log holds no epoch")
    epochs = [int(e) + 1 for e in log["epoch"]]  # 1-based, as Keras prints them
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, metric, label in zip(fig.subplots(1, 2), ("loss", "auc"), ("binary cross-entropy", "ROC AUC (per step)"), strict=True):
        for key, style, name in ((metric, "-", "training"), (f"val_{metric}", "--", "validation")):
            if key in log:
                ax.plot(epochs, log[key], style, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    val_loss = log.get("val_loss", [])
    finite = [(v, e) for v, e in zip(val_loss, epochs, strict=False) if math.isfinite(v)]
    if finite:
        best_epoch = min(finite)[1]
        for ax in fig.axes:
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
        fig.axes[0].set_title(f"best validation loss at epoch {best_epoch}", fontsize=9)
    if title:
        fig.suptitle(title)
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out_png

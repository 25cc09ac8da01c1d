"""The paper's Figure 4: per-step event probabilities with the thresholds t1 and t2 and the onsets, above the log-mel.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global
state), at a fixed size so a saved PNG is ``figure_pixels(n_panels)`` pixels: no tight
bounding box. Times are in seconds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fileio import atomic_path

#: Resolution of saved figures (dots per inch).
DPI = 100
#: Width of every figure, inches.
WIDTH_INCHES = 10.0
#: Height of one probability panel and of the spectrogram panel, inches.
PANEL_INCHES = 2.0
SPECTROGRAM_INCHES = 2.5
#: Title and axis-label margins, inches.
MARGIN_INCHES = 0.5

REFERENCE_STYLE = {"color": "tab:green", "linestyle": "--", "linewidth": 1.6, "zorder": 4}  # on top: dashes show a detection beneath
DETECTED_STYLE = {"color": "tab:red", "linestyle": "-", "linewidth": 1.6, "zorder": 3}


@dataclass(frozen=True)
class Panel:
    """One class's probability curve and what to mark on it (onsets None when absent).

    ``probs [S]`` in [0, 1] at ``step_seconds`` per step; ``detected_onsets`` may hold several
    onsets (``rsed detect --segment-seconds``), the paper's decision gives at most one.
    """

    label: str
    probs: np.ndarray
    t1: float
    t2: float
    reference_onset: float | None = None
    detected_onsets: tuple[float, ...] = ()


def figure_inches(n_panels: int) -> tuple[float, float]:
    """(width, height) in inches of a figure with ``n_panels`` probability panels and one spectrogram."""
    if n_panels < 1:
        raise ValueError("a figure needs at least one probability panel")
    return WIDTH_INCHES, MARGIN_INCHES + n_panels * PANEL_INCHES + SPECTROGRAM_INCHES


def figure_pixels(n_panels: int, dpi: int = DPI) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that :func:`save_png` writes for ``n_panels`` panels."""
    width, height = figure_inches(n_panels)
    return int(round(width * dpi)), int(round(height * dpi))


def detection_figure(panels: list[Panel], step_seconds: float, logmel: np.ndarray, *, frame_seconds: float, title: str | None = None):
    """Probability panels (one per class) above the log-mel spectrogram ``logmel [T, n_mels]`` (dB).

    Each panel draws the per-step probabilities as steps (step ``s`` covers
    ``[s, s+1) * step_seconds``), t1 (presence, dashed) and t2 (onset, dotted), the reference
    onset (green, dashed) and the detected onset(s) (red); the onsets are repeated on the
    spectrogram. Returns a ``matplotlib.figure.Figure`` on the Agg canvas.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    logmel = np.asarray(logmel, dtype=np.float32)
    if logmel.ndim != 2 or logmel.shape[0] == 0:
        raise ValueError(f"logmel must be (frames, n_mels) with frames > 0, got shape {logmel.shape}")
    fig = Figure(figsize=figure_inches(len(panels)), dpi=DPI)
    FigureCanvasAgg(fig)
    heights = [PANEL_INCHES] * len(panels) + [SPECTROGRAM_INCHES]
    axes = fig.subplots(len(panels) + 1, 1, sharex=True, gridspec_kw={"height_ratios": heights})
    duration = max(logmel.shape[0] * frame_seconds, max(len(p.probs) for p in panels) * step_seconds)
    for ax, panel in zip(axes, panels, strict=False):
        probs = np.asarray(panel.probs, dtype=np.float64)
        if probs.ndim != 1 or probs.size == 0:
            raise ValueError(f"{panel.label}: probabilities must be a non-empty 1-D sequence, got shape {probs.shape}")
        edges = np.arange(probs.size + 1) * step_seconds
        ax.stairs(probs, edges, baseline=None, color="tab:blue", linewidth=1.2, label="probability")
        ax.axhline(panel.t1, color="black", linestyle="--", linewidth=1.0, label=f"t1 = {panel.t1:g} (presence)")
        ax.axhline(panel.t2, color="grey", linestyle=":", linewidth=1.2, label=f"t2 = {panel.t2:g} (onset)")
        if panel.reference_onset is not None:
            ax.axvline(panel.reference_onset, **REFERENCE_STYLE, label=f"reference onset {panel.reference_onset:.2f} s")
        for i, onset in enumerate(panel.detected_onsets):
            ax.axvline(onset, **DETECTED_STYLE, label=f"detected onset {onset:.2f} s" if i == 0 else None)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"p({panel.label})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    spec = axes[-1]
    spec.imshow(
        logmel.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0.0, logmel.shape[0] * frame_seconds, 0, logmel.shape[1]),
        interpolation="nearest",
    )
    for panel in panels:
        if panel.reference_onset is not None:
            spec.axvline(panel.reference_onset, **REFERENCE_STYLE)
        for onset in panel.detected_onsets:
            spec.axvline(onset, **DETECTED_STYLE)
    spec.set_ylabel("mel band")
    spec.set_xlabel("time (s)")
    spec.set_xlim(0.0, duration)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.82, top=1 - 0.35 / fig.get_figheight(), bottom=0.45 / fig.get_figheight(), hspace=0.12)
    return fig


def figure4(
    probs: np.ndarray,
    step_seconds: float,
    logmel: np.ndarray,
    t1: float,
    t2: float,
    reference_onset: float | None = None,
    detected_onset: float | None = None,
    *,
    frame_seconds: float,
    label: str = "event",
    title: str | None = None,
):
    """The paper's Figure 4 for one clip and class: ``probs [S]`` with t1, t2 and the onsets above ``logmel [T, n_mels]``."""
    panel = Panel(label, np.asarray(probs), float(t1), float(t2), reference_onset, () if detected_onset is None else (float(detected_onset),))
    return detection_figure([panel], step_seconds, logmel, frame_seconds=frame_seconds, title=title)


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes at :data:`DPI` (for notebooks: ``IPython.display.Image(png_bytes(fig))``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def save_png(fig, path: str | Path) -> Path:
    """Write the figure as a PNG atomically; its size is :func:`figure_pixels` of its panels."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(fig))
    return path


def onset_error_histogram(errors: np.ndarray, collar: float = 0.5, *, reach: float = 3.0, bin_seconds: float = 0.05, title: str | None = None):
    """Histogram of onset errors (estimated minus reference onset, seconds) with the scoring collar marked.

    Errors inside ``[-collar, collar]`` are hits; outside they count as a deletion and an
    insertion. Errors beyond ``±reach`` seconds are counted in the outermost bins (orange).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    errors = np.asarray(errors, dtype=np.float64)
    errors = errors[np.isfinite(errors)]
    fig = Figure(figsize=(WIDTH_INCHES, 3.0), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    n_bins = int(np.ceil(reach / bin_seconds))
    edges = np.arange(-n_bins - 1, n_bins + 2) * bin_seconds  # one overflow bin on each side
    clipped = np.clip(errors, edges[0] + bin_seconds / 2, edges[-1] - bin_seconds / 2)
    counts, _, bars = ax.hist(clipped, bins=edges, color="tab:blue", edgecolor="white")
    for bar in (bars[0], bars[-1]):
        bar.set_facecolor("tab:orange")
    for x in (-collar, collar):
        ax.axvline(x, color="black", linestyle="--", linewidth=1.0)
    inside = int(np.sum(np.abs(errors) <= collar))
    outside = int(np.sum(np.abs(errors) > edges[-2]))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(f"estimated minus reference onset (s); orange: beyond ±{edges[-2]:g} s")
    ax.set_ylabel("files")
    summary = f"onset errors: {inside} of {errors.size} within the ±{collar:g} s collar, {outside} beyond ±{edges[-2]:g} s"
    ax.set_title(title or summary, fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.17)
    return fig

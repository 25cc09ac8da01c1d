"""The paper's Figure 4: per-step event probabilities with the thresholds t1 and t2 and the events, above the log-mel.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global
state), at a fixed size so a saved PNG is ``figure_pixels(n_panels)`` pixels: no tight
bounding box. Times are in seconds; the spectrogram's axis is in Hz (the mel bands' centre
frequencies) when the feature settings are given, with a colour bar in dB. :func:`save_figure`
writes PNG, PDF or SVG by the file's extension.
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

#: Formats :func:`save_figure` writes, by the file's extension.
FIGURE_FORMATS = ("png", "pdf", "svg")

REFERENCE_STYLE = {"color": "tab:green", "linestyle": "--", "linewidth": 1.6, "zorder": 4}  # on top: dashes show a detection beneath
DETECTED_STYLE = {"color": "tab:red", "linestyle": "-", "linewidth": 1.6, "zorder": 3}
#: Offsets: the same colours, thinner and dotted; the span between onset and offset is shaded.
REFERENCE_OFFSET_STYLE = {"color": "tab:green", "linestyle": ":", "linewidth": 1.2, "zorder": 4}
DETECTED_OFFSET_STYLE = {"color": "tab:red", "linestyle": ":", "linewidth": 1.2, "zorder": 3}
SPAN_ALPHA = 0.12
#: Frequencies (Hz) labelled on the spectrogram's axis, where they lie inside its range.
FREQUENCY_TICKS = (0, 250, 500, 1000, 2000, 4000, 8000, 16000)


@dataclass(frozen=True)
class Panel:
    """One class's probability curve and what to mark on it (onsets None when absent).

    ``probs [S]`` in [0, 1] at ``step_seconds`` per step; ``detected_onsets`` may hold several
    onsets (long recordings, ``rsed detect --segment-seconds``), the paper's decision gives at
    most one. ``detected_offsets`` (parallel to the onsets) and ``reference_offset`` are drawn
    when given; ``references`` holds further reference events ``(onset, offset)`` (an
    annotation with several events of the class).
    """

    label: str
    probs: np.ndarray
    t1: float
    t2: float
    reference_onset: float | None = None
    detected_onsets: tuple[float, ...] = ()
    detected_offsets: tuple[float, ...] = ()
    reference_offset: float | None = None
    references: tuple[tuple[float, float], ...] = ()

    def detected_events(self) -> list[tuple[float, float | None]]:
        offsets = list(self.detected_offsets) + [None] * (len(self.detected_onsets) - len(self.detected_offsets))
        return list(zip(self.detected_onsets, offsets, strict=True))

    def reference_events(self) -> list[tuple[float, float | None]]:
        first = [] if self.reference_onset is None else [(self.reference_onset, self.reference_offset)]
        return first + [(on, off) for on, off in self.references]


def figure_inches(n_panels: int) -> tuple[float, float]:
    """(width, height) in inches of a figure with ``n_panels`` probability panels and one spectrogram."""
    if n_panels < 1:
        raise ValueError("a figure needs at least one probability panel")
    return WIDTH_INCHES, MARGIN_INCHES + n_panels * PANEL_INCHES + SPECTROGRAM_INCHES


def figure_pixels(n_panels: int, dpi: int = DPI) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that :func:`save_png` writes for ``n_panels`` panels."""
    width, height = figure_inches(n_panels)
    return int(round(width * dpi)), int(round(height * dpi))


def mel_band_position(frequency: float, n_mels: int, fmin: float, fmax: float) -> float:
    """Where ``frequency`` (Hz) lies on an image of ``n_mels`` mel bands (band ``i`` covers ``[i, i + 1)``).

    The bands of :func:`rsed.features.spectrogram.logmel` (librosa's Slaney mel scale): band
    ``i`` is centred on the ``i + 1``-th of ``n_mels + 2`` frequencies equally spaced in mel
    from ``fmin`` to ``fmax``, so its centre sits at ``i + 0.5``.
    """
    import librosa

    edges = librosa.hz_to_mel(np.array([fmin, fmax]), htk=False)
    step = (edges[1] - edges[0]) / (n_mels + 1)
    return float((librosa.hz_to_mel(frequency, htk=False) - edges[0]) / step - 0.5)


def _hz_label(frequency: float) -> str:
    return f"{frequency / 1000:g}k" if frequency >= 1000 else f"{frequency:g}"


def _mark(ax, events, onset_style, offset_style, label: str | None = None) -> None:
    """Onset lines, offset lines and the shaded span between them, on one axis."""
    for i, (onset, offset) in enumerate(events):
        ax.axvline(onset, **onset_style, label=f"{label} {onset:.2f} s" if label and i == 0 else None)
        if offset is not None:
            ax.axvline(offset, **offset_style)
            ax.axvspan(onset, offset, color=onset_style["color"], alpha=SPAN_ALPHA, linewidth=0, zorder=1)


def detection_figure(
    panels: list[Panel],
    step_seconds: float,
    logmel: np.ndarray,
    *,
    frame_seconds: float,
    title: str | None = None,
    frequency_range: tuple[float, float] | None = None,
):
    """Probability panels (one per class) above the log-mel spectrogram ``logmel [T, n_mels]`` (dB).

    Each panel draws the per-step probabilities as steps (step ``s`` covers
    ``[s, s+1) * step_seconds``), t1 (presence, dashed) and t2 (onset, dotted), the reference
    events (green: onset dashed, offset dotted) and the detected ones (red: onset solid, offset
    dotted), each event's span lightly shaded; the events are repeated on the spectrogram.
    ``frequency_range`` ``(fmin, fmax)`` of the mel bands labels the spectrogram's axis in Hz
    (else by band index); a colour bar gives its dB scale. Returns a
    ``matplotlib.figure.Figure`` on the Agg canvas.
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
        _mark(ax, panel.reference_events(), REFERENCE_STYLE, REFERENCE_OFFSET_STYLE, "reference onset")
        _mark(ax, panel.detected_events(), DETECTED_STYLE, DETECTED_OFFSET_STYLE, "detected onset")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"p({panel.label})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    spec = axes[-1]
    n_mels = logmel.shape[1]
    image = spec.imshow(
        logmel.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0.0, logmel.shape[0] * frame_seconds, 0, n_mels),
        interpolation="nearest",
    )
    for panel in panels:
        _mark(spec, panel.reference_events(), REFERENCE_STYLE, REFERENCE_OFFSET_STYLE)
        _mark(spec, panel.detected_events(), DETECTED_STYLE, DETECTED_OFFSET_STYLE)
    if frequency_range is not None:
        fmin, fmax = frequency_range
        ticks = [(mel_band_position(f, n_mels, fmin, fmax), f) for f in FREQUENCY_TICKS if fmin <= f <= fmax]
        ticks = [(y, f) for y, f in ticks if 0 <= y <= n_mels]
        spec.set_yticks([y for y, _ in ticks], [_hz_label(f) for _, f in ticks])
        spec.set_ylabel("frequency (Hz)")
    else:
        spec.set_ylabel("mel band")
    spec.set_xlabel("time (s)")
    spec.set_xlim(0.0, duration)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.82, top=1 - 0.35 / fig.get_figheight(), bottom=0.45 / fig.get_figheight(), hspace=0.12)
    box = spec.get_position()
    colorbar = fig.colorbar(image, cax=fig.add_axes((box.x1 + 0.01, box.y0, 0.012, box.height)))
    colorbar.set_label("dB", fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
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
    reference_offset: float | None = None,
    detected_offset: float | None = None,
    frequency_range: tuple[float, float] | None = None,
):
    """The paper's Figure 4 for one clip and class: ``probs [S]`` with t1, t2 and the events above ``logmel [T, n_mels]``."""
    detected = () if detected_onset is None else (float(detected_onset),)
    offsets = () if detected_onset is None or detected_offset is None else (float(detected_offset),)
    panel = Panel(label, np.asarray(probs), float(t1), float(t2), reference_onset, detected, offsets, reference_offset)
    return detection_figure([panel], step_seconds, logmel, frame_seconds=frame_seconds, title=title, frequency_range=frequency_range)


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes at :data:`DPI` (for notebooks: ``IPython.display.Image(png_bytes(fig))``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def figure_format(path: str | Path) -> str:
    """The format :func:`save_figure` writes to ``path``, by its extension; ValueError for another one."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        raise ValueError(f"cannot tell the figure format from {Path(path).name!r}: name it .{', .'.join(FIGURE_FORMATS)}")
    return suffix


def save_figure(fig, path: str | Path) -> Path:
    """Write the figure atomically as PNG, PDF or SVG by the extension of ``path`` (:func:`figure_format`);
    a PNG is :func:`figure_pixels` of its panels. The folder must exist (OSError otherwise)."""
    path = Path(path)
    fmt = figure_format(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(2, "no such folder", str(path.parent))
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


def save_png(fig, path: str | Path) -> Path:
    """Write the figure as a PNG atomically (:func:`save_figure` for a ``.png`` path)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(fig))
    return path


def recording_figure(result, rows, ensembles: dict, *, reference=(), note: str | None = None):
    """``rsed detect --plot``: Figure 4 of one recording, one probability panel per class above its log-mel.

    ``result`` a :class:`rsed.inference.detect.FileProbabilities`, ``rows`` its
    :class:`~rsed.inference.detect.DetectionRow` list, ``ensembles`` the class ensembles,
    ``reference`` the annotation's events of this recording (``MixtureEvent``; those of a class
    without a panel are drawn on the spectrogram only), ``note`` added to the title (the
    segment length).
    """
    panels = []
    for class_name, ensemble in sorted(ensembles.items()):
        found = [r for r in rows if r.class_name == class_name and r.onset is not None]
        refs = tuple((e.onset, e.offset) for e in reference if e.has_event and e.label == class_name)
        post = ensemble.postprocess
        panels.append(
            Panel(
                class_name,
                result.probabilities[class_name],
                post.presence_threshold,
                post.onset_threshold,
                detected_onsets=tuple(r.onset for r in found),
                detected_offsets=tuple(r.offset for r in found),
                references=refs,
            )
        )
    features = result.features
    title = result.path.name + (f" ({note})" if note else "")
    fig = detection_figure(
        panels, features.step_seconds, result.logmel, frame_seconds=features.frame_seconds, title=title, frequency_range=(features.fmin, features.fmax)
    )
    others = [(e.onset, e.offset) for e in reference if e.has_event and e.label not in ensembles]
    _mark(fig.axes[len(panels)], others, REFERENCE_STYLE, REFERENCE_OFFSET_STYLE)  # annotated classes without a detector
    return fig


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

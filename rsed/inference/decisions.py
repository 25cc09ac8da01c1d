"""Applying the ensembles to a recording and deciding: probabilities, segments, rows, output formats.

Decisions (:func:`decide`): a recording up to one training clip long (``clip_seconds`` in
detector.json, 30 s for DCASE) is decided once, as the pipeline decides a clip; a longer one in
overlapping segments of the clip length (hop half a segment), each segment's peak decided by
the paper's rule with the onset and offset searched in the whole sequence. A segment whose peak
belongs to an event that peaks outside it (the run of steps above t2 around its peak reaches a
higher step beyond the segment: the segment cut the event) reports nothing, since the segment
holding that peak decides it; an event found by two segments is reported once (same peak step,
or onsets within the challenge's 0.5 s collar).
``whole_file`` decides once per file; ``segment_seconds`` cuts consecutive segments of that
length, each decided on its own (one event at most per segment), as before.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import FeatureConfig, ScoringConfig
from ..errors import AudioError, CacheError, RsedError
from .ensembles import Ensemble
from .postprocessing import Detection, detect_event, event_at_peak

#: Two detections of one class whose onsets lie this close (s) are one event (the challenge's collar).
MERGE_SECONDS = ScoringConfig().t_collar
#: Output formats of :func:`format_rows`.
FORMATS = ("dcase", "csv", "jsonl")
CSV_COLUMNS = (
    "file", "onset", "offset", "event_label", "class", "peak_probability", "t1", "t2", "lookback",
    "segment_start", "segment_end", "architecture", "timesteps", "settings",
)


@dataclass(frozen=True)
class DetectionRow:
    """One detected event of a file and class (onset/offset in seconds), or none (onset None).

    ``segment`` is the (start, end) in seconds of the segment whose decision found the event,
    ``segment_seconds`` the segment length used for the file (None: one decision per file).
    """

    file: str
    class_name: str
    onset: float | None
    offset: float | None
    peak_probability: float
    architecture: str = ""
    timesteps: tuple[int, ...] = ()
    presence_threshold: float = math.nan
    onset_threshold: float = math.nan
    lookback_seconds: float = math.nan
    segment: tuple[float, float] | None = None
    segment_seconds: float | None = None
    settings: str = ""

    def dcase_line(self) -> str:
        """``file\\tonset\\toffset\\tlabel``, or the file alone when nothing was detected."""
        if self.onset is None:
            return self.file
        return f"{self.file}\t{self.onset:.3f}\t{self.offset:.3f}\t{self.class_name}"

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "event_label": self.class_name if self.onset is not None else None,
            "onset": None if self.onset is None else round(self.onset, 4),
            "offset": None if self.offset is None else round(self.offset, 4),
            "class": self.class_name,
            "peak_probability": round(self.peak_probability, 4),
            "architecture": self.architecture,
            "timesteps": list(self.timesteps),
            "t1": self.presence_threshold,
            "t2": self.onset_threshold,
            "lookback": self.lookback_seconds,
            "segment": None if self.segment is None else [round(t, 4) for t in self.segment],
            "segment_seconds": None if self.segment_seconds is None else round(self.segment_seconds, 4),
            "settings": self.settings,
        }

    def csv_fields(self) -> list:
        def number(value, digits):
            return "" if value is None else f"{value:.{digits}f}"

        start, end = self.segment if self.segment is not None else (None, None)
        return [
            self.file, number(self.onset, 3), number(self.offset, 3), self.class_name if self.onset is not None else "", self.class_name,
            number(self.peak_probability, 4), f"{self.presence_threshold:g}", f"{self.onset_threshold:g}", f"{self.lookback_seconds:g}",
            number(start, 3), number(end, 3), self.architecture, "+".join(map(str, self.timesteps)), self.settings,
        ]


@dataclass(frozen=True)
class FileProbabilities:
    """A recording's per-step probabilities for every class and its log-mel (for plots).

    ``probabilities[class] [S]``, ``logmel [T, n_mels]`` dB of the first ensemble's features,
    ``duration`` in seconds at the detectors' sample rate.
    """

    path: Path
    duration: float
    logmel: np.ndarray
    features: FeatureConfig
    probabilities: dict[str, np.ndarray]


def file_probabilities(path: str | Path, ensembles: dict[str, Ensemble]) -> FileProbabilities:
    """Per-step probabilities of every class's ensemble on one recording (the pipeline's computation).

    Raises AudioError naming the file when it cannot be read or is shorter than one model step.
    """
    from ..audio import load_audio
    from ..features.spectrogram import logmel
    from .sliding import clip_probabilities

    path = Path(path)
    if not ensembles:
        raise CacheError(None, "no detectors to apply")
    logmels: dict[FeatureConfig, np.ndarray] = {}
    probabilities = {}
    duration = None
    for class_name, ensemble in sorted(ensembles.items()):
        fconf = ensemble.features
        if fconf not in logmels:
            y = load_audio(path, sample_rate=fconf.sample_rate)
            min_samples = (fconf.frames_per_step - 1) * fconf.hop_length
            if y.size < min_samples:
                raise AudioError(
                    path,
                    f"too short to detect events: {y.size / fconf.sample_rate:.3f} s, "
                    f"at least {min_samples / fconf.sample_rate:.3f} s (one step of {fconf.frames_per_step} frames) is needed",
                )
            logmels[fconf] = logmel(y, fconf)
            duration = y.size / fconf.sample_rate if duration is None else duration
        probabilities[class_name] = clip_probabilities(ensemble.members, logmels[fconf])
    first = ensembles[sorted(ensembles)[0]].features
    return FileProbabilities(path, float(duration), logmels[first], first, probabilities)


def segment_steps(ensemble: Ensemble, segment_seconds: float | None = None) -> int:
    """Steps per segment: ``segment_seconds`` rounded to whole steps (consecutive segments, as
    before), or the training clip's length rounded up (a clip of the data is one segment)."""
    step = ensemble.features.step_seconds
    if segment_seconds is not None:
        return max(1, int(round(segment_seconds / step)))
    return max(1, int(math.ceil(ensemble.clip_seconds / step - 1e-6)))


def clip_segments(n_steps: int, span: int) -> list[tuple[int, int]]:
    """Overlapping segments ``[(start, end), ...]`` of ``span`` steps with hop ``span // 2`` covering ``n_steps``.

    One segment when ``n_steps <= span``; otherwise every segment is ``span`` steps long, the
    last one ending with the sequence.
    """
    if n_steps <= span:
        return [(0, n_steps)]
    hop = max(1, span // 2)
    starts = list(range(0, n_steps - span + 1, hop))
    if starts[-1] + span < n_steps:
        starts.append(n_steps - span)
    return [(s, s + span) for s in starts]


def merge_detections(found: list[tuple[Detection, tuple[int, int]]], step_seconds: float, within: float = MERGE_SECONDS) -> list[tuple[Detection, tuple[int, int]]]:
    """One detection per event: those with the same peak step, or onsets within ``within`` seconds, are one
    (the one with the highest peak probability is kept, the earliest segment among equals)."""
    kept: list[tuple[Detection, tuple[int, int]]] = []
    for det, seg in sorted(found, key=lambda f: (f[0].onset_step, f[1][0])):
        same = [i for i, (k, _) in enumerate(kept) if k.peak_step == det.peak_step or abs(k.onset_step - det.onset_step) * step_seconds <= within + 1e-9]
        if not same:
            kept.append((det, seg))
        elif det.peak_probability > kept[same[0]][0].peak_probability:
            kept[same[0]] = (det, seg)
    return sorted(kept, key=lambda f: f[0].onset_step)


def class_detections(
    probs: np.ndarray, ensemble: Ensemble, *, segment_seconds: float | None = None, whole_file: bool = False
) -> tuple[list[tuple[Detection, tuple[int, int]]], float | None]:
    """``([(detection, (first step, end step) of its segment), ...], segment length in s or None)`` for one class.

    The length is the one asked for (``segment_seconds``) or the training clip's; None when
    the recording was decided once.

    See the module docstring: ``whole_file`` one decision; ``segment_seconds`` consecutive
    segments decided on their own (times relative to the whole sequence); by default
    overlapping segments of the training clip's length (one for a recording up to a clip long).
    """
    probs = np.asarray(probs, dtype=np.float64)
    step, post = ensemble.features.step_seconds, ensemble.postprocess
    if whole_file:
        det = detect_event(probs, step, post)
        return ([] if det is None else [(det, (0, probs.size))]), None
    span = segment_steps(ensemble, segment_seconds)
    if segment_seconds is not None:
        found = []
        for start in range(0, probs.size, span):
            det = detect_event(probs[start : start + span], step, post)
            if det is not None:
                shifted = dataclasses.replace(
                    det,
                    onset=det.onset + start * step,
                    offset=det.offset + start * step,
                    onset_step=det.onset_step + start,
                    peak_step=det.peak_step + start,
                    offset_step=det.offset_step + start,
                )
                found.append((shifted, (start, min(start + span, probs.size))))
        return found, float(segment_seconds)
    found = []
    for start, end in clip_segments(probs.size, span):
        peak = start + int(np.argmax(probs[start:end]))
        if not probs[peak] > post.presence_threshold or _cut(probs, peak, start, end, post.onset_threshold):
            continue
        found.append((event_at_peak(probs, peak, step, post), (start, end)))
    return merge_detections(found, step), (ensemble.clip_seconds if probs.size > span else None)


def _cut(probs: np.ndarray, peak: int, start: int, end: int, threshold: float) -> bool:
    """Whether a segment's peak belongs to an event that peaks outside the segment ``[start, end)``:
    the run of steps above ``threshold`` (t2) around it reaches a higher step (the first of equals) beyond."""
    below = probs <= threshold
    before = np.flatnonzero(below[:peak])
    after = np.flatnonzero(below[peak + 1 :])
    left = int(before[-1]) + 1 if before.size else 0
    right = peak + 1 + int(after[0]) if after.size else probs.size
    top = left + int(np.argmax(probs[left:right]))
    return not start <= top < end


def decide(
    result: FileProbabilities,
    ensembles: dict[str, Ensemble],
    segment_seconds: float | None = None,
    name: str | None = None,
    *,
    whole_file: bool = False,
) -> list[DetectionRow]:
    """The two-threshold decision per class: one row per detected event, or one event-free row.

    By default a recording up to one training clip long is decided once (the pipeline's
    decision of a clip) and a longer one in overlapping clip-length segments;
    ``segment_seconds`` cuts consecutive segments of that length, ``whole_file`` decides once
    (module docstring). Offsets are clipped to the recording's duration.
    """
    name = str(result.path) if name is None else name
    rows = []
    for class_name, ensemble in sorted(ensembles.items()):
        probs = result.probabilities[class_name]
        step = ensemble.features.step_seconds
        found, seconds = class_detections(probs, ensemble, segment_seconds=segment_seconds, whole_file=whole_file)
        post = ensemble.postprocess
        common = dict(
            architecture=ensemble.architecture,
            timesteps=ensemble.timesteps,
            presence_threshold=post.presence_threshold,
            onset_threshold=post.onset_threshold,
            lookback_seconds=post.lookback_seconds,
            segment_seconds=seconds,
            settings=ensemble.settings,
        )
        events = []
        for det, (start, end) in found:  # the last step may end a fraction of a frame after the recording
            segment = None if seconds is None else (start * step, min(end * step, result.duration))
            events.append(DetectionRow(name, class_name, det.onset, min(det.offset, result.duration), det.peak_probability, segment=segment, **common))
        rows.extend(events or [DetectionRow(name, class_name, None, None, float(np.max(probs)), **common)])
    return rows


def detect_files(files: list[Path], detectors: dict[str, Ensemble], segment_seconds: float | None = None, *, whole_file: bool = False) -> list[DetectionRow]:
    """Apply each class's ensemble to each file; rows as :func:`decide` gives them, file by file."""
    rows = []
    for path in files:
        rows.extend(decide(file_probabilities(path, detectors), detectors, segment_seconds, whole_file=whole_file))
    return rows


# ----------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------


def dcase_lines(rows: list[DetectionRow]) -> list[str]:
    """DCASE event-list lines: one per event, and the file alone when no class found anything in it."""
    lines, seen, with_event = [], [], set()
    for row in rows:
        if row.file not in seen:
            seen.append(row.file)
        if row.onset is not None:
            with_event.add(row.file)
    for file in seen:
        events = [r for r in rows if r.file == file and r.onset is not None]
        lines.extend(r.dcase_line() for r in sorted(events, key=lambda r: (r.onset, r.class_name)))
        if file not in with_event:
            lines.append(file)
    return lines


def format_rows(rows: list[DetectionRow], fmt: str, *, header: bool = False) -> str:
    """The text of ``rows`` (one or more files) in ``fmt``: ``dcase`` lines, ``csv`` (with the
    :data:`CSV_COLUMNS` header when ``header``) or ``jsonl`` (one JSON object per row)."""
    if fmt == "dcase":
        lines = dcase_lines(rows)
        return "".join(line + "\n" for line in lines)
    if fmt == "jsonl":
        return "".join(json.dumps(r.to_json()) + "\n" for r in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header:
            writer.writerow(CSV_COLUMNS)
        writer.writerows(r.csv_fields() for r in rows)
        return buffer.getvalue()
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def save_probabilities(result: FileProbabilities, ensembles: dict[str, Ensemble], folder: str | Path, stem: str, fmt: str = "npy") -> list[Path]:
    """Write each class's per-step probabilities to ``folder/<stem>_<class>.npy`` (float64 ``[S]``) or
    ``.csv`` (``time,probability``: the start of each step in seconds, 4 and 6 decimals); atomically."""
    from ..fileio import atomic_path, write_text

    written = []
    for class_name, probs in sorted(result.probabilities.items()):
        path = Path(folder) / f"{stem}_{class_name}.{fmt}"
        if fmt == "npy":
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.save(handle, np.asarray(probs, dtype=np.float64))
        elif fmt == "csv":
            step = ensembles[class_name].features.step_seconds
            write_text(path, "time,probability\n" + "".join(f"{i * step:.4f},{p:.6f}\n" for i, p in enumerate(probs)))
        else:
            raise RsedError(None, f"unknown probability format {fmt!r}; choose npy or csv")
        written.append(path)
    return written

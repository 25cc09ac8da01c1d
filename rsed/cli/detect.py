"""``rsed detect`` (events in any recording, streamed as each file finishes, and its Figure 4 picture) and ``rsed score`` (any event lists)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RsedError
from .common import Help, Reported, add_verbose, note, progress

if TYPE_CHECKING:  # annotations only: the command imports its stages when it runs
    from ..inference.detect import DetectionRow, Ensemble, FileProbabilities


def run_score(args) -> None:
    """``rsed score``: per-class and class-averaged ER and F1 of event lists (rsed/evaluation/lists.py)."""
    from ..evaluation.lists import score_lists

    scores = score_lists(Path(args.estimates), Path(args.reference))
    sys.stdout.write(json.dumps(scores.to_json(), indent=2) + "\n" if args.json else scores.to_text())


def _writable_folder(path: Path, what: str) -> Path:
    """``path`` as an output folder: it exists, or only its last part is missing (then it is created when written)."""
    if path.exists() and not path.is_dir():
        raise RsedError(path, f"{what}: not a folder")
    if not path.exists() and not path.parent.is_dir():
        raise RsedError(path, f"{what}: folder {path.parent} does not exist")
    return path


def _check_detect_args(args, files: list[Path]) -> str:
    """Every option of ``rsed detect`` checked before any work (and before TensorFlow); returns the output format."""
    from ..evaluation.plots import FIGURE_FORMATS, figure_format

    if args.segment_seconds is not None and not args.segment_seconds > 0:
        raise RsedError(None, f"--segment-seconds must be positive, got {args.segment_seconds}")
    for option, value in (("--t1", args.t1), ("--t2", args.t2)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise RsedError(None, f"{option} must lie in [0, 1], got {value}")
    if args.lookback is not None and not args.lookback >= 0:
        raise RsedError(None, f"--lookback must be at least 0 seconds, got {args.lookback}")
    if args.json and args.format not in (None, "jsonl"):
        raise RsedError(None, f"--json means --format jsonl; it cannot go with --format {args.format}")
    fmt = "jsonl" if args.json else args.format or "dcase"
    if args.output is not None:
        out = Path(args.output)
        if out.is_dir() or not out.parent.is_dir():
            raise RsedError(out, "-o: not a folder" if out.is_dir() else f"-o: folder {out.parent} does not exist")
    several = len(files) > 1
    if several and (args.plot or args.probabilities):
        stems = [f.stem for f in files]
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise RsedError(None, f"several inputs are named {', '.join(clashes)}; their plots or probabilities would overwrite each other")
    if args.plot:
        if plot_is_folder(args.plot, several):
            _writable_folder(Path(args.plot), "--plot")
        else:
            try:
                figure_format(args.plot)
            except ValueError as exc:
                raise RsedError(Path(args.plot), f"--plot: {exc} (or a folder, for several files: --plot-format {'|'.join(FIGURE_FORMATS)})") from None
            if not Path(args.plot).parent.is_dir():
                raise RsedError(Path(args.plot), f"--plot: folder {Path(args.plot).parent} does not exist")
    if args.probabilities:
        _writable_folder(Path(args.probabilities), "--probabilities")
    return fmt


def _existing_files(files: list[Path]) -> list[Path]:
    """The inputs that exist as regular files; each other one is reported on stderr (nothing is decoded yet)."""
    from ..audio import check_audio_path

    found = []
    for path in files:
        try:
            check_audio_path(path)
        except RsedError as exc:
            print(f"rsed: error: {exc}", file=sys.stderr)
            continue
        found.append(path)
    return found


def run_detect(args) -> None:
    """``rsed detect``: see docs/analysis.md; options and inputs checked before TensorFlow, output streamed file by file."""
    from ..data.layout import read_event_list
    from ..inference.detect import format_rows, plan_detectors, with_models

    files = [Path(f) for f in args.files]
    fmt = _check_detect_args(args, files)
    reference = read_event_list(args.reference, paths=True) if args.reference else []
    usable = _existing_files(files)
    if not usable:
        if len(files) > 1:
            raise RsedError(None, f"none of the {len(files)} files could be processed (see above)")
        raise Reported()
    overrides = {"presence_threshold": args.t1, "onset_threshold": args.t2, "lookback_seconds": args.lookback}
    plan = plan_detectors(Path(args.models), classes=args.classes, architecture=args.architecture, timesteps=args.timesteps, recipe=args.recipe, overrides=overrides)
    for ensemble in plan.values():
        if ensemble.settings != "recorded":
            note(f"{ensemble.describe()}" + ("" if ensemble.settings.startswith("recorded") else ": no decision settings recorded for this ensemble in its detector.json"))
    ensembles = with_models(plan)
    failed = [f for f in files if f not in usable]
    noted: set[str] = set()
    out = sys.stdout if args.output is None else open(args.output, "w", encoding="utf-8", newline="")
    done = 0
    try:
        if fmt == "csv":
            out.write(format_rows([], "csv", header=True))
        for path in progress(usable, len(usable), "detecting"):
            try:
                rows, result = _detect_one(path, ensembles, args)
            except RsedError as exc:
                print(f"rsed: error: {exc}", file=sys.stderr)
                failed.append(path)
                continue
            out.write(format_rows(rows, fmt))
            out.flush()  # streamed: what is written stays when the run is interrupted
            done += 1
            _after_one(path, rows, result, ensembles, args, fmt, reference, several=len(files) > 1, noted=noted)
    except KeyboardInterrupt:
        out.flush()
        print(f"rsed: interrupted after {done} of {len(files)} file(s); their output is complete", file=sys.stderr)
        raise Reported(130) from None
    finally:
        if out is not sys.stdout:
            out.close()
    if failed and len(files) > 1:
        raise RsedError(None, f"{len(failed)} of {len(files)} file(s) could not be processed (see above)")
    if failed:
        raise Reported()


def _detect_one(path: Path, ensembles: dict, args):
    from ..inference.detect import decide, file_probabilities

    result = file_probabilities(path, ensembles)
    return decide(result, ensembles, args.segment_seconds, name=str(path), whole_file=args.whole_file), result


def _after_one(path: Path, rows: list, result, ensembles: dict, args, fmt: str, reference: list, *, several: bool, noted: set) -> None:
    """The side outputs of one finished file: the segment note (once per command), its probabilities, its plot."""
    from ..inference.detect import save_probabilities

    seconds = sorted({r.segment_seconds for r in rows if r.segment_seconds is not None})
    segments = None
    if seconds and args.segment_seconds is None:
        segments = f"decided in overlapping {', '.join(f'{s:g}' for s in seconds)} s segments"
        if fmt == "dcase" and "segments" not in noted:  # csv and jsonl carry the segment of every row
            noted.add("segments")
            note(
                f"{path} is longer than the detectors' training clips: {segments} (hop half a segment), "
                "so a class may have several events; --whole-file for one decision per file"
            )
    elif seconds:
        segments = f"decided in consecutive {seconds[0]:g} s segments"
    if args.probabilities:
        Path(args.probabilities).mkdir(exist_ok=True)
        save_probabilities(result, ensembles, args.probabilities, path.stem, args.probabilities_format)
    if args.plot:
        mine = [e for e in reference if e.filename in (str(path), path.name)]
        plot_file(result, rows, ensembles, plot_path(args.plot, path, several, args.plot_format), reference=mine, note=segments)


def plot_is_folder(target: str | Path, several: bool) -> bool:
    """Whether ``--plot target`` names a folder: several files, an existing folder, or a trailing slash."""
    return several or Path(target).is_dir() or str(target).endswith(("/", os.sep))


def plot_path(target: str | Path, audio: Path, several: bool, fmt: str = "png") -> Path:
    """Where ``--plot target`` puts the figure of ``audio``: ``target`` itself for one file, unless
    it names a folder (:func:`plot_is_folder`); then ``target/<audio stem>.<fmt>`` (the folder
    is created when only its last part is missing)."""
    if plot_is_folder(target, several):
        Path(target).mkdir(exist_ok=True)
        return Path(target) / f"{Path(audio).stem}.{fmt}"
    return Path(target)


def plot_file(result: FileProbabilities, rows: list[DetectionRow], ensembles: dict[str, Ensemble], path: str | Path, *, reference=(), note=None) -> Path:
    """Save the Figure 4 picture of one recording (PNG, PDF or SVG by the extension): a panel per class above its log-mel."""
    from ..evaluation.plots import recording_figure, save_figure

    fig = recording_figure(result, rows, ensembles, reference=reference, note=note)
    try:
        return save_figure(fig, path)
    except OSError as exc:
        raise RsedError(path, f"cannot write the plot ({exc.strerror or exc})") from None


def add_detect_parsers(sub) -> None:
    """The ``rsed detect`` and ``rsed score`` commands."""
    det = sub.add_parser(
        "detect",
        help="detect events in recordings with trained detectors (docs/analysis.md)",
        description="Detect events in recordings. A recording up to one training clip long (30 s for DCASE) is decided "
        "once, as the paper decides a clip; a longer one in overlapping segments of the clip length, an event found by "
        "two segments reported once. Output is written as each file finishes.",
        formatter_class=Help,
    )
    det.add_argument("files", nargs="+", metavar="FILE", help="audio files libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...; any rate, channels and length)")
    det.add_argument("--models", required=True, help="a run's models folder (RUN/models), a recipe's folder, or one detector folder")
    det.add_argument(
        "--recipe",
        help="training recipe in a run's models folder: 'paper' (the folders in models/) or a name (models/NAME/) "
        "(default: 'plus' when models/plus/ holds detectors, else the paper's)",
    )
    det.add_argument("--classes", nargs="+", help="only these classes")
    det.add_argument("--architecture", help="which architecture's detectors (default: crnn, or the only one there is)")
    det.add_argument("--timesteps", type=int, nargs="+", help="ensemble members by timesteps (default: the ensemble their detector.json records)")
    seg = det.add_mutually_exclusive_group()
    seg.add_argument("--segment-seconds", type=float, help="one decision per consecutive segment of this length (default: overlapping segments of the training clip length)")
    seg.add_argument("--whole-file", action="store_true", help="one decision per file: at most one event per class, as the paper decides a clip")
    det.add_argument("--t1", type=float, help="presence threshold t1, overriding the detectors' (default: recorded in detector.json, else the paper's)")
    det.add_argument("--t2", type=float, help="onset threshold t2, overriding the detectors' (default: recorded, else 0.5)")
    det.add_argument("--lookback", type=float, help="onset look-back before the peak in seconds, overriding the detectors' (default: recorded, else 3)")
    det.add_argument("--format", choices=["dcase", "csv", "jsonl"], help="output: DCASE event-list lines, CSV with every field, or one JSON object per line (default: dcase)")
    det.add_argument("--json", action="store_true", help="the same as --format jsonl")
    det.add_argument("-o", "--output", metavar="FILE", help="write the output to FILE, file by file as each finishes (default: stdout)")
    det.add_argument("--probabilities", metavar="DIR", help="save each file's per-step probabilities, one file per class: DIR/<stem>_<class>.npy or .csv")
    det.add_argument("--probabilities-format", choices=["npy", "csv"], default="npy", help="format of --probabilities")
    det.add_argument("--plot", help="write the Figure 4 picture: a .png, .pdf or .svg path for one file, a folder for several")
    det.add_argument("--plot-format", choices=["png", "pdf", "svg"], default="png", help="format of the plots written into a --plot folder")
    det.add_argument("--reference", metavar="FILE", help="a DCASE event list whose events of each plotted file are drawn as its annotation")
    add_verbose(det)
    det.set_defaults(func=run_detect)

    score = sub.add_parser(
        "score",
        help="score event lists against reference lists with the challenge's settings",
        description="Score estimated event lists against reference event lists as DCASE 2017 Task 2 did (sed_eval, event-based, "
        "onset only, 500 ms collar): per class on the files of its reference lists, and the class average.",
        formatter_class=Help,
    )
    score.add_argument("estimates", metavar="ESTIMATES", help="an event list, or a folder of them (one per class)")
    score.add_argument("reference", metavar="REFERENCE", help="a reference event list, or a folder of them")
    score.add_argument("--json", action="store_true", help="print JSON instead of a table")
    score.set_defaults(func=run_score)

"""The ``rsed`` command line: data preparation, the whole reproduction, and detection on any recording.

Expected failures (a missing file, bad audio, a malformed event list) print one line naming
the file and the reason and exit with status 2; nothing here holds logic of its own. The top
of the package: it may import every stage, and no module of rsed imports it (.importlinter).
:func:`main_for_row` is the entry point of each script in ``experiments/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RsedError
from .run.pipeline import run_rows
from .run.rows import SCHEDULES, Experiment, RunResult, experiment_for, paper_rows, rows_for, with_training_options

if TYPE_CHECKING:  # annotations only: each command imports its stages when it runs
    from .inference.detect import DetectionRow, Ensemble, FileProbabilities


def _root(value: str | None) -> Path:
    value = value or os.environ.get("RSED_DATA")
    if not value:
        raise RsedError(None, "no data root: pass --root DIR or set RSED_DATA")
    return Path(value)


def _cmd_mini(args) -> None:
    from .config import MiniDataConfig
    from .data.mini import generate_mini

    config = MiniDataConfig(seed=args.seed)
    path = generate_mini(_root(args.root), config, workers=args.workers)
    print(f"mini source tree at {path}")


def _cmd_synthesize(args) -> None:
    from .config import MixtureConfig
    from .data.mixing import synthesize

    config = MixtureConfig(
        seed=args.seed,
        mixtures_per_class=args.mixtures_per_class,
        event_presence_prob=args.event_presence_prob,
        ebrs=tuple(args.ebrs),
        length_seconds=args.length,
    )
    sets = synthesize(_root(args.root), args.subset, args.split, config, classes=args.classes, workers=args.workers)
    for s in sets:
        print(f"{s.subset}/{s.param_hash}: {s.class_name} -> {s.event_list_path}")


def _cmd_dcase2017(args) -> None:
    from .data.dcase2017 import cli_prepare

    cli_prepare(
        _root(args.root),
        classes=args.classes,
        synthesizer=args.synthesizer,
        skip_evaluation=args.skip_evaluation,
        base_url=args.base_url,
        checksums=args.checksums,
    )


def _cmd_reproduce(args) -> None:
    reproduce_from_args(args)


class _Reported(Exception):
    """A failure already printed to stderr (exit status 2, nothing more to say)."""


def _cmd_detect(args) -> None:
    from .inference.detect import dcase_lines, decide, file_probabilities, load_detectors

    if args.segment_seconds is not None and not args.segment_seconds > 0:
        raise RsedError(None, f"--segment-seconds must be positive, got {args.segment_seconds}")
    files = [Path(f) for f in args.files]
    several = len(files) > 1
    if args.plot and several:
        stems = [f.stem for f in files]
        clashes = sorted({s for s in stems if stems.count(s) > 1})
        if clashes:
            raise RsedError(Path(args.plot), f"several inputs are named {', '.join(clashes)}; their plots would overwrite each other")
    ensembles = load_detectors(Path(args.models), classes=args.classes, architecture=args.architecture, timesteps=args.timesteps)
    rows, failed = [], []
    for path in progress(files, len(files), "detecting"):
        try:
            result = file_probabilities(path, ensembles)
        except RsedError as exc:
            print(f"rsed: error: {exc}", file=sys.stderr)
            failed.append(path)
            continue
        found = decide(result, ensembles, args.segment_seconds, name=str(path))
        rows.extend(found)
        if args.plot:
            plot_file(result, found, ensembles, plot_path(args.plot, path, several))
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        for line in dcase_lines(rows):
            print(line)
    if failed and len(files) > 1:
        raise RsedError(None, f"{len(failed)} of {len(files)} file(s) could not be processed (see above)")
    if failed:
        raise _Reported()


def plot_path(target: str | Path, audio: Path, several: bool) -> Path:
    """Where ``--plot target`` puts the figure of ``audio``: ``target`` itself for one file, unless
    ``target`` is a folder (existing, or written with a trailing slash) or there are several
    files; then ``target/<audio stem>.png`` (the folder is created)."""
    folder = several or Path(target).is_dir() or str(target).endswith(("/", os.sep))
    return Path(target) / f"{Path(audio).stem}.png" if folder else Path(target)


def plot_file(result: FileProbabilities, rows: list[DetectionRow], ensembles: dict[str, Ensemble], path: str | Path) -> Path:
    """Save the Figure 4 picture of one recording: one probability panel per class above its log-mel."""
    from .evaluation.plots import Panel, detection_figure, save_png

    panels = []
    for class_name, ensemble in sorted(ensembles.items()):
        onsets = tuple(r.onset for r in rows if r.class_name == class_name and r.onset is not None)
        post = ensemble.postprocess
        panels.append(Panel(class_name, result.probabilities[class_name], post.presence_threshold, post.onset_threshold, None, onsets))
    fig = detection_figure(panels, result.features.step_seconds, result.logmel, frame_seconds=result.features.frame_seconds, title=result.path.name)
    try:
        return save_png(fig, path)
    except OSError as exc:
        raise RsedError(path, f"cannot write the plot ({exc.strerror or exc})") from None


def progress(iterable, total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal and there is more than one item; the iterable itself otherwise."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="file", disable=not (total > 1 and sys.stderr.isatty()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rsed", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="prepare data in the DCASE 2017 Task 2 layout").add_subparsers(dest="data_command", required=True)
    mini = data.add_parser("mini", help="generate the embedded mini source tree")
    mini.add_argument("--root", help="data root (default: $RSED_DATA)")
    mini.add_argument("--seed", type=int, default=2017)
    mini.add_argument("--workers", type=int, help="processes generating files (default: every available core; same files for any number)")
    mini.set_defaults(func=_cmd_mini)

    syn = data.add_parser("synthesize", help="mix sources into a mixture subset (the official recipe)")
    syn.add_argument("--root", help="data root holding data/source_data (default: $RSED_DATA)")
    syn.add_argument("--subset", required=True, help="name of the mixture subset to write, e.g. train, devtrain, devtest")
    syn.add_argument("--split", required=True, choices=["devtrain", "devtest"], help="which cv_setup sources to draw from")
    syn.add_argument("--mixtures-per-class", type=int, default=500)
    syn.add_argument("--event-presence-prob", type=float, default=0.5)
    syn.add_argument("--ebrs", type=float, nargs="+", default=[-6.0, 0.0, 6.0])
    syn.add_argument("--length", type=float, default=30.0, help="mixture length in seconds")
    syn.add_argument("--seed", type=int, default=42)
    syn.add_argument("--classes", nargs="+", help="limit to these classes")
    syn.add_argument("--workers", type=int, help="processes rendering mixtures (default: every available core; same files for any number)")
    syn.set_defaults(func=_cmd_synthesize)

    dc = data.add_parser("dcase2017", help="download, verify, extract and synthesize DCASE 2017 Task 2 (docs/dcase2017.md)")
    dc.add_argument("--root", help="data root for the archives and data/ (default: $RSED_DATA)")
    dc.add_argument("--classes", nargs="+", help="limit to these classes (default: every class in the data)")
    dc.add_argument("--synthesizer", choices=["auto", "dcase_util", "rsed"], default="auto", help="official synthesizer via dcase_util, or ours")
    dc.add_argument("--skip-evaluation", action="store_true", help="only the development set")
    dc.add_argument("--base-url", help="a mirror folder holding the archives (default: Zenodo)")
    dc.add_argument("--checksums", help="md5sum-style file replacing the published checksums")
    dc.set_defaults(func=_cmd_dcase2017)

    rep = sub.add_parser("reproduce", help="features, training, detection, scoring and Tables 2-4 on a data root")
    add_reproduce_arguments(rep)
    rep.set_defaults(func=_cmd_reproduce)

    det = sub.add_parser("detect", help="detect events in recordings with trained detectors (docs/analysis.md)")
    det.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, ...; any rate, any channels, any length)")
    det.add_argument("--models", required=True, help="a run's models folder, or one detector folder")
    det.add_argument("--classes", nargs="+", help="only these classes")
    det.add_argument("--architecture", help="which architecture's detectors (default: crnn, or the only one there is)")
    det.add_argument("--timesteps", type=int, nargs="+", help="ensemble members by timesteps (default: the ensemble the run scored)")
    det.add_argument("--segment-seconds", type=float, help="one decision per segment of this length (default: one per file, as the paper)")
    det.add_argument("--plot", help="write the Figure 4 picture: a PNG path for one file, a folder for several")
    det.add_argument("--json", action="store_true", help="print JSON instead of DCASE lines")
    det.set_defaults(func=_cmd_detect)
    return parser


# --------------------------------------------------------------------------------------
# ``rsed reproduce`` and the scripts in experiments/
# --------------------------------------------------------------------------------------


def add_reproduce_arguments(parser: argparse.ArgumentParser, *, rows: bool = True) -> argparse.ArgumentParser:
    """The options of ``rsed reproduce`` (and, without ``--rows``, of every experiments/ script)."""
    parser.add_argument("--root", help="data root in the mixture layout (default: $RSED_DATA)")
    parser.add_argument("--out", required=True, help="run folder (features, models, predictions, results); a rerun resumes it")
    parser.add_argument("--classes", nargs="+", help="limit to these classes (default: every class in the data)")
    parser.add_argument("--schedule", choices=list(SCHEDULES), default="paper", help="'paper': the paper's training; 'short': a few epochs (demo)")
    parser.add_argument("--workers", type=int, help="feature extraction processes (default: every core)")
    parser.add_argument("--overwrite", action="store_true", help="replace the results of a run folder that holds another configuration")
    parser.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        default="default",
        help="train on one device, on every GPU of this host, or on the hosts in TF_CONFIG (docs/training.md)",
    )
    parser.add_argument("--mixed-precision", action="store_true", help="train in float16 on a GPU (ignored on the CPU)")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic TensorFlow ops on one CPU thread: the same weights run after run (slower; docs/robustness.md)",
    )
    if rows:
        parser.add_argument(
            "--rows",
            nargs="+",
            metavar="ROW",
            help="rows to run, in order ('all': every row of Tables 2-4; default: crnn_demo with --schedule short, crnn with paper); "
            "names: " + ", ".join(rows_for("paper")),
        )
    return parser


def experiments_from_args(args: argparse.Namespace) -> list[Experiment]:
    """The rows an ``rsed reproduce`` command line names, with its training options applied."""
    available = rows_for(args.schedule)
    names = list(getattr(args, "rows", None) or [experiment_for(args.schedule).row_id])
    if names == ["all"]:
        names = list(paper_rows(args.schedule))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise RsedError(None, f"unknown row(s) {', '.join(unknown)}; choose from all, {', '.join(available)}")
    options = dict(strategy=getattr(args, "strategy", "default"), mixed_precision=bool(getattr(args, "mixed_precision", False)))
    return [with_training_options(available[n], **options) for n in names]


def reproduce_from_args(args: argparse.Namespace) -> list[RunResult]:
    """Run the rows an ``rsed reproduce`` command line names; print Table 4 and each row's scores."""
    experiments = experiments_from_args(args)
    if getattr(args, "deterministic", False):
        from .training.fit import make_deterministic

        make_deterministic()
    if experiments[0].training.strategy != "default":
        from .training.distribute import make_strategy

        # Before TensorFlow runs anything: a multi-worker strategy configures the runtime once.
        make_strategy(experiments[0].training.strategy)
    results = run_rows(_root(args.root), Path(args.out), experiments, classes=args.classes, workers=args.workers, overwrite=args.overwrite)
    print_summary(results)
    return results


def print_summary(results: list[RunResult]) -> None:
    """Table 4 of the run folder beside the paper, then each row's class-averaged scores."""
    finished = [r for r in results if r.skipped is None]
    if finished:
        table = finished[-1].out / "results" / "table4.md"
        if table.is_file():
            print(table.read_text(encoding="utf-8"))
    for r in results:
        if r.skipped is not None:
            print(f"{r.row}: skipped ({r.skipped})")
            continue
        for subset, scores in r.scores.items():
            er, f1 = r.averages(subset)
            detail = ", ".join(f"{c} ER {s.error_rate:.2f} F1 {100 * s.f_measure:.1f}%" for c, s in scores.items())
            print(f"{r.row} {subset}: class-averaged ER {er:.3f}, F1 {100 * f1:.1f}% ({detail})")


def main_for_row(row: str, argv: list[str] | None = None) -> int:
    """Entry point of one experiments/ script: run row ``row`` with ``--root/--out/--schedule ...``; exit status."""
    import os

    parser = add_reproduce_arguments(argparse.ArgumentParser(description=f"Run the row {row!r} of the paper's tables (rsed reproduce --rows {row})."), rows=False)
    args = parser.parse_args(argv)
    args.rows = [row]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return exit_status(reproduce_from_args, args)


def exit_status(command, args) -> int:
    """Run ``command(args)``; a bad input or an interruption is one line on stderr and an exit status."""
    try:
        command(args)
    except _Reported:
        return 2
    except RsedError as exc:
        print(f"rsed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rsed: interrupted; finished stages are kept and a rerun resumes", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rsed`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return exit_status(args.func, args)


if __name__ == "__main__":
    sys.exit(main())

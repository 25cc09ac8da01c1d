"""The ``rsed`` command line: data preparation, the whole reproduction, and detection on any recording or stream.

The parser of every subcommand (its first line above is the command's description), the
``rsed data`` commands, and :func:`main`, the console script's entry point.
"""

from __future__ import annotations

import argparse
import os

from .common import data_root, exit_status
from .detect import run_detect
from .monitor import add_monitor_arguments, run_monitor
from .reproduce import add_reproduce_arguments, reproduce_from_args


def _cmd_mini(args) -> None:
    from ..config import MiniDataConfig
    from ..data.mini import generate_mini

    config = MiniDataConfig(seed=args.seed)
    path = generate_mini(data_root(args.root), config, workers=args.workers)
    print(f"mini source tree at {path}")


def _cmd_synthesize(args) -> None:
    from ..config import MixtureConfig
    from ..data.mixing import synthesize

    config = MixtureConfig(
        seed=args.seed,
        mixtures_per_class=args.mixtures_per_class,
        event_presence_prob=args.event_presence_prob,
        ebrs=tuple(args.ebrs),
        length_seconds=args.length,
    )
    sets = synthesize(data_root(args.root), args.subset, args.split, config, classes=args.classes, workers=args.workers)
    for s in sets:
        print(f"{s.subset}/{s.param_hash}: {s.class_name} -> {s.event_list_path}")


def _cmd_dcase2017(args) -> None:
    from ..data.dcase2017 import cli_prepare

    cli_prepare(
        data_root(args.root),
        classes=args.classes,
        synthesizer=args.synthesizer,
        skip_evaluation=args.skip_evaluation,
        base_url=args.base_url,
        checksums=args.checksums,
    )


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
    rep.set_defaults(func=reproduce_from_args)

    det = sub.add_parser("detect", help="detect events in recordings with trained detectors (docs/analysis.md)")
    det.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, ...; any rate, any channels, any length)")
    det.add_argument("--models", required=True, help="a run's models folder, or one detector folder")
    det.add_argument("--classes", nargs="+", help="only these classes")
    det.add_argument("--architecture", help="which architecture's detectors (default: crnn, or the only one there is)")
    det.add_argument("--timesteps", type=int, nargs="+", help="ensemble members by timesteps (default: the ensemble the run scored)")
    det.add_argument("--segment-seconds", type=float, help="one decision per segment of this length (default: one per file, as the paper)")
    det.add_argument("--plot", help="write the Figure 4 picture: a PNG path for one file, a folder for several")
    det.add_argument("--json", action="store_true", help="print JSON instead of DCASE lines")
    det.set_defaults(func=run_detect)

    mon = sub.add_parser("monitor", help="detect events in a live stream as they happen (docs/analysis.md)")
    add_monitor_arguments(mon)
    mon.set_defaults(func=run_monitor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rsed`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return exit_status(args.func, args)

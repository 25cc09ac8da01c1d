"""The ``rsed`` command line: data preparation, the whole reproduction, detection on any recording or stream, scoring.

The parser of every subcommand, the ``rsed data`` commands, and :func:`main`, the console
script's entry point.
"""

from __future__ import annotations

from ..version import __version__
from .common import Help, Parser, add_verbose, data_root, exit_status, quiet_tensorflow
from .detect import add_detect_parsers
from .monitor import add_monitor_arguments, run_monitor
from .reproduce import add_reproduce_parser

DESCRIPTION = "rsed: rare sound event detection with the CRNN of Amiriparian et al. (DAGA 2018) on DCASE 2017 Task 2."


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


def add_data_parser(sub) -> None:
    """The ``rsed data`` commands."""
    data = sub.add_parser("data", help="prepare data in the DCASE 2017 Task 2 layout", formatter_class=Help)
    data = data.add_subparsers(dest="data_command", required=True, metavar="WHAT")
    mini = data.add_parser("mini", help="generate the embedded mini source tree", formatter_class=Help)
    mini.add_argument("--root", help="data root (default: $RSED_DATA)")
    mini.add_argument("--seed", type=int, default=2017, help="random seed of the generated sounds")
    mini.add_argument("--workers", type=int, help="processes generating files (default: every available core; same files for any number)")
    mini.set_defaults(func=_cmd_mini)

    syn = data.add_parser("synthesize", help="mix sources into a mixture subset (the official recipe)", formatter_class=Help)
    syn.add_argument("--root", help="data root holding data/source_data (default: $RSED_DATA)")
    syn.add_argument("--subset", required=True, help="name of the mixture subset to write, e.g. train, devtrain, devtest")
    syn.add_argument("--split", required=True, choices=["devtrain", "devtest"], help="which cv_setup sources to draw from")
    syn.add_argument("--mixtures-per-class", type=int, default=500, help="mixtures of each class")
    syn.add_argument("--event-presence-prob", type=float, default=0.5, help="share of mixtures holding an event")
    syn.add_argument("--ebrs", type=float, nargs="+", default=[-6.0, 0.0, 6.0], help="event-to-background ratios (dB) drawn from")
    syn.add_argument("--length", type=float, default=30.0, help="mixture length in seconds")
    syn.add_argument("--seed", type=int, default=42, help="random seed of the recipe")
    syn.add_argument("--classes", nargs="+", help="limit to these classes (default: every class of the sources)")
    syn.add_argument("--workers", type=int, help="processes rendering mixtures (default: every available core; same files for any number)")
    syn.set_defaults(func=_cmd_synthesize)

    dc = data.add_parser("dcase2017", help="download, verify, extract and synthesize DCASE 2017 Task 2 (docs/dcase2017.md)", formatter_class=Help)
    dc.add_argument("--root", help="data root for the archives and data/ (default: $RSED_DATA)")
    dc.add_argument("--classes", nargs="+", help="limit to these classes (default: every class in the data)")
    dc.add_argument("--synthesizer", choices=["auto", "dcase_util", "rsed"], default="auto", help="official synthesizer via dcase_util, or ours")
    dc.add_argument("--skip-evaluation", action="store_true", help="only the development set")
    dc.add_argument("--base-url", help="a mirror folder holding the archives (default: Zenodo)")
    dc.add_argument("--checksums", help="md5sum-style file replacing the published checksums")
    dc.set_defaults(func=_cmd_dcase2017)


def build_parser() -> Parser:
    """The ``rsed`` parser: ``data``, ``reproduce``, ``detect``, ``score`` and ``monitor``."""
    parser = Parser(prog="rsed", description=DESCRIPTION, formatter_class=Help)
    parser.add_argument("--version", action="version", version=f"rsed {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_parser(sub)
    add_reproduce_parser(sub)
    add_detect_parsers(sub)
    mon = sub.add_parser("monitor", help="detect events in a live stream as they happen (docs/analysis.md)", formatter_class=Help)
    add_monitor_arguments(mon)
    add_verbose(mon)
    mon.set_defaults(func=run_monitor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rsed`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not getattr(args, "verbose", False):
        quiet_tensorflow()
    return exit_status(args.func, args)



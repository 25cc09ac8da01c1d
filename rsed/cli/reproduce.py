"""``rsed reproduce`` and the scripts in experiments/: rows of the paper's tables into one run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ONSET_RULES, TrainConfig
from ..errors import RsedError
from ..run.pipeline import run_rows
from ..run.rows import SCHEDULES, Experiment, RunResult, experiment_for, paper_rows, rows_for, with_training_options
from .common import Help, Parser, add_verbose, data_root, exit_status, quiet_tensorflow


def _cmd_reproduce(args) -> None:
    reproduce_from_args(args)


def add_reproduce_parser(sub) -> None:
    """The ``rsed reproduce`` command."""
    rep = sub.add_parser("reproduce", help="features, training, detection, scoring and Tables 2-4 on a data root", formatter_class=Help)
    add_reproduce_arguments(rep)
    add_verbose(rep)
    rep.set_defaults(func=_cmd_reproduce)

def add_reproduce_arguments(parser: argparse.ArgumentParser, *, rows: bool = True) -> argparse.ArgumentParser:
    """The options of ``rsed reproduce`` (and, without ``--rows``, of every experiments/ script)."""
    parser.add_argument("--root", help="data root in the mixture layout (default: $RSED_DATA)")
    parser.add_argument("--out", required=True, help="run folder (features, models, predictions, results); a rerun resumes it")
    parser.add_argument("--classes", nargs="+", help="limit to these classes (default: every class in the data)")
    parser.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        default="paper",
        help="'paper': the paper's training, at least 100 epochs per detector (GPU work); 'short': a few epochs, the demo on a CPU",
    )
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
        "--seed",
        type=int,
        help="training seed of every detector (default: 1234 for CRNNs and CNNs, 0 for the FNN); a run folder holds one seed, so report several seeds from several folders",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic TensorFlow ops on one CPU thread: the same weights run after run (slower; docs/robustness.md)",
    )
    parser.add_argument(
        "--positive-fraction",
        type=_fraction,
        metavar="F",
        help=f"share of every training batch drawn from windows holding event steps (0: natural sampling; default {TrainConfig().positive_fraction:g}); "
        "the paper names no remedy for the imbalance (docs/interpretation.md)",
    )
    parser.add_argument(
        "--no-prior-correction",
        action="store_true",
        help="keep the trained output as it is instead of shifting its logit back to the natural share of event steps",
    )
    parser.add_argument(
        "--onset-rule",
        choices=list(ONSET_RULES),
        help="onset before the peak: 'earliest' step above t2 in the look-back (also across a dip) or the 'contiguous' run "
        "holding the peak (default: chosen per class on validation with the look-back)",
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


def _fraction(text: str) -> float:
    """A number in [0, 1] (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


def experiments_from_args(args: argparse.Namespace) -> list[Experiment]:
    """The rows an ``rsed reproduce`` command line names, with its training options applied."""
    available = rows_for(args.schedule)
    names = list(getattr(args, "rows", None) or [experiment_for(args.schedule).row_id])
    if names == ["all"]:
        names = list(paper_rows(args.schedule))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise RsedError(None, f"unknown row(s) {', '.join(unknown)}; choose from all, {', '.join(available)}")
    options = dict(
        strategy=getattr(args, "strategy", "default"),
        mixed_precision=bool(getattr(args, "mixed_precision", False)),
        seed=getattr(args, "seed", None),
        positive_fraction=getattr(args, "positive_fraction", None),
        prior_correction=False if getattr(args, "no_prior_correction", False) else None,
        onset_rule=getattr(args, "onset_rule", None),
    )
    return [with_training_options(available[n], **options) for n in names]


def reproduce_from_args(args: argparse.Namespace) -> list[RunResult]:
    """Run the rows an ``rsed reproduce`` command line names; print Table 4 and each row's scores."""
    experiments = experiments_from_args(args)
    if getattr(args, "deterministic", False):
        from ..training.fit import make_deterministic

        make_deterministic()
    if experiments[0].training.strategy != "default":
        from ..training.distribute import make_strategy

        # Before TensorFlow runs anything: a multi-worker strategy configures the runtime once.
        make_strategy(experiments[0].training.strategy)
    results = run_rows(data_root(args.root), Path(args.out), experiments, classes=args.classes, workers=args.workers, overwrite=args.overwrite)
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
    parser = Parser(description=f"Run the row {row!r} of the paper's tables (rsed reproduce --rows {row}).", formatter_class=Help)
    add_reproduce_arguments(parser, rows=False)
    add_verbose(parser)
    args = parser.parse_args(argv)
    args.rows = [row]
    if not args.verbose:
        quiet_tensorflow()
    return exit_status(reproduce_from_args, args)

"""``bayesnet sample``, ``bayesnet fit`` and ``bayesnet diff``: synthetic cohorts, learning from cases,
and what changed between two knowledge bases."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bayesnet.cli.arguments import non_negative_int, positive_int
from bayesnet.cli.output import check_output_name
from bayesnet.errors import BayesnetError

if TYPE_CHECKING:  # pragma: no cover
    from bayesnet.model import Model

__all__ = ["add_sample_arguments", "cmd_sample", "add_fit_arguments", "cmd_fit"]


def share(text: str) -> float:
    """argparse type: a share between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def _progress(args: argparse.Namespace, total: int | None, what: str, unit: str = " cases"):
    show = sys.stderr.isatty() if args.progress is None else args.progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=what, file=sys.stderr, dynamic_ncols=True)


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--cases", type=positive_int, required=True, metavar="N", help="the number of cases")
    parser.add_argument("-o", "--output", metavar="FILE", required=True,
                        help="the cohort file: Parquet if it ends .parquet or .pq, else CSV")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--missing", type=share, default=0.0, metavar="SHARE",
                        help="share of finding cells left unobserved at random (default 0)")
    parser.add_argument("--missing-labels", type=share, default=0.0, metavar="SHARE",
                        help="share of condition cells left unobserved at random (default 0)")
    parser.add_argument("--no-labels", dest="labels", action="store_false", help="leave out the condition columns")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on standard error (default: when it is a terminal)")


def cmd_sample(model: Model, args: argparse.Namespace) -> int:
    from bayesnet.cohort.files import write_cohort

    check_output_name(args.output)
    bar = _progress(args, args.cases, "sampling")
    try:
        frame = model.sample(args.cases, seed=args.seed, missing=args.missing, missing_labels=args.missing_labels,
                             labels=args.labels, progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    write_cohort(frame, args.output)
    print(f"bayesnet: wrote {len(frame)} sampled cases to {args.output} from the {model.knowledge_base}",
          file=sys.stderr)
    return 0


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cohort", metavar="COHORT",
                        help="the cases: CSV or Parquet (by the name's ending), one column per node (conditions where "
                             "labelled, findings where recorded); an empty cell is unobserved, never absent")
    parser.add_argument("-o", "--output", metavar="FOLDER", required=True,
                        help="a new or empty folder for the fitted knowledge base")
    parser.add_argument("--id", dest="id_column", metavar="COLUMN", help="a column of case identifiers (not a node)")
    parser.add_argument("--max-iterations", type=positive_int, default=200, metavar="N",
                        help="stop after N iterations (default 200)")
    parser.add_argument("--tolerance", type=float, default=1e-6, metavar="NATS",
                        help="stop when an iteration raises the log posterior by less than this per case (default 1e-6)")
    parser.add_argument("--report", metavar="FILE",
                        help="also write the table of every record before and after (CSV)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on standard error (default: when it is a terminal)")


def cmd_fit(model: Model, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bayesnet.errors import OutputError

    target = Path(args.output)
    if not args.output or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise OutputError(f"-o must name a new or empty folder, got {args.output!r}")
    if args.report:
        check_output_name(args.report, "report")
    if not args.tolerance >= 0:
        raise BayesnetError(f"--tolerance must be a number >= 0, got {args.tolerance!r}")
    bar = _progress(args, args.max_iterations, "fitting (EM iterations)", unit=" it")

    def progress(iteration: int, log_posterior: float) -> None:
        if bar is not None:
            bar.set_postfix_str(f"log posterior {log_posterior:.6g}")
            bar.update(1)

    try:
        result = model.fit(args.cohort, max_iterations=args.max_iterations, tolerance=args.tolerance,
                           id_column=args.id_column, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    result.write(target)
    if args.report:
        result.table.to_csv(args.report)
    fitted = int(result.table["fitted"].sum())
    state = "converged" if result.converged else "stopped at --max-iterations"
    print(f"bayesnet: fitted {fitted} of {len(result.table)} numbers to {result.cases} cases in {result.iterations} "
          f"iterations ({state}; log posterior {result.log_posterior[0]:.6g} -> {result.log_posterior[-1]:.6g}); "
          f"wrote {target}", file=sys.stderr)
    return 0

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

__all__ = ["add_sample_arguments", "cmd_sample", "add_fit_arguments", "cmd_fit", "add_diff_arguments", "cmd_diff"]


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
                        help="stop when an iteration (a SQUAREM cycle) raises the log posterior by less than this "
                             "per case (default 1e-6)")
    parser.add_argument("--intervals", choices=["observed", "complete"], default="observed",
                        help="95%% intervals from the observed information, the other numbers free (default; one or "
                             "more E-steps per number when conditions or context are missing), or from each number's "
                             "complete-data counts alone (cheap, too narrow)")
    parser.add_argument("--plain", action="store_true", help="plain EM steps, without the SQUAREM acceleration")
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

    from bayesnet.cohort.scoring import UnknownColumnError

    try:
        result = model.fit(args.cohort, max_iterations=args.max_iterations, tolerance=args.tolerance,
                           id_column=args.id_column, progress=progress, intervals=args.intervals,
                           accelerate=not args.plain)
    except UnknownColumnError as error:
        if args.id_column is not None:
            raise
        raise UnknownColumnError(list(error.names), error.valid,
                                 "; a column of case identifiers is named with --id") from None
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


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", metavar="FOLDER_A", help="a knowledge-base folder (before)")
    parser.add_argument("second", metavar="FOLDER_B", help="a knowledge-base folder (after)")
    parser.add_argument("--top", type=positive_int, default=20, metavar="N",
                        help="list the N numbers that moved most (default 20)")
    parser.add_argument("--scenarios", metavar="FILE",
                        help="scenarios (CSV with columns case, evidence) whose top condition is compared "
                             "(default: scripts/scenarios.csv of a checkout, if there)")
    parser.add_argument("--csv", metavar="FILE", help="also write every number side by side (CSV)")
    parser.add_argument("--png", metavar="FILE", help="also plot each number's value and range, before against after")


def _default_scenarios():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "scenarios.csv"
    return path if path.is_file() else None


def cmd_diff(model: Model, args: argparse.Namespace) -> int:
    from bayesnet.analysis.scenarios import read_scenarios
    from bayesnet.learning.comparison import compare_parameters, compare_scenarios
    from bayesnet.model import load

    for name in (args.csv, args.png):
        if name:
            check_output_name(name)
    a, b = load(args.first), load(args.second)
    numbers = compare_parameters(a, b)
    moved = numbers[numbers["change"].abs() > 0]
    lines = [f"{a.knowledge_base} -> {b.knowledge_base}",
             f"{len(moved)} of {len(numbers)} numbers differ; the {min(args.top, len(moved))} that moved most "
             "(moved: change over the width of the first range):"]
    shown = moved.head(args.top)
    if len(shown):
        table = shown[["kind_a", "value_a", "low_a", "high_a", "kind_b", "value_b", "low_b", "high_b", "moved"]]
        lines.append(table.to_string(float_format=lambda x: f"{x:.4g}"))
    path = args.scenarios or _default_scenarios()
    if path is not None:
        scenarios = compare_scenarios(a, b, read_scenarios(path))
        changed = scenarios[scenarios["changed"]]
        lines.append(f"\n{len(changed)} of {len(scenarios)} scenarios change their top condition"
                     + (":" if len(changed) else "."))
        if len(changed):
            lines.append(changed.to_string(float_format=lambda x: f"{x:.4f}"))
    sys.stdout.write("\n".join(lines) + "\n")
    if args.csv:
        numbers.to_csv(args.csv)
    if args.png:
        _plot(numbers, args.png, str(a.knowledge_base), str(b.knowledge_base))
    return 0


def _plot(numbers, path: str, first: str, second: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    both = numbers.dropna(subset=["value_a", "value_b"])
    moved = both["change"].abs() > 0
    fig, ax = plt.subplots(figsize=(7.5, 7))
    for mask, colour, label in ((~moved, "0.7", "unchanged"), (moved.to_numpy(), "C0", "changed")):
        part = both[mask]
        if not len(part):
            continue
        x, y = part["value_a"].to_numpy(float), part["value_b"].to_numpy(float)
        xerr = np.abs(np.vstack([x - part["low_a"].to_numpy(float), part["high_a"].to_numpy(float) - x]))
        yerr = np.abs(np.vstack([y - part["low_b"].to_numpy(float), part["high_b"].to_numpy(float) - y]))
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", ms=3, color=colour, ecolor=colour, elinewidth=0.6,
                    alpha=0.7, label=f"{label} ({len(part)})")
    low = max(1e-6, float(np.nanmin(both[["low_a", "low_b", "value_a", "value_b"]].to_numpy(float).clip(1e-6))))
    ax.plot([low, 1], [low, 1], color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"before: value and range\n{first}")
    ax.set_ylabel(f"after: value and 95% interval\n{second}")
    ax.set_title("Every number of the knowledge base, before and after")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

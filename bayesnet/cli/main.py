"""The ``bayesnet`` command line.

Evidence is written ``node=state`` (hard), ``node=a,b`` (one of these states), ``node!=a`` (not
this state) or ``node=0.2,0.8`` (a likelihood per state, in the node's state order). Bad input ends
with one message on standard error and exit status 2; Ctrl-C (SIGINT) and SIGTERM end with one line,
exit status 130 or 143, and no half-written output file.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from bayesnet import __version__
from bayesnet.cli.arguments import EVIDENCE_HELP, EXIT_INTERRUPTED, EXIT_USAGE, ArgumentParser
from bayesnet.cli.explain_command import add_explain_arguments, add_next_arguments, cmd_explain, cmd_next
from bayesnet.cli.output import OutputFile, Stopped, check_output_name, stop_on_signals
from bayesnet.cli.learn_commands import (add_diff_arguments, add_fit_arguments, add_sample_arguments, cmd_diff, cmd_fit,
                                         cmd_sample)
from bayesnet.cli.score_command import add_score_arguments, cmd_score
from bayesnet.cli.serve_command import add_serve_arguments, check_serve, cmd_serve
from bayesnet.errors import BayesnetError
from bayesnet.inference.evidence import parse_evidence
from bayesnet.knowledge.identity import DIFF_COLUMNS, diff_folders
from bayesnet.model import Model, default_priors_path, load

__all__ = ["main", "parse_evidence"]


def _write(text: str, output: str | None) -> None:
    target = OutputFile("-" if output is None else output)
    try:
        target.write(text)
        target.commit()
    finally:
        target.discard()


def _format_differential(frame: pd.DataFrame, top: int | None) -> str:
    shown = frame if top is None else frame.head(top)
    table = pd.DataFrame({
        "condition": shown.index,
        "posterior": shown["posterior"].map("{:.4f}".format),
        "prior": shown["prior"].map("{:.4f}".format),
        "ratio": shown["ratio"].map("{:.2f}".format),
    })
    table.index = range(1, len(table) + 1)
    return table.to_string() + "\n"


# ---------------------------------------------------------------------------- commands
NONE_LINE = ("no modelled condition: {:.4f} (the chance that the mineral has a cause outside the model; "
             "prior {:.4f})\n")
IMPLIED_LINE = ("answered with {} implied: every query is about a patient with mineral somewhere, and the "
                "evidence rules out the other places\n")


def cmd_query(model: Model, args: argparse.Namespace) -> int:
    frame = model.posteriors(parse_evidence(args.evidence))
    if args.json:
        payload = {
            "evidence": args.evidence,
            "log_evidence": frame.attrs["log_evidence"],
            "none": frame.attrs["none"],
            "none_prior": frame.attrs["none_prior"],
            "implied": frame.attrs["implied"],
            "knowledge_base": frame.attrs["knowledge_base"],
            "differential": [{"condition": c, **{k: float(v) for k, v in row.items()}} for c, row in frame.iterrows()],
        }
        _write(json.dumps(payload, indent=2) + "\n", None)
    else:
        _write(_format_differential(frame, args.top) + NONE_LINE.format(frame.attrs["none"], frame.attrs["none_prior"])
               + (IMPLIED_LINE.format(frame.attrs["implied"]) if frame.attrs["implied"] else ""), None)
    return 0


def cmd_nodes(model: Model, args: argparse.Namespace) -> int:
    frame = model.nodes()
    if args.type:
        frame = frame[frame["type"] == args.type]
    if args.search:
        words = args.search.lower().split()
        text = (frame.index.to_series() + " " + frame["group"] + " " + frame["states"] + " " + frame["description"]).str.lower()
        frame = frame[text.apply(lambda t: all(w in t for w in words))]
        if frame.empty:
            raise BayesnetError(f"no node matches {args.search!r}; try fewer or shorter words, or 'bayesnet nodes' for all")
    if args.json:
        _write(frame.reset_index().to_json(orient="records", indent=2) + "\n", None)
    else:
        _write(_format_nodes(frame), None)
    return 0


def _format_nodes(frame: pd.DataFrame) -> str:
    """Nodes grouped by type and group, each with its states and a wrapped description."""
    lines: list[str] = []
    for type_ in ("context", "condition", "finding"):
        part = frame[frame["type"] == type_]
        if part.empty:
            continue
        lines.append(f"{type_} nodes ({len(part)})")
        for group, rows in part.groupby("group", sort=False):
            lines.append(f"  {group}")
            for node, row in rows.iterrows():
                states = "" if row["states"] == "absent|present" else f"  [{row['states']}]"
                lines.append(f"    {node}{states}")
                lines += textwrap.wrap(row["description"], width=96, initial_indent=" " * 8, subsequent_indent=" " * 8)
        lines.append("")
    return "\n".join(lines)


def cmd_provenance(model: Model, args: argparse.Namespace) -> int:
    if args.summary:
        frame = model.number_summary()
        if args.format == "csv":
            text = frame.to_csv()
        else:
            text = frame.reset_index().to_json(orient="records", indent=2) + "\n"
        _write(text, args.output)
        return 0
    shipped = default_priors_path()
    changes = [] if _same_folder(model.knowledge.path, shipped) else diff_folders(model.knowledge.path, shipped)
    if args.diff:
        frame = pd.DataFrame([asdict(c) for c in changes], columns=list(DIFF_COLUMNS))
        frame[["line", "shipped_line"]] = frame[["line", "shipped_line"]].astype("Int64")
    else:
        frame = model.leak_cells() if args.leak_cells else model.provenance()
    text = frame.to_csv(index=False) if args.format == "csv" else frame.to_json(orient="records", indent=2) + "\n"
    _write(text, args.output)
    print(_provenance_note(model, changes, shipped), file=sys.stderr)
    return 0




def cmd_evaluate(model: Model, args: argparse.Namespace) -> int:
    from bayesnet.analysis.evaluation import calibration_figure, evaluate, read_cases

    result = evaluate(model, read_cases(args.cases))
    if args.json:
        payload = {"summary": result.summary.to_dict(),
                   "by_condition": result.by_condition.reset_index().to_dict(orient="records"),
                   "wrong_tops": result.wrong_tops.reset_index().to_dict(orient="records"),
                   "calibration": result.calibration.to_dict(orient="records"),
                   "cases": result.cases.to_dict(orient="records"), "errors": result.errors.to_dict(orient="records")}
        _write(json.dumps(payload, indent=2, default=float) + "\n", None)
    else:
        s = result.summary
        lines = [f"{int(s['cases'])} cases: top-1 {s['top1']:.1%}, top-3 {s['top3']:.1%}, top-5 {s['top5']:.1%}; "
                 f"mean posterior of the reported condition {s['mean_posterior_of_truth']:.3f}; Brier score {s['brier']:.3f}",
                 f"ranked by Bayes factor, as if every condition had the same prior odds (the case set's mix of "
                 f"conditions set aside): top-1 {s['top1_equal_odds']:.1%}, top-3 {s['top3_equal_odds']:.1%}, "
                 f"top-5 {s['top5_equal_odds']:.1%}",
                 "", "per reported condition:", result.by_condition.to_string(float_format="{:.3f}".format), "",
                 "conditions on top when the reported diagnosis is another "
                 "(count, and share of the cases whose truth is another condition):",
                 result.wrong_tops.to_string(float_format="{:.1%}".format) if len(result.wrong_tops) else "  none", "",
                 "calibration (every case x condition pair):",
                 result.calibration.to_string(index=False, float_format="{:.3f}".format)]
        implied = result.cases.dropna(subset=["implied"])
        if len(implied):
            lines += ["", f"{len(implied)} case(s) answered with a presenting finding implied by the others' absence "
                      "(every query is about a patient with mineral somewhere):",
                      *(f"  {r.case}: {r.implied}" for r in implied.itertuples())]
        if len(result.errors):
            lines += ["", f"{len(result.errors)} case(s) could not be answered:",
                      *(f"  {r.case}: {r.message}" for r in result.errors.itertuples())]
        _write("\n".join(lines) + "\n", None)
    if args.png:
        figure = calibration_figure(result)
        figure.savefig(args.png, dpi=120)
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False


def _provenance_note(model: Model, changes: list, shipped: Path) -> str:
    """One line: which knowledge base this is, and whether (and where) it differs from the shipped one."""
    identity = model.knowledge_base
    head = f"bayesnet: {identity} in {identity.path}"
    if not changes:
        same = _same_folder(model.knowledge.path, shipped)
        return head + ("" if same else "; its tables are the shipped ones")
    rows = sum(c.change in ("added", "removed") for c in changes) + len({(c.file, c.row) for c in changes
                                                                         if c.change == "changed"})
    files = sorted({c.file for c in changes})
    return (head + f"; it differs from the shipped knowledge base in {rows} row{'s' if rows != 1 else ''} "
            f"of {', '.join(files)} (bayesnet provenance --diff lists them)")


def cmd_export(model: Model, args: argparse.Namespace) -> int:
    check_output_name(args.output)
    model.export(args.output, args.format)
    print(f"wrote {args.output} ({args.format})", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="bayesnet", description="Differential diagnosis of ectopic mineralisation.")
    parser.add_argument("--version", action="version", version=f"bayesnet {__version__}")
    parser.add_argument("--priors", metavar="DIR", help="knowledge-base folder (default: the shipped one)")
    parser.add_argument("--no-literature", action="store_true",
                        help="set aside the rows of kind literature: the seeds' rows answer alone")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser, metavar="COMMAND")

    p = sub.add_parser("query", help="the ranked differential for some evidence",
                       description="Print P(condition present | evidence) for every condition, ranked.")
    p.add_argument("evidence", nargs="*", metavar="node=state", help=EVIDENCE_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--top", type=int, metavar="N", help="show only the first N conditions")
    p.set_defaults(run=cmd_query)

    p = sub.add_parser("nodes", help="list the vocabulary: context, conditions and findings")
    p.add_argument("--type", choices=["context", "condition", "finding"], help="only nodes of this type")
    p.add_argument("--search", metavar="WORDS", help="only nodes whose name, group, states or description contain "
                                                     "every word (case-insensitive), e.g. --search 'lung bone'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_nodes)

    p = sub.add_parser("provenance", help="every number with its source, quote, kind and range")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--leak-cells", action="store_true",
                       help="list the finding x condition cells left at the leak (no effect) instead")
    shown.add_argument("--summary", action="store_true",
                       help="count the numbers of each kind that enter the network, cells at the leak included")
    shown.add_argument("--diff", action="store_true",
                       help="every row in which the knowledge base (--priors) differs from the shipped one instead")
    p.set_defaults(run=cmd_provenance)

    p = sub.add_parser("evaluate", help="rank the reported diagnosis of a set of cases: top-k, calibration",
                       description="Answer every case of a case set (CSV with columns case, condition, evidence) and "
                                   "report how the reported condition ranks: top-1/3/5 overall and per condition, "
                                   "the mean posterior of the truth, the Brier score, the conditions that take the "
                                   "top place wrongly, and calibration.")
    p.add_argument("cases", metavar="CASES", help="the case set, e.g. tests/data/development_cases.csv")
    p.add_argument("--png", metavar="FILE", help="also write the calibration plot here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("export", help="write the network for other Bayesian-network tools")
    p.add_argument("--format", choices=["bif", "xmlbif"], default="xmlbif",
                   help="xmlbif keeps full double precision; bif readers may parse 32-bit floats")
    p.add_argument("-o", "--output", metavar="FILE", required=True)
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("score", help="score a CSV file of cases, one row of posteriors per case",
                       description="Score every case of a CSV file (streamed in chunks) and write one row of "
                                   "P(condition present | the case's evidence) per case.")
    add_score_arguments(p)
    p.set_defaults(run=cmd_score)

    p = sub.add_parser("explain", help="why the differential looks as it does: weights of evidence",
                       description="Weight of evidence of each evidence item, for one condition (--condition) "
                                   "or for the top conditions side by side.")
    add_explain_arguments(p)
    p.set_defaults(run=cmd_explain)

    p = sub.add_parser("next", help="which unobserved finding to look for next",
                       description="Rank unobserved findings by the expected reduction in the entropy of "
                                   "the differential, with the chance that each changes the top condition.")
    add_next_arguments(p)
    p.set_defaults(run=cmd_next)

    p = sub.add_parser("sample", help="draw a synthetic cohort from the model (CSV or Parquet)",
                       description="Draw patients of the population (some presenting finding present) exactly "
                                   "from the model: context, conditions and findings, in the cohort format of "
                                   "'bayesnet score'.")
    add_sample_arguments(p)
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser("fit", help="update every number from a cohort of cases (EM); write a knowledge-base folder",
                       description="Fit the knowledge base's numbers to a cohort by expectation-maximisation towards "
                                   "the posterior mode: each record's value and range is its prior. Writes a "
                                   "knowledge-base folder in which each updated record keeps its row and gains a "
                                   "row of kind fitted.")
    add_fit_arguments(p)
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("diff", help="what changed between two knowledge-base folders: numbers and top conditions",
                       description="List the numbers that moved most between two knowledge bases (a fit's prior and "
                                   "result, say) and the scenarios whose top condition changes; --png plots every "
                                   "number before against after with its range.")
    add_diff_arguments(p)
    p.set_defaults(run=cmd_diff)

    p = sub.add_parser("serve", help="the differential as a local web page",
                       description="Serve the differential as a web page and a JSON API on this machine "
                                   "(needs the web extra: pip install \"bayesnet[web]\").")
    add_serve_arguments(p)
    p.set_defaults(run=cmd_serve, check=check_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[Model, argparse.Namespace], int] = args.run
    try:
        with stop_on_signals():
            if getattr(args, "check", None) is not None:
                args.check(args)  # what a command needs beyond the model, checked before the model loads
            model = load(args.priors, literature=not args.no_literature)
            status = run(model, args)
            sys.stdout.flush()  # a full disk behind standard output is reported here, not at exit
            return status
    except BayesnetError as error:
        print(f"bayesnet: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into head: nothing more to say, and nothing more to flush
        _silence_stdout()
        return 0
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"bayesnet: error: {error.strerror or error}{where}", file=sys.stderr)
        _silence_stdout()
        return EXIT_USAGE
    except KeyboardInterrupt as stop:  # Ctrl-C, or a Stopped signal
        signum = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
        what = "interrupted (SIGINT)" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        after = "the server has stopped" if args.command == "serve" else "output files are written only by a complete run"
        print(f"bayesnet: {what}; {after}", file=sys.stderr)
        return EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum
    finally:
        listening = getattr(args, "socket", None)  # bayesnet serve's socket, bound before the model loads
        if listening is not None:
            listening.close()


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - no file descriptor (a test's captured stream)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

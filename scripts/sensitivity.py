#!/usr/bin/env python
"""Sensitivity analysis of the differential: which numbers matter, and how far the answer could move.

Subcommands (each writes CSV and PNG files into ``--output``, default ``sensitivity-out``):

``oneway``      one-way sensitivity of one condition's posterior to every parameter, and a tornado plot
``deviation``   admissible deviation: how far each parameter can move before the top condition changes
``montecarlo``  second-order Monte Carlo: medians and 90% intervals of every posterior
``whatif``      re-read every verbal value through other verbal scales, over the scenario set
``report``      all of the above over the scenario set, with a Markdown report

A scenario is either evidence on the command line (``node=state ...``) or ``--case NAME`` from the
scenario set (``--scenarios``, default ``scripts/scenarios.csv``). Bad input ends with one message
and exit status 2.

Examples
--------
    python scripts/sensitivity.py oneway --case fop_neck -o out
    python scripts/sensitivity.py montecarlo trauma=present peripheral_rim=present --draws 10000 --seed 0
    python scripts/sensitivity.py report -o report
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesnet  # noqa: E402
from bayesnet.cli.arguments import EXIT_USAGE, ArgumentParser, non_negative_int, positive_int  # noqa: E402
from bayesnet.errors import BayesnetError, UnknownNameError  # noqa: E402
from bayesnet.inference.evidence import parse_evidence  # noqa: E402
from bayesnet.analysis.montecarlo import monte_carlo  # noqa: E402
from bayesnet.analysis.scenarios import read_scenarios  # noqa: E402
from bayesnet.analysis.sensitivity import admissible_deviation, one_way, parameter_importance, sensitivity_functions  # noqa: E402
from bayesnet.analysis.verbal_whatif import SCALE_COLUMNS, read_verbal_scale, stretched_scale, verbal_what_if  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SCENARIOS = HERE / "scenarios.csv"
#: log-odds factors of the default alternative verbal scales
DEFAULT_FACTORS = {"extreme": 1.5, "cautious": 1 / 1.5}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "scenario"


# ---------------------------------------------------------------------------- scenarios
def _scenario(args: argparse.Namespace) -> tuple[str, dict]:
    """The one scenario a single-scenario command studies: ``(name, evidence)``."""
    if args.case and args.evidence:
        raise BayesnetError("give either evidence (node=state ...) or --case, not both")
    if args.case:
        scenarios = {s.case: s for s in read_scenarios(args.scenarios)}
        if args.case not in scenarios:
            raise UnknownNameError(f"case of {args.scenarios}", args.case, list(scenarios))
        return args.case, dict(scenarios[args.case].evidence)
    return "evidence", parse_evidence(args.evidence)


def _expected(path: str) -> dict[str, str]:
    """Each case's ``expected_top`` where the scenario file gives one."""
    return {s.case: s.fields.get("expected_top", "") for s in read_scenarios(path)}


def _all_scenarios(model: bayesnet.Model, path: str) -> list[tuple[str, dict]]:
    items = [(s.case, dict(s.evidence)) for s in read_scenarios(path)]
    for case, evidence in items:
        try:
            model.encode(evidence)
        except BayesnetError as error:
            raise BayesnetError(f"{path}, case {case!r}: {error}") from None
    return items


# ---------------------------------------------------------------------------- plots
def plot_tornado(frame: pd.DataFrame, path: Path, top: int, title: str) -> Path:
    """Bars from the posterior at each parameter's low to its high, largest swing on top."""
    shown = frame.head(top).iloc[::-1]
    base = float(frame["posterior"].iloc[0]) if len(frame) else 0.0
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) + 1.6))
    y = np.arange(len(shown))
    ax.barh(y, shown["at_low"] - base, left=base, color="#4477aa", label="parameter at low")
    ax.barh(y, shown["at_high"] - base, left=base, color="#ee6677", label="parameter at high")
    ax.axvline(base, color="black", linewidth=0.8)
    ax.set_yticks(y, shown.index, fontsize=8)
    ax.set_xlabel(f"P({frame.attrs.get('target', 'target')} present | evidence)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_intervals(summary: pd.DataFrame, path: Path, top: int, title: str) -> Path:
    """Each condition's point posterior, Monte Carlo median and 90% interval."""
    shown = summary.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(shown) + 1.6))
    y = np.arange(len(shown))
    ax.hlines(y, shown["q05"], shown["q95"], color="#4477aa", linewidth=3, label="90% interval")
    ax.plot(shown["median"], y, "o", color="#4477aa", label="median")
    ax.plot(shown["point"], y, "x", color="black", label="point")
    ax.set_yticks(y, shown.index, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(condition present | evidence)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_importance(frame: pd.DataFrame, path: Path, top: int) -> Path:
    shown = frame.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) + 1.6))
    ax.barh(np.arange(len(shown)), shown["max_swing"], color="#228833")
    ax.set_yticks(np.arange(len(shown)), shown.index, fontsize=8)
    ax.set_xlabel("largest swing of any posterior (over the range, any scenario)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _progress(args: argparse.Namespace, total: int):
    """A tqdm bar on standard error when asked for, or on a terminal for long runs; else None."""
    show = args.progress if args.progress is not None else (sys.stderr.isatty() and total >= 2000)
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="draw", file=sys.stderr)


def _monte_carlo(model, evidence, args, bar=None):
    own = bar is None
    bar = _progress(args, args.draws) if own else bar
    try:
        return monte_carlo(model, evidence, draws=args.draws, seed=args.seed,
                           progress=None if bar is None else bar.update)
    finally:
        if own and bar is not None:
            bar.close()


# ---------------------------------------------------------------------------- commands
def cmd_oneway(model: bayesnet.Model, args: argparse.Namespace) -> int:
    name, evidence = _scenario(args)
    frame = one_way(model, evidence, target=args.target)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    target = frame.attrs["target"]
    csv_path = out / f"oneway_{_slug(name)}_{target}.csv"
    frame.to_csv(csv_path, index_label="parameter")
    png = plot_tornado(frame, out / f"tornado_{_slug(name)}_{target}.png", args.top,
                       f"{name}: the {args.top} parameters with the largest swing")
    print(f"wrote {csv_path} and {png}")
    return 0


def cmd_deviation(model: bayesnet.Model, args: argparse.Namespace) -> int:
    name, evidence = _scenario(args)
    frame = admissible_deviation(model, evidence)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"deviation_{_slug(name)}.csv"
    frame.to_csv(path, index_label="parameter")
    print(f"wrote {path}: {int(frame['changes_within_range'].sum())} parameter(s) can change the top "
          f"condition ({frame['top'].iloc[0]}) within their range")
    return 0


def cmd_montecarlo(model: bayesnet.Model, args: argparse.Namespace) -> int:
    name, evidence = _scenario(args)
    start = time.perf_counter()
    result = _monte_carlo(model, evidence, args)
    seconds = time.perf_counter() - start
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"montecarlo_{_slug(name)}.csv"
    result.summary.to_csv(path)
    png = plot_intervals(result.summary, out / f"montecarlo_{_slug(name)}.png", args.top,
                         f"{name}: {args.draws} draws, seed {args.seed}")
    if args.save_draws:
        result.posteriors.to_csv(out / f"montecarlo_{_slug(name)}_draws.csv")
    print(f"wrote {path} and {png}: {args.draws} draws in {seconds:.2f} s; top {result.top} changes in "
          f"{result.top_changed:.1%} of draws")
    return 0


def _scales(model: bayesnet.Model, paths: Sequence[str] | None) -> dict:
    if paths:
        return {Path(p).stem: read_verbal_scale(p) for p in paths}
    return {name: stretched_scale(model.knowledge.verbal_scale, f) for name, f in DEFAULT_FACTORS.items()}


def _write_scales(scales: dict, out: Path) -> None:
    """Each alternative scale as a CSV in the format of verbal_scale.csv, for review."""
    for name, scale in scales.items():
        frame = pd.DataFrame([{c: getattr(v, c) for c in SCALE_COLUMNS} for v in scale], columns=list(SCALE_COLUMNS))
        frame.to_csv(out / f"scale_{_slug(name)}.csv", index=False)


def cmd_whatif(model: bayesnet.Model, args: argparse.Namespace) -> int:
    scales = _scales(model, args.scale)
    frame = verbal_what_if(model, _all_scenarios(model, args.scenarios), scales)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    _write_scales(scales, out)
    path = out / "whatif.csv"
    frame.to_csv(path, index=False)
    print(f"wrote {path}: the top condition changes in {int(frame['top_changed'].sum())} of {len(frame)} "
          "scenario-scale pairs")
    return 0


def _table(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """A Markdown table (no extra dependency)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [floats.format(v) if isinstance(v, (float, np.floating)) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def cmd_report(model: bayesnet.Model, args: argparse.Namespace) -> int:
    scenarios = _all_scenarios(model, args.scenarios)
    expected = _expected(args.scenarios)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    bar = _progress(args, args.draws * len(scenarios))
    rows, deviations, computed = [], [], {}
    timings = {"oneway": 0.0, "montecarlo": 0.0}
    try:
        for case, evidence in scenarios:
            slug = _slug(case)
            start = time.perf_counter()
            functions = computed[case] = sensitivity_functions(model, evidence)
            frame = one_way(model, evidence, functions=functions)
            timings["oneway"] += time.perf_counter() - start
            frame.to_csv(out / f"oneway_{slug}.csv", index_label="parameter")
            plot_tornado(frame, out / f"tornado_{slug}.png", args.top, f"{case}: largest swings")
            deviation = admissible_deviation(model, evidence, functions)
            deviation.to_csv(out / f"deviation_{slug}.csv", index_label="parameter")
            flips = deviation[deviation["changes_within_range"]]
            deviations.append((case, flips))
            start = time.perf_counter()
            mc = _monte_carlo(model, evidence, args, bar=bar)
            timings["montecarlo"] += time.perf_counter() - start
            mc.summary.to_csv(out / f"montecarlo_{slug}.csv")
            plot_intervals(mc.summary, out / f"montecarlo_{slug}.png", args.top, f"{case}: {args.draws} draws")
            top = mc.summary.loc[mc.top]
            rows.append({"case": case, "expected": expected.get(case, ""), "top": mc.top, "posterior": top["point"],
                         "median": top["median"],
                         "q05": top["q05"], "q95": top["q95"], "top changes (MC)": f"{mc.top_changed:.1%}",
                         "parameters that can change the top": len(flips),
                         "largest swing": f"{frame.index[0]} ({frame['swing'].iloc[0]:.3f})"})
    finally:
        if bar is not None:
            bar.close()
    importance = parameter_importance(model, scenarios, negligible=args.negligible, functions=computed)
    importance.to_csv(out / "importance.csv", index_label="parameter")
    plot_importance(importance, out / "importance.png", args.top)
    scales = _scales(model, args.scale)
    whatif = verbal_what_if(model, scenarios, scales)
    whatif.to_csv(out / "whatif.csv", index=False)
    _write_scales(scales, out)
    summary = pd.DataFrame(rows)
    summary.to_csv(out / "scenarios_summary.csv", index=False)

    kinds = pd.Series([p.kind for p in model.knowledge.parameters]).value_counts()
    never = importance[importance["negligible"] & (importance["exercised"] > 0)]
    idle = importance[importance["exercised"] == 0]
    lines = [
        "# Sensitivity analysis of the differential", "",
        f"Knowledge base `{model.knowledge.path}` (version {model.knowledge_base.version}, sha256 "
        f"`{model.knowledge_base.sha256}`): {len(model.knowledge.parameters)} parameters ("
        + ", ".join(f"{v} {k}" for k, v in kinds.items()) + f"); {len(scenarios)} scenarios from "
        f"`{args.scenarios}`; Monte Carlo {args.draws} draws per scenario, seed {args.seed}. "
        f"Time: one-way analysis of every parameter {timings['oneway'] / len(scenarios):.2f} s per scenario, "
        f"Monte Carlo {timings['montecarlo'] / len(scenarios):.2f} s per scenario.", "",
        "Parameters are varied on the network's native scale (prior entries with their sibling states "
        "co-varied proportionally; leaks and noisy-OR links one at a time) over their `low`-`high` range; "
        "see the README's sensitivity section.", "",
        "## Scenarios", "",
        "The condition the case was written for (`expected`), the model's top condition, its posterior and "
        "the Monte Carlo median and 90% interval; how often the top changes across draws; how many parameters "
        "can change the top within their range.", "",
        _table(summary), "",
        "## The parameters that matter most across the whole differential", "",
        "Largest swing of any condition's posterior over the parameter's range, in any scenario; "
        "`top_changes` counts the scenarios whose top condition changes within the range.", "",
        _table(importance.head(args.top).reset_index()[["parameter", "kind", "max_swing", "scenario", "condition",
                                                        "mean_swing", "top_changes"]]), "",
        "![importance](importance.png)", "",
        "## Parameters that can change the top condition within their range", "",
    ]
    any_flip = False
    for case, flips in deviations:
        if len(flips):
            any_flip = True
            shown = flips.reset_index()[["parameter", "x0", "lower", "upper", "lower_takes_over", "upper_takes_over"]]
            lines += [f"**{case}** (top: {flips['top'].iloc[0]}; native values)", "", _table(shown, "{:.4g}"), ""]
    if not any_flip:
        lines += ["None: in every scenario the top condition holds over every parameter's range.", ""]
    lines += ["## Tornado plots and Monte Carlo intervals", ""]
    for case, _ in scenarios:
        slug = _slug(case)
        lines += [f"### {case}", "", f"![tornado {case}](tornado_{slug}.png)", "",
                  f"![monte carlo {case}](montecarlo_{slug}.png)", ""]
    lines += [
        "## Verbal-scale what-if", "",
        "Every verbal value re-read through another scale: "
        + ("; ".join(f"`{n}` (log-odds x {f:.3g})" for n, f in DEFAULT_FACTORS.items()) if not args.scale
           else ", ".join(f"`{p}`" for p in args.scale)) + "; each scale used is written beside this report as "
        "`scale_<name>.csv`.", "",
        _table(whatif[["scenario", "scale", "top", "top_posterior", "new_top", "new_top_posterior", "top_changed",
                       "rank_correlation", "max_change"]]), "",
        "## Parameters that never matter", "",
        f"{len(never)} of {len(importance)} parameters enter the answer of at least one scenario, yet move no "
        f"posterior by {args.negligible:g} or more in any scenario over their range and never change the top "
        "condition:", "",
        ", ".join(f"`{name}`" for name in never.index) if len(never) else "(none)", "",
        f"Another {len(idle)} parameters are not exercised by the scenario set at all (the leaks and links of "
        "findings that no scenario observes): "
        + (", ".join(f"`{name}`" for name in idle.index) if len(idle) else "(none)") + ".", "",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {report} with its CSV and PNG files in {out}")
    return 0


# ---------------------------------------------------------------------------- parser
def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--priors", metavar="DIR", help="knowledge-base folder (default: the shipped one)")
    p.add_argument("--scenarios", metavar="CSV", default=str(DEFAULT_SCENARIOS),
                   help="scenario set: columns case, evidence (default: %(default)s)")
    p.add_argument("-o", "--output", metavar="DIR", default="sensitivity-out",
                   help="folder for the files written (default: %(default)s)")
    p.add_argument("--top", type=positive_int, default=15, metavar="K",
                   help="parameters or conditions shown in plots and tables (default: %(default)s)")


def _single(p: argparse.ArgumentParser) -> None:
    p.add_argument("evidence", nargs="*", metavar="node=state", help="the scenario's evidence")
    p.add_argument("--case", metavar="NAME", help="a case of the scenario set instead of evidence")


def _monte_carlo_options(p: argparse.ArgumentParser, draws: int) -> None:
    p.add_argument("--draws", type=positive_int, default=draws, metavar="N",
                   help="Monte Carlo draws per scenario (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S", help="random seed (default: %(default)s)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: on a terminal, for long runs)")


def _scale_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", action="append", metavar="CSV",
                   help="an alternative verbal scale (the columns of verbal_scale.csv); repeatable. Default: the "
                        "shipped scale made more extreme and more cautious on the log-odds scale")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="sensitivity", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser, metavar="COMMAND")

    p = sub.add_parser("oneway", help="one-way sensitivity and a tornado plot")
    _common(p)
    _single(p)
    p.add_argument("--target", metavar="CONDITION", help="condition studied (default: the top-ranked one)")
    p.set_defaults(run=cmd_oneway)
    p = sub.add_parser("deviation", help="admissible deviation of every parameter")
    _common(p)
    _single(p)
    p.set_defaults(run=cmd_deviation)
    p = sub.add_parser("montecarlo", help="second-order Monte Carlo")
    _common(p)
    _single(p)
    _monte_carlo_options(p, draws=10_000)
    p.add_argument("--save-draws", action="store_true", help="also write every draw's posteriors")
    p.set_defaults(run=cmd_montecarlo)
    p = sub.add_parser("whatif", help="verbal-scale what-if over the scenario set")
    _common(p)
    _scale_options(p)
    p.set_defaults(run=cmd_whatif)
    p = sub.add_parser("report", help="everything over the scenario set, as Markdown with PNGs")
    _common(p)
    _monte_carlo_options(p, draws=10_000)
    _scale_options(p)
    p.add_argument("--negligible", type=_probability, default=1e-3, metavar="D",
                   help="a parameter never matters if no posterior swings by D or more (default %(default)s)")
    p.set_defaults(run=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sensitivity scripts; returns the exit status (0 success, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already reported in one line
        return int(stop.code or 0)
    try:
        model = bayesnet.load(args.priors)
        return args.run(model, args)
    except BayesnetError as error:
        print(f"sensitivity: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"sensitivity: error: {error.strerror or error}{where}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Plot a differential and why it looks as it does, as PNG files.

Writes into ``--output`` (default ``differential-out``):

``differential.png``   the top conditions' posteriors as bars, each with its prior marked
``woe_<C>.png``        the weight of evidence of every evidence item for condition C (default: the
                       top condition), with the prior and posterior log odds in the title
``woe_compare.png``    the weights of evidence for the top conditions side by side (a heat map)

With no evidence only the differential is drawn.

Bad input (an unknown node, state or condition, impossible evidence) ends with one message and
exit status 2.

Examples
--------
    python scripts/plot_differential.py fluid_fluid_levels=present site_periarticular_large_joint=present
    python scripts/plot_differential.py trauma=present rim_by_4_6_weeks=present --condition fop -o out
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesnet  # noqa: E402
from bayesnet.cli.arguments import EXIT_USAGE, ArgumentParser, positive_int  # noqa: E402
from bayesnet.errors import BayesnetError  # noqa: E402
from bayesnet.inference.evidence import parse_evidence  # noqa: E402

def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="plot_differential.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("evidence", nargs="*", metavar="node=state", help="evidence, e.g. fluid_fluid_levels=present")
    parser.add_argument("--condition", metavar="C", help="condition of the weight-of-evidence chart (default: the top one)")
    parser.add_argument("--top", type=positive_int, default=8, metavar="N",
                        help="conditions in the bar chart (default 8); the comparison shows at most 5")
    parser.add_argument("--priors", metavar="DIR", help="knowledge-base folder (default: the shipped one)")
    parser.add_argument("-o", "--output", metavar="DIR", default="differential-out", help="folder for the PNG files")
    return parser


def plot_posteriors(frame: pd.DataFrame, path: Path) -> None:
    """Horizontal bars of the posteriors, priors marked, highest on top."""
    shown = frame.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(shown) + 1.4))
    y = np.arange(len(shown))
    ax.barh(y, shown["posterior"], color="#3b6ea8", label="posterior")
    ax.scatter(shown["prior"], y, marker="|", s=300, color="#d08020", linewidths=2.5, label="prior", zorder=3)
    for yi, p in zip(y, shown["posterior"]):
        ax.text(min(p + 0.01, 0.9), yi, f"{p:.3f}", va="center", fontsize=8)
    ax.set_yticks(y, [c.replace("_", " ") for c in shown.index], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(condition present | evidence)")
    ax.set_title("Differential", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_weights(frame: pd.DataFrame, path: Path) -> None:
    """Horizontal bars of one condition's weights of evidence, in favour in blue, against in red."""
    a = frame.attrs
    shown = frame.iloc[::-1]
    woe = np.nan_to_num(shown["woe"].to_numpy(), nan=0.0, posinf=50.0, neginf=-50.0)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(shown), 1) + 1.6))
    y = np.arange(len(shown))
    ax.barh(y, woe, color=np.where(woe >= 0, "#3b6ea8", "#b8473d"))
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [f"{e}  (#{p})" for e, p in zip(shown.index, shown["position"])], fontsize=8)
    ax.set_xlabel("weight of evidence, natural log (chain rule, in the order #)")
    ax.set_title(f"{a['condition'].replace('_', ' ')}: prior {a['prior']:.3g} -> posterior {a['posterior']:.3g}\n"
                 f"log odds {a['prior_log_odds']:+.2f} -> {a['posterior_log_odds']:+.2f}; the bars add up to the change",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_comparison(frame: pd.DataFrame, path: Path) -> None:
    """A heat map of weights of evidence: items (rows) by conditions (columns)."""
    values = frame.to_numpy(dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    limit = max(float(finite.max()) if finite.size else 1.0, 1e-6)
    fig, ax = plt.subplots(figsize=(1.6 * len(frame.columns) + 3.5, 0.45 * max(len(frame), 1) + 2.2))
    image = ax.imshow(np.nan_to_num(values), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        dark = np.isfinite(v) and abs(v) > 0.6 * limit
        ax.text(j, i, f"{round(v, 2) + 0.0:+.2f}", ha="center", va="center", fontsize=7,
                color="white" if dark else "black")
    ax.set_xticks(range(len(frame.columns)), [c.replace("_", "\n") for c in frame.columns], fontsize=7)
    ax.set_yticks(range(len(frame)), list(frame.index), fontsize=8)
    ax.set_title("Weight of evidence for each condition (natural log); rows by how much they separate them",
                 fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        model = bayesnet.load(args.priors)
        evidence = parse_evidence(args.evidence)
        differential = model.posteriors(evidence)
        observed = set(evidence)
        condition = args.condition
        if condition is None:
            condition = next((c for c in differential.index if c not in observed), None)
        single = model.explain(evidence, condition) if condition is not None and evidence else None
        compare = model.explain(evidence, top=min(args.top, 5)) if evidence else None
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "differential.png"]
        plot_posteriors(differential.head(args.top), written[0])
        if single is not None:
            written.append(out / f"woe_{condition}.png")
            plot_weights(single, written[-1])
        if compare is not None and len(compare.columns):
            written.append(out / "woe_compare.png")
            plot_comparison(compare, written[-1])
    except BayesnetError as error:
        print(f"plot_differential.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"plot_differential.py: error: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

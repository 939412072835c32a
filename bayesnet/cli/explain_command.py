"""``bayesnet explain`` and ``bayesnet next``: why the differential looks as it does, and what to look for next."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayesnet.cli.arguments import EVIDENCE_HELP, positive_int
from bayesnet.inference.evidence import parse_evidence

if TYPE_CHECKING:  # pragma: no cover
    from bayesnet.model import Model

__all__ = ["add_explain_arguments", "cmd_explain", "add_next_arguments", "cmd_next"]


def _number(x: float, signed: bool = False) -> str:
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "+inf" if x > 0 else "-inf"
    x = round(float(x), 3) + 0.0  # no "-0.000"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _ratio(x: float) -> str:
    if np.isnan(x):
        return "nan"
    return f"{x:.3g}" if 1e-3 <= x < 1e4 else f"{x:.2e}"


def _finite(x: float) -> float | None:
    """A number for JSON (None for NaN; infinities as +/-1e308 would mislead, so None too)."""
    return float(x) if np.isfinite(x) else None


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``bayesnet explain``."""
    parser.add_argument("evidence", nargs="*", metavar="node=state", help=EVIDENCE_HELP)
    parser.add_argument("--condition", metavar="C",
                        help="explain this condition item by item (default: compare the top conditions)")
    parser.add_argument("--top", type=positive_int, default=4, metavar="N",
                        help="conditions compared side by side when --condition is not given (default 4)")
    parser.add_argument("--order", nargs="+", metavar="NODE",
                        help="the chain order of the observed nodes (default: the order given)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_next_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``bayesnet next``."""
    parser.add_argument("evidence", nargs="*", metavar="node=state", help=EVIDENCE_HELP)
    parser.add_argument("--top", type=positive_int, default=10, metavar="N", help="show the first N findings (default 10)")
    parser.add_argument("--conditions", nargs="+", metavar="C",
                        help="count only these conditions' uncertainty (default: every condition)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_explain(model: Model, args: argparse.Namespace) -> int:

    evidence = parse_evidence(args.evidence)
    frame = model.explain(evidence, args.condition, top=args.top, order=args.order)
    frame.attrs["knowledge_base"] = model.knowledge_base.as_dict()
    if args.condition is not None:
        text = _explain_one(frame, args.json)
    else:
        text = _explain_many(frame, args.json)
    sys.stdout.write(text)
    return 0


def _explain_one(frame: pd.DataFrame, as_json: bool) -> str:
    a = frame.attrs
    if as_json:
        payload = {
            "knowledge_base": a["knowledge_base"],
            "condition": a["condition"], "prior": a["prior"], "posterior": a["posterior"],
            "prior_log_odds": _finite(a["prior_log_odds"]), "posterior_log_odds": _finite(a["posterior_log_odds"]),
            "items": [{"evidence": e, **{k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()}}
                      for e, row in frame.astype(object).iterrows()],
        }
        return json.dumps(payload, indent=2) + "\n"
    lines = [
        f"{a['condition']}: prior {a['prior']:.4f} -> posterior {a['posterior']:.4f}; "
        f"log odds {_number(a['prior_log_odds'], True)} -> {_number(a['posterior_log_odds'], True)} "
        f"(change {_number(a['posterior_log_odds'] - a['prior_log_odds'], True)})",
        "weight of evidence (woe, natural log): each item in the chain order (#), given the items before it;",
        "the woe column adds up to the change. 'alone' is the item as the only evidence, 'last' given all the rest.",
    ]
    if frame.empty:
        return "\n".join(lines + ["(no evidence)"]) + "\n"
    table = pd.DataFrame({
        "#": frame["position"],
        "woe": frame["woe"].map(lambda x: _number(x, True)),
        "ratio": frame["likelihood_ratio"].map(_ratio),
        "alone": frame["woe_alone"].map(lambda x: _number(x, True)),
        "last": frame["woe_last"].map(lambda x: _number(x, True)),
    }, index=frame.index)
    return "\n".join(lines) + "\n" + table.to_string() + "\n"


def _explain_many(frame: pd.DataFrame, as_json: bool) -> str:
    a = frame.attrs
    conditions = list(frame.columns)
    if as_json:
        payload = {
            "knowledge_base": a["knowledge_base"],
            "conditions": [{"condition": c, "prior_log_odds": _finite(a["prior_log_odds"][c]),
                            "posterior_log_odds": _finite(a["posterior_log_odds"][c])} for c in conditions],
            "items": [{"evidence": e, "spread": _finite(a["spread"][e]),
                       "woe": {c: _finite(row[c]) for c in conditions}} for e, row in frame.iterrows()],
        }
        return json.dumps(payload, indent=2) + "\n"
    lines = ["weight of evidence (natural log) of each item for each of the top conditions, in the order given;",
             "items that separate the conditions most (largest spread) first; each column adds up to the",
             "condition's change in log odds (last row)."]
    if frame.empty:
        return "\n".join(lines + ["(no evidence)"]) + "\n"
    table = frame.map(lambda x: _number(x, True))
    table["spread"] = a["spread"].map(_number)
    change = a["posterior_log_odds"] - a["prior_log_odds"]
    table.loc["(change in log odds)"] = [*(_number(change[c], True) for c in conditions), ""]
    return "\n".join(lines) + "\n" + table.to_string() + "\n"


def cmd_next(model: Model, args: argparse.Namespace) -> int:

    frame = model.next_findings(parse_evidence(args.evidence), conditions=args.conditions)
    shown = frame.head(args.top)
    a = frame.attrs
    if args.json:
        payload = {
            "knowledge_base": model.knowledge_base.as_dict(),
            "entropy_bits": a["entropy"], "top": a["top"],
            "findings": [{"finding": f, **{k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()}}
                         for f, row in shown.astype(object).iterrows()],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return 0
    scope = "the listed conditions" if args.conditions else "all conditions"
    lines = [f"entropy of the differential ({scope}): {a['entropy']:.3f} bits; top condition: {a['top']}",
             "findings ranked by expected entropy reduction (bits); P(top changes): the chance that seeing it "
             "puts another condition on top"]
    table = pd.DataFrame({
        "finding": shown.index,
        "reduction": shown["expected_entropy_reduction"].map("{:.4f}".format),
        "P(present)": shown["p_present"].map("{:.3f}".format),
        "P(top changes)": shown["p_top_changes"].map("{:.3f}".format),
        "top if present": shown["top_if_present"].fillna("-"),
        "top if absent": shown["top_if_absent"].fillna("-"),
    })
    table.index = range(1, len(table) + 1)
    sys.stdout.write("\n".join(lines) + "\n" + table.to_string() + "\n")
    return 0

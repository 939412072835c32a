#!/usr/bin/env python3
"""Recovery of known numbers by fitting: draw a cohort from the shipped network with its numbers
perturbed within their ranges, fit from the shipped numbers, and report how many of the numbers
the cohort informs have the truth within their 95% interval, the held-out log likelihood before
and after, and the EM iterations and their times.

    python scripts/recovery.py --cases 50000                         # complete cases
    python scripts/recovery.py --cases 5000 --missing 0.3 --hide-labels --max-iterations 10
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import bayesnet
from bayesnet.analysis.montecarlo import sample as draw_records, uncertainty
from bayesnet.analysis.parameters import batch_from_records
from bayesnet.cohort.scoring import encode_frame
from bayesnet.inference.engine import ExactEngine
from bayesnet.learning.fitting import readings as record_readings
from bayesnet.learning.sampling import sample_cohort


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--held-out", type=int, default=5_000)
    parser.add_argument("--missing", type=float, default=0.0, help="share of finding cells hidden at random")
    parser.add_argument("--hide-labels", action="store_true", help="hide every condition label")
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--intervals", choices=["observed", "complete"], default="observed")
    parser.add_argument("--plain", action="store_true", help="plain EM steps (no SQUAREM acceleration)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument("--table", metavar="FILE", help="also write every record with its truth and interval (CSV)")
    args = parser.parse_args()
    model = bayesnet.load()
    values = draw_records(uncertainty(model), 1, args.seed)
    truth = batch_from_records(model.network, model.knowledge.parameters, model.locations, values).network(model.network, 0)
    start = time.perf_counter()
    cohort = sample_cohort(truth, args.cases, seed=args.seed + 1, missing=args.missing,
                           missing_labels=1.0 if args.hide_labels else 0.0)
    sampled = time.perf_counter() - start
    result = model.fit(cohort, max_iterations=args.max_iterations, intervals=args.intervals, accelerate=not args.plain,
                       progress=lambda i, lp: print(f"iteration {i}: log posterior {lp:.6f}", file=sys.stderr, flush=True))
    table = result.table
    true = record_readings(model.knowledge, model.locations, truth)
    informed = table["informed"].to_numpy()
    ordered = {o.name for o in model.network.ordered}
    roles = np.array([f"ordered {p.role}" if p.node in ordered else p.role for p in model.knowledge.parameters], dtype=object)

    def coverage(frame):
        covered = (frame["low"].to_numpy() <= true + 1e-12) & (true <= frame["high"].to_numpy() + 1e-12)
        by_role = {role: f"{covered[informed & (roles == role)].mean():.3f} of {int((informed & (roles == role)).sum())}"
                   for role in dict.fromkeys(roles) if (informed & (roles == role)).any()}
        return covered, round(float(covered[informed].mean()), 4), by_role

    covered, share, by_role = coverage(table)
    _, share_one, by_role_one = coverage(result.one_at_a_time)
    print(f"{result.iterations} iterations ({'converged' if result.converged else 'not converged'}), "
          f"{sum(result.seconds):.1f} s; intervals {result.interval_seconds:.1f} s; covered {share} {by_role}; "
          f"one number at a time {share_one} {by_role_one}", file=sys.stderr, flush=True)
    if args.table:
        table.assign(truth=true, covered=covered, low_one=result.one_at_a_time["low"],
                     high_one=result.one_at_a_time["high"]).to_csv(args.table)
    before = after = float("nan")
    if args.held_out:
        held_out = sample_cohort(truth, args.held_out, seed=args.seed + 2, missing=args.missing, labels=False)
        batch = encode_frame(model, held_out).batch
        before = float(ExactEngine(model.network).query_batch(batch)[0].mean())
        print(f"held out before: {before:.5f}", file=sys.stderr, flush=True)
        after = float(ExactEngine(result.network).query_batch(batch)[0].mean())
    figures = {
        "cases": args.cases, "missing": args.missing, "labels hidden": args.hide_labels,
        "sample seconds": round(sampled, 2),
        "informed": int(informed.sum()), "of records": len(table),
        "truth within 95% interval": share, "by role": by_role,
        "one number at a time": share_one, "by role, one at a time": by_role_one,
        "held-out mean log likelihood before": round(before, 5), "after": round(after, 5),
        "iterations": result.iterations, "converged": result.converged,
        "seconds per iteration": [round(x, 2) for x in result.seconds],
        "total seconds": round(sum(result.seconds), 1),
        "interval seconds": round(result.interval_seconds, 1),
        "log posterior": [round(x, 3) for x in result.log_posterior],
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

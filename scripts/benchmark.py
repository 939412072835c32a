#!/usr/bin/env python
"""Benchmark the exact engine against pgmpy VariableElimination and pyAgrum LazyPropagation.

On the shipped network and the same generated cases, in one run, it prints:

* per single query (all condition marginals), for light evidence (5 findings, 1 positive), heavy
  evidence (15 findings, 10 positive) and the worst case (every finding observed, 12 and 20
  positive): the median latency and cases per second of each engine, the ratios, and the largest
  difference between the engines' posteriors;
* batch throughput of :meth:`bayesnet.inference.engine.ExactEngine.query_batch` on 100,000 cases (15
  findings, 3 positive) with the context known and unknown;
* parameter-batch throughput of :func:`bayesnet.inference.engine.query_parameter_batch` (10,000 draws);
* the peak memory of the worst-case queries.

One query is: an evidence mapping in, every condition's posterior out. For our engine that is
``model.answer(evidence)`` (encoding, checking, inference); for pgmpy ``model.reference_posteriors``
(one ``VariableElimination.query`` per condition, the fastest way pgmpy offers: a single query for
all conditions with ``joint=False`` is slower); for pyAgrum, on the network loaded from our XMLBIF
export, one ``LazyPropagation`` reused across queries: erase the evidence, set it, infer, read each
condition's posterior. Each engine answers every case once as warm-up, then ``--repeats`` times,
each query timed alone with ``time.perf_counter``.

Examples
--------
    python scripts/benchmark.py                      # the full run, a few minutes
    python scripts/benchmark.py --cases 5 --repeats 1 --batch-size 10000 --draws 1000   # quick
    python scripts/benchmark.py -o benchmark.md
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import bayesnet
from bayesnet.cli.arguments import EXIT_USAGE, ArgumentParser, non_negative_int, positive_int
from bayesnet.inference.engine import ParameterBatch, query_parameter_batch
from bayesnet.errors import BayesnetError
from bayesnet.cohort.scoring import encode_frame
from bayesnet.knowledge.network import derive_rows

Evidence = dict


@dataclass(frozen=True)
class Scenario:
    """A kind of query: how many findings are observed and how many of them are positive."""

    name: str
    observed: int | None          # None: every finding
    positive: int
    pgmpy: bool = True


#: light cases and passes timed for ``model.posteriors`` beside ``model.answer``
FRAME_CASES, FRAME_PASSES = 50, 6

SCENARIOS = (
    Scenario("light: 5 findings, 1 positive", 5, 1),
    Scenario("heavy: 15 findings, 10 positive", 15, 10),
    Scenario("worst: every finding, 12 positive", None, 12, pgmpy=False),
    Scenario("worst: every finding, 20 positive", None, 20, pgmpy=False),
)


# ---------------------------------------------------------------------------- cases
def make_cases(model: bayesnet.Model, rng: np.random.Generator, scenario: Scenario, count: int,
               context_known: bool) -> list[Evidence]:
    """``count`` evidence mappings: the presenting finding in soft tissue present (every patient of the
    population has one), and other findings chosen uniformly, ``positive - 1`` of them in a state
    above their lowest (present) and the rest in their lowest (absent); with ``context_known`` every
    context node set to a state drawn from its prior."""
    presenting = "mineral_soft_tissue"
    findings = [f for f in model.findings if f != presenting]
    observed = len(findings) + 1 if scenario.observed is None else scenario.observed
    cases = []
    for _ in range(count):
        chosen = rng.choice(len(findings), size=observed - 1, replace=False)
        evidence: Evidence = {presenting: "present"}
        for n, i in enumerate(chosen):
            states = model.states(findings[i])
            evidence[findings[i]] = states[1 + rng.integers(len(states) - 1)] if n < scenario.positive - 1 else states[0]
        if context_known:
            for node, states, prior in zip(model.network.context, model.network.context_states,
                                           model.network.context_prior):
                evidence[node] = states[rng.choice(len(states), p=prior)]
        cases.append(evidence)
    return cases


# ---------------------------------------------------------------------------- engines
class PyAgrum:
    """pyAgrum LazyPropagation on the network read back from our XMLBIF export."""

    def __init__(self, model: bayesnet.Model):
        import pyagrum

        self.conditions = list(model.conditions)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "network.bifxml"
            model.export(path, format="xmlbif")
            self.network = pyagrum.loadBN(str(path))
        self.inference = pyagrum.LazyPropagation(self.network)
        self.inference.setTargets(set(self.conditions))  # unobserved findings then drop out as barren

    def __call__(self, evidence: Evidence) -> np.ndarray:
        inference = self.inference
        inference.eraseAllEvidence()
        inference.setEvidence(evidence)
        inference.makeInference()
        return np.array([inference.posterior(c)[1] for c in self.conditions])


def engines(model: bayesnet.Model, with_pyagrum: bool) -> dict[str, Callable[[Evidence], np.ndarray]]:
    found: dict[str, Callable[[Evidence], np.ndarray]] = {
        "ours": lambda evidence: model.answer(evidence).posterior,
        "pgmpy": lambda evidence: model.reference_posteriors(evidence).to_numpy(),
    }
    if with_pyagrum:
        found["pyagrum"] = PyAgrum(model)
    return found


@dataclass(frozen=True)
class Timing:
    median: float      # seconds per query
    per_second: float  # queries per second over all timed queries
    answers: list      # one posterior vector per case


def time_engine(engine: Callable[[Evidence], np.ndarray], cases: Sequence[Evidence], repeats: int) -> Timing:
    """Answer every case once (warm-up, kept as the answers), then ``repeats`` timed passes."""
    answers = [engine(case) for case in cases]
    times = []
    for _ in range(repeats):
        for case in cases:
            start = time.perf_counter()
            engine(case)
            times.append(time.perf_counter() - start)
    times_ = np.asarray(times)
    return Timing(float(np.median(times_)), float(len(times_) / times_.sum()), answers)


def _pgmpy_worst(evidence: Evidence, queue) -> None:  # pragma: no cover - runs in a child process
    model = bayesnet.load()
    model.reference_posteriors({})  # warm-up: builds the pgmpy network
    start = time.perf_counter()
    answer = model.reference_posteriors(evidence).to_numpy()
    queue.put((time.perf_counter() - start, answer))


def pgmpy_with_timeout(evidence: Evidence, timeout: float) -> tuple[float, np.ndarray] | None:
    """One pgmpy query in a child process: its time and answer, or None if not done in ``timeout`` s
    (the child is then stopped, so neither time nor memory runs away)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_pgmpy_worst, args=(evidence, queue))
    child.start()
    try:
        return queue.get(timeout=timeout)
    except Exception:  # queue.Empty: it did not finish in time
        return None
    finally:
        if child.is_alive():
            child.terminate()
        child.join()


# ---------------------------------------------------------------------------- batches
def random_frame(model: bayesnet.Model, rng: np.random.Generator, size: int, observed: int, positive: int,
                 context_known: bool) -> pd.DataFrame:
    """``size`` cases as a cohort frame of state names: the presenting finding in soft tissue present
    and ``observed - 1`` other findings, ``positive - 1`` of them above their lowest state; the context
    drawn from the priors and observed (``context_known``) or left blank."""
    presenting = "mineral_soft_tissue"
    findings = [f for f in model.findings if f != presenting]
    order = np.argsort(rng.random((size, len(findings))), axis=1)[:, :observed - 1]
    columns: dict[str, object] = {}
    if context_known:
        for node, states, prior in zip(model.network.context, model.network.context_states, model.network.context_prior):
            columns[node] = pd.Categorical.from_codes(rng.choice(len(states), size=size, p=prior), categories=list(states))
    columns[presenting] = pd.Categorical.from_codes(np.ones(size, dtype=int), categories=["absent", "present"])
    for i, name in enumerate(findings):
        states = model.states(name)
        codes = np.full(size, -1)                                             # -1: blank (unobserved)
        rank = np.argmax(order == i, axis=1)
        hit = (order == i).any(axis=1)
        codes[hit] = np.where(rank[hit] < positive - 1, 1 + rng.integers(len(states) - 1, size=int(hit.sum())), 0)
        columns[name] = pd.Categorical.from_codes(codes, categories=list(states))
    return pd.DataFrame(columns)


def time_batch(model: bayesnet.Model, frame: pd.DataFrame) -> tuple[float, float, float]:
    """Seconds for ``model.posteriors_batch`` on the whole frame and for ``query_batch`` on its encoded
    arrays (each after a warm-up on its first rows), and the largest difference between batch rows
    and one-by-one answers on a sample of rows."""
    engine = model.engine
    model.posteriors_batch(frame.iloc[:200])
    start = time.perf_counter()
    result = model.posteriors_batch(frame)
    public = time.perf_counter() - start
    batch = encode_frame(model, frame).batch
    start = time.perf_counter()
    engine.query_batch(batch)
    seconds = time.perf_counter() - start
    sample = np.linspace(0, len(frame) - 1, num=min(50, len(frame)), dtype=int)
    conditions = list(model.conditions)
    difference = max(float(np.max(np.abs(result.iloc[i][conditions].to_numpy(float)
                                          - model.answer(engine_case(frame, i)).posterior))) for i in sample)
    return public, seconds, difference


def engine_case(frame: pd.DataFrame, row: int) -> Evidence:
    """Row ``row`` of a cohort frame as an evidence mapping."""
    return {column: value for column, value in frame.iloc[row].items() if isinstance(value, str)}


def time_parameters(model: bayesnet.Model, rng: np.random.Generator, evidence: Evidence, draws: int) -> tuple[float, float]:
    """Seconds for ``query_parameter_batch`` over ``draws`` jittered parameter sets (after a warm-up),
    and the largest difference from answering three of the sets one network at a time."""
    network = model.network
    batch = ParameterBatch.repeat(network, draws)
    batch = ParameterBatch(batch.context_prior, batch.condition_leak * rng.uniform(0.5, 1.0, (draws, 1)),
                           batch.risk, batch.finding_leak, batch.link * rng.uniform(0.8, 1.0, batch.link.shape))
    derive_rows(network, batch.link, batch.finding_leak)          # derived rows follow the jittered native numbers
    encoded = model.encode(evidence)
    query_parameter_batch(network, ParameterBatch(*(tuple(x[:50] for x in f) if isinstance(f, tuple) else f[:50]
                                                    for f in (batch.context_prior, batch.condition_leak, batch.risk,
                                                              batch.finding_leak, batch.link))), encoded)
    start = time.perf_counter()
    _, posterior = query_parameter_batch(network, batch, encoded)
    seconds = time.perf_counter() - start
    difference = max(float(np.max(np.abs(posterior[b] - bayesnet.inference.engine.ExactEngine(batch.network(network, b))
                                          .query(encoded).posterior))) for b in (0, draws // 2, draws - 1))
    return seconds, difference


def peak_memory(function: Callable[[], object]) -> float:
    """Peak memory allocated while ``function`` runs, in MB (tracemalloc sees numpy's arrays)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------- report
def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def _ratio(theirs: Timing | None, ours: Timing) -> str:
    return "-" if theirs is None else f"{theirs.median / ours.median:,.0f}x"


def _difference(a: list, b: list) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="benchmark.py", description=__doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=positive_int, default=20, help="generated cases per scenario (default 20)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed passes over the cases (default 3)")
    parser.add_argument("--batch-size", type=positive_int, default=100_000, help="cases in the batch runs (default 100000)")
    parser.add_argument("--draws", type=positive_int, default=10_000, help="parameter sets in the parameter-batch run (default 10000)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--context", choices=["unknown", "known"], default="unknown",
                        help="single queries with the context unobserved (default) or fully observed")
    parser.add_argument("--no-pyagrum", action="store_true", help="skip pyAgrum (it is an optional extra)")
    parser.add_argument("--pgmpy-worst-timeout", type=non_negative_int, default=60, metavar="SECONDS",
                        help="try pgmpy on one case of each worst scenario, giving up after SECONDS "
                             "(default 60; 0 skips it)")
    parser.add_argument("-o", "--output", help="also write the report to this file")
    return parser


def run(args: argparse.Namespace) -> str:
    model = bayesnet.load()
    rng = np.random.default_rng(args.seed)
    with_pyagrum = not args.no_pyagrum
    if with_pyagrum:
        try:
            import pyagrum  # noqa: F401
        except ImportError:
            raise BayesnetError("pyAgrum is not installed: install bayesnet[benchmark], or pass --no-pyagrum") from None
    runners = engines(model, with_pyagrum)
    known = args.context == "known"
    lines = [
        "# Benchmark: exact posteriors of every condition",
        "",
        f"Network: {len(model.conditions)} conditions, {len(model.findings)} findings, "
        f"{len(model.network.context)} context nodes. Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}.",
        f"Single queries: {args.cases} generated cases per scenario (seed {args.seed}), context "
        f"{'observed' if known else 'unobserved'}; each engine answers every case once as warm-up, then "
        f"{args.repeats} timed passes; one query = an evidence mapping in, all {len(model.conditions)} condition "
        "posteriors out (our `model.answer`; pgmpy `VariableElimination.query` per condition, a new "
        "`VariableElimination` each query as `model.reference_posteriors` does; pyAgrum one reused "
        "`LazyPropagation` on the network read from our XMLBIF export). Latency is the median over all timed "
        "queries; per second is the number of timed queries over their total time.",
        "",
        "| evidence | ours | pgmpy VE | pyAgrum LP | ours/s | vs pgmpy | vs pyAgrum | max diff vs pgmpy | max diff vs pyAgrum |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    worst_memory = []
    for scenario in SCENARIOS:
        cases = make_cases(model, rng, scenario, args.cases, known)
        ours = time_engine(runners["ours"], cases, args.repeats)
        pgmpy = time_engine(runners["pgmpy"], cases, args.repeats) if scenario.pgmpy else None
        agrum = time_engine(runners["pyagrum"], cases, args.repeats) if with_pyagrum else None
        pgmpy_note = _ms(pgmpy.median) if pgmpy else "skipped"
        pgmpy_ratio = _ratio(pgmpy, ours)
        pgmpy_difference = _difference(ours.answers, pgmpy.answers) if pgmpy else float("nan")
        if scenario.observed is None:
            worst_memory.append((scenario.name, max(peak_memory(lambda c=c: model.answer(c)) for c in cases[:3])))
            if args.pgmpy_worst_timeout:
                done = pgmpy_with_timeout(cases[0], args.pgmpy_worst_timeout)
                if done is None:
                    pgmpy_note = f"> {args.pgmpy_worst_timeout} s (1 case, stopped)"
                else:
                    pgmpy_note = _ms(done[0]) + " (1 case)"
                    pgmpy_ratio = f"{done[0] / ours.median:,.0f}x"
                    pgmpy_difference = float(np.max(np.abs(done[1] - ours.answers[0])))
        lines.append(
            f"| {scenario.name} | {_ms(ours.median)} | {pgmpy_note} | {_ms(agrum.median) if agrum else '-'} "
            f"| {ours.per_second:,.0f} | {pgmpy_ratio} | {_ratio(agrum, ours)} "
            f"| {pgmpy_difference:.1e} | {_difference(ours.answers, agrum.answers) if agrum else float('nan'):.1e} |")
    light = make_cases(model, rng, SCENARIOS[0], FRAME_CASES, known)       # many timings: a steady median
    passes = max(args.repeats, FRAME_PASSES)
    answer, frame = (time_engine(lambda e, f=f: f(e), light, passes) for f in (model.answer, model.posteriors))
    lines += ["", f"`model.posteriors` (the ranked DataFrame with referral priors and P(no modelled condition)) on "
              f"{FRAME_CASES} light cases, {passes} passes: {_ms(frame.median)} median, against "
              f"{_ms(answer.median)} for `model.answer`."]
    lines += ["", "On the worst cases pgmpy answers one case only, in a child process stopped after "
              f"{args.pgmpy_worst_timeout} s (--pgmpy-worst-timeout; 0 skips it): with every finding observed its "
              "elimination is slow and, on denser networks, can take gigabytes."]
    lines += ["", "Peak memory of one worst-case query (tracemalloc, largest of 3 cases): "
              + "; ".join(f"{name}: {mb:.1f} MB" for name, mb in worst_memory) + "."]

    lines += ["", f"## Batches: {args.batch_size:,} cases, 15 findings of which 3 positive (the presenting one among them)",
              "", "`model.posteriors_batch` takes a DataFrame of categorical columns and returns one; `query_batch` "
              "is the engine alone on the encoded arrays.", "",
              "| context | posteriors_batch s | cases/s | query_batch s | cases/s | max diff vs one by one |",
              "|---|---|---|---|---|---|"]
    for label, context_known in (("known (age band, every history node)", True), ("unknown", False)):
        frame = random_frame(model, rng, args.batch_size, 15, 3, context_known)
        public, seconds, difference = time_batch(model, frame)
        lines.append(f"| {label} | {public:.2f} | {args.batch_size / public:,.0f} | {seconds:.2f} "
                     f"| {args.batch_size / seconds:,.0f} | {difference:.1e} |")

    lines += ["", f"## Parameter batch: `query_parameter_batch` on {args.draws:,} parameter sets", "",
              "| evidence | seconds | sets/s | max diff vs one network at a time |", "|---|---|---|---|"]
    for scenario in SCENARIOS[:2]:
        evidence = make_cases(model, rng, scenario, 1, False)[0]
        seconds, difference = time_parameters(model, rng, evidence, args.draws)
        lines.append(f"| {scenario.name} | {seconds:.2f} | {args.draws / seconds:,.0f} | {difference:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except BayesnetError as error:
        print(f"benchmark.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(report)
    if args.output:
        Path(args.output).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What-if on the verbal scale: re-read every verbal value through another scale and compare.

An alternative scale is a table of the same form as ``verbal_scale.csv`` (phrase, value, low, high,
anchor, note), read with :func:`read_verbal_scale`, or made from the model's own scale by
:func:`stretched_scale`, which moves every probability on the log-odds scale,
``logit(v') = factor * logit(v)``: a factor above 1 makes every phrase more extreme (``usually``
0.8 -> 0.89 at 1.5), below 1 more cautious (0.8 -> 0.72 at 1/1.5); 0, 0.5 and 1 stay where they
are, and the order of the phrases is kept.

A re-read link or risk factor whose value falls below its effect's leak (a cause can only raise
its effect's probability) is raised to the leak, so the cause adds nothing; the number of such
values is reported.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from bayesnet.errors import KnowledgeBaseError, Problem
from bayesnet.inference.evidence import Evidence
from bayesnet.knowledge.base import KnowledgeBase, VerbalPhrase
from bayesnet.model import Model

__all__ = ["read_verbal_scale", "stretched_scale", "rescaled_knowledge", "verbal_what_if", "SCALE_COLUMNS"]

SCALE_COLUMNS = ("phrase", "value", "low", "high", "anchor", "note")


def read_verbal_scale(path: str | Path) -> tuple[VerbalPhrase, ...]:
    """Read a verbal scale file (the columns of ``verbal_scale.csv``).

    Raises
    ------
    KnowledgeBaseError
        Listing every problem with file, line and field.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise KnowledgeBaseError([Problem(str(path), None, None, "expected a verbal scale file (CSV with columns "
                                          + ", ".join(SCALE_COLUMNS) + ")")])
    problems: list[Problem] = []
    scale: list[VerbalPhrase] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in SCALE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise KnowledgeBaseError([Problem(name, 1, None, f"missing column(s) {', '.join(missing)}; "
                                              f"expected {', '.join(SCALE_COLUMNS)}")])
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            row = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not any(row.values()):
                continue
            numbers = []
            for column in ("value", "low", "high"):
                try:
                    number = float(row[column])
                except ValueError:
                    problems.append(Problem(name, line, column, f"expected a probability between 0 and 1, got {row[column]!r}"))
                    continue
                if not 0.0 <= number <= 1.0:
                    problems.append(Problem(name, line, column, f"expected a probability between 0 and 1, got {number}"))
                    continue
                numbers.append(number)
            if row["phrase"] in seen:
                problems.append(Problem(name, line, "phrase", f"{row['phrase']!r} is already on the scale"))
            elif not row["phrase"]:
                problems.append(Problem(name, line, "phrase", "a phrase is required"))
            elif len(numbers) == 3:
                value, low, high = numbers
                if not low <= value <= high:
                    problems.append(Problem(name, line, "low", f"expected low <= value <= high, got {low} <= {value} <= {high}"))
                else:
                    seen.add(row["phrase"])
                    scale.append(VerbalPhrase(row["phrase"], value, low, high, row["anchor"], row["note"]))
    if problems:
        raise KnowledgeBaseError(problems)
    if not scale:
        raise KnowledgeBaseError([Problem(name, None, None, "expected at least one phrase, got none")])
    return tuple(scale)


def _stretch(p: float, factor: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return p
    logit = np.log(p) - np.log1p(-p)
    return float(1.0 / (1.0 + np.exp(-factor * logit)))


def stretched_scale(scale: Sequence[VerbalPhrase], factor: float) -> tuple[VerbalPhrase, ...]:
    """Every phrase's value, low and high moved on the log-odds scale by ``factor`` (> 0)."""
    if not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    note = f"log-odds x {factor:g} of the shipped scale"
    return tuple(VerbalPhrase(v.phrase, _stretch(v.value, factor), _stretch(v.low, factor), _stretch(v.high, factor),
                              v.anchor, note) for v in scale)


def rescaled_knowledge(knowledge: KnowledgeBase, scale: Sequence[VerbalPhrase]) -> tuple[KnowledgeBase, tuple[str, ...]]:
    """The knowledge base re-read through ``scale``, and the names of values raised to their leak."""
    kb = knowledge.with_verbal_scale(tuple(scale))
    leaks = {p.node: p.value for p in kb.parameters if p.role in ("condition_leak", "finding_leak")}
    raised: list[str] = []
    params = []
    for p in kb.parameters:
        if p.role in ("link", "risk_factor") and p.value < leaks[p.node]:
            leak = leaks[p.node]
            raised.append(p.name)
            p = replace(p, value=leak, low=min(p.low, leak), high=max(p.high, leak))
        params.append(p)
    return replace(kb, parameters=tuple(params)), tuple(raised)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def verbal_what_if(model: Model, scenarios: Mapping[str, Evidence] | Sequence[tuple[str, Evidence]],
                   scales: Mapping[str, Sequence[VerbalPhrase]]) -> pd.DataFrame:
    """How the differential of each scenario changes when the verbal values are re-read.

    Parameters
    ----------
    model
        The model with its own scale.
    scenarios
        Named evidence: a mapping or ``(name, evidence)`` pairs.
    scales
        Named alternative scales, each covering every phrase the knowledge base uses.

    Returns
    -------
    pandas.DataFrame
        One row per scenario and scale: ``scenario, scale``, ``top`` and ``top_posterior`` (the
        model's own), ``new_top`` and ``new_top_posterior`` (under the scale), ``top_posterior_now``
        (the model's top condition under the scale), ``top_changed``, ``rank_correlation``
        (Spearman, all conditions), ``max_change`` (largest absolute change of any posterior) and
        ``raised`` (values raised to their leak).
    """
    items = list(scenarios.items()) if isinstance(scenarios, Mapping) else list(scenarios)
    alternatives = {}
    for name, scale in scales.items():
        kb, raised = rescaled_knowledge(model.knowledge, scale)
        alternatives[name] = (Model(kb), len(raised))
    rows = []
    for case, evidence in items:
        base = model.answer(evidence).posterior
        t = int(np.argmax(base))
        for name, (alt, raised) in alternatives.items():
            new = alt.answer(evidence).posterior
            u = int(np.argmax(new))
            rows.append({"scenario": case, "scale": name, "top": model.conditions[t], "top_posterior": base[t],
                         "new_top": model.conditions[u], "new_top_posterior": new[u], "top_posterior_now": new[t],
                         "top_changed": u != t, "rank_correlation": _spearman(base, new),
                         "max_change": float(np.max(np.abs(new - base))), "raised": raised})
    return pd.DataFrame(rows, columns=["scenario", "scale", "top", "top_posterior", "new_top", "new_top_posterior",
                                       "top_posterior_now", "top_changed", "rank_correlation", "max_change", "raised"])

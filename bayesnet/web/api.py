"""The web page's questions, answered from the :class:`~bayesnet.model.Model` API as JSON-ready dicts.

Each function takes the model and a decoded JSON request (a dict) and returns plain dicts, lists,
strings and finite floats (``None`` where a number is not finite). Nothing here knows about HTTP:
:mod:`bayesnet.web.app` serves these functions, and bad input raises the package's own errors
(:class:`~bayesnet.errors.BayesnetError`) with the same messages the command line prints.

Evidence is a JSON object as the library takes it: ``{"node": "state"}`` for hard evidence,
``{"node": [0.3, 0.9]}`` (one likelihood per state, in the node's state order) or
``{"node": {"absent": 0.3, "present": 0.9}}`` for soft evidence, ``null`` for not observed.
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayesnet.errors import BayesnetError, EvidenceError, UnknownNameError, shown
from bayesnet.inference.evidence import describe

if TYPE_CHECKING:  # pragma: no cover
    from bayesnet.model import Model

__all__ = ["RequestError", "nodes", "posteriors", "explain", "next_findings", "sensitivity", "montecarlo",
           "provenance", "numbers_behind", "query_command", "LIMITS"]

#: bounds on the work one request may ask for
LIMITS = {"top": 100, "draws": 20_000, "seed": 2**32 - 1}

#: the provenance columns sent to the page
PROVENANCE_FIELDS = ["parameter", "role", "node", "parent", "state", "value", "low", "high", "kind", "source",
                     "quote", "phrase", "n", "N", "note", "file", "line"]


class RequestError(BayesnetError):
    """A request whose shape is wrong: a field of the wrong type, an unknown field, a number out of range."""


# ---------------------------------------------------------------------------- request fields
def _fields(request: Any, allowed: set[str]) -> dict:
    if request is None:
        return {}
    if not isinstance(request, Mapping):
        raise RequestError(f"the request body must be a JSON object with fields {', '.join(sorted(allowed))}, "
                           f"got {_json_type(request)}")
    unknown = sorted(set(request) - allowed)
    if unknown:
        raise UnknownNameError("request field", str(unknown[0]), sorted(allowed))
    return dict(request)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def evidence_of(request: Mapping) -> dict:
    """The request's ``evidence`` field as the library's evidence mapping (checked for its JSON shape;
    node and state names are checked by the model)."""
    evidence = request.get("evidence")
    if evidence is None:
        return {}
    if not isinstance(evidence, Mapping):
        raise EvidenceError("evidence must be a JSON object mapping node names to a state or a list of likelihoods, "
                            f'e.g. {{"mineral_soft_tissue": "present", "soft_tissue_mass": [0.3, 0.9]}}; '
                            f"got {_json_type(evidence)}")
    for node, value in evidence.items():
        if isinstance(value, bool) or isinstance(value, (int, float)):
            raise EvidenceError(f"evidence on {node} must be a state name or a list of likelihoods (one per state), "
                                f"got the number {shown(value)}")
        if isinstance(value, list) and any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            raise EvidenceError(f"soft evidence on {node} must be a list of numbers, one per state, got {shown(value)}")
        if isinstance(value, Mapping) and any(isinstance(v, bool) or not isinstance(v, (int, float))
                                              for v in value.values()):
            raise EvidenceError(f"soft evidence on {node} must map each state to a number, got {shown(value)}")
    return dict(evidence)


def _whole(request: Mapping, name: str, default: int, minimum: int, maximum: int) -> int:
    value = request.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise RequestError(f"{name} must be a whole number from {minimum} to {maximum}, got {shown(value)}")
    return value


def _condition(model: Model, request: Mapping, required: bool) -> str | None:
    value = request.get("condition")
    if value is None:
        if required:
            raise RequestError("condition is required: one of the model's conditions, e.g. "
                               f"{model.conditions[0]!r}")
        return None
    if not isinstance(value, str):
        raise RequestError(f"condition must be a condition's name, got {shown(value)}")
    if value not in model.conditions:
        raise UnknownNameError("condition", value, model.conditions)
    return value


def _number(x: Any) -> float | None:
    """A float for JSON: ``None`` for NaN and infinities (JSON has neither)."""
    if x is None or x is pd.NA:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _finite(x: float) -> float | None:
    """:func:`_number` for a Python float."""
    return x if math.isfinite(x) else None


def _missing(x: Any) -> bool:
    """Whether a provenance cell is empty (``None``, ``NaN`` or ``pd.NA``)."""
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _text(x: Any) -> str:
    return "" if _missing(x) else str(x)


# ---------------------------------------------------------------------------- vocabulary and provenance
def nodes(model: Model) -> dict:
    """The vocabulary, grouped as ``bayesnet nodes`` groups it: type, group, states, description."""
    rows = []
    for spec in model.knowledge.nodes:
        rows.append({"node": spec.name, "type": str(spec.type), "group": spec.group, "states": list(spec.states),
                     "description": spec.description, "presenting": bool(spec.presenting)})
    return {"knowledge_base": model.knowledge_base.as_dict(), "nodes": rows, "conditions": list(model.conditions),
            "limits": dict(LIMITS)}


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame[PROVENANCE_FIELDS].itertuples(index=False):
        record = {}
        for field, value in zip(PROVENANCE_FIELDS, row):
            if field in ("value", "low", "high"):
                record[field] = _number(value)
            elif field in ("n", "N", "line"):
                record[field] = None if _missing(value) else int(value)
            else:
                record[field] = _text(value)
        out.append(record)
    return out


def provenance(model: Model, node: str | None = None, parent: str | None = None) -> dict:
    """Every number of the knowledge base (or those of ``node``, and of ``parent`` when given) with its
    kind, source, quote and range."""
    frame = _provenance_frame(model)
    names = [n.name for n in model.knowledge.nodes]
    if node is not None:
        if node not in names:
            raise UnknownNameError("node", node, names)
        frame = frame[frame["node"] == node]
    if parent is not None:
        parents = frame["parent"].fillna("").astype(str)
        known = sorted({p for p in parents if p} | set(names))
        if parent not in known:
            raise UnknownNameError("parent", parent, known)
        frame = frame[(parents == parent) | parents.str.startswith(parent + "=")]
    return {"records": _records(frame)}


_PROVENANCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _provenance_frame(model: Model) -> pd.DataFrame:
    """``model.provenance()``, computed once per model (a model's knowledge base does not change)."""
    frame = _PROVENANCE.get(model)
    if frame is None:
        frame = _PROVENANCE[model] = model.provenance()
    return frame


def numbers_behind(model: Model, condition: str, node: str) -> dict:
    """The numbers through which evidence on ``node`` moves ``condition``, with their provenance.

    For a finding: the link from the condition to the finding (one record per state of an ordered
    finding) and the finding's leak; where ``cells.csv`` declares no effect, ``no_effect`` is true and
    only the leak applies. For a context node: the condition's risk factors on that node and the
    node's prior.
    """
    frame = _provenance_frame(model)
    parents = frame["parent"].fillna("").astype(str)
    spec = model.node(node)
    if str(spec.type) == "context":
        rows = frame[((frame["node"] == condition) & parents.str.startswith(node + "="))
                     | ((frame["node"] == node) & (frame["role"] == "context_prior"))]
        no_effect = not bool(((frame["node"] == condition) & parents.str.startswith(node + "=")).any())
    elif str(spec.type) == "condition":
        rows = frame[(frame["node"] == node) & (frame["role"] == "condition_leak")]
        no_effect = False
    else:
        links = (frame["node"] == node) & (parents == condition)
        rows = frame[links | ((frame["node"] == node) & (frame["role"] == "finding_leak"))]
        no_effect = not bool(links.any())
    return {"node": node, "condition": condition, "no_effect": no_effect, "records": _records(rows)}


# ---------------------------------------------------------------------------- queries
def query_command(evidence: Mapping) -> str:
    """The ``bayesnet query`` command line for an evidence mapping (soft evidence as ``node=0.3,0.9``)."""
    words = ["bayesnet", "query"]
    for node, value in evidence.items():
        if value is None:
            continue
        if isinstance(value, str):
            words.append(describe(node, value))
        else:
            values = list(value.values()) if isinstance(value, Mapping) else list(value)
            words.append(f"{node}=" + ",".join(f"{float(v):g}" for v in values))
    return " ".join(words)


def posteriors(model: Model, request: Any) -> dict:
    """The differential: every condition's posterior with its referral prior, ranked, P(no modelled condition)
    and the presenting finding the evidence implies (``None`` if none)."""
    request = _fields(request, {"evidence"})
    evidence = evidence_of(request)
    frame = model.posteriors(evidence)
    a = frame.attrs
    # the whole frame at once: pandas copies ``attrs`` into every column or sub-frame it hands out
    columns = list(frame.columns)
    values = frame.to_numpy().tolist()
    rows = [{"condition": c, **{k: _finite(v) for k, v in zip(columns, row)}}
            for c, row in zip(frame.index.tolist(), values)]
    return {"evidence": evidence, "differential": rows, "top": rows[0]["condition"], "none": _number(a["none"]),
            "none_prior": _number(a["none_prior"]), "log_evidence": _number(a["log_evidence"]),
            "implied": a["implied"], "command": query_command(evidence)}


def explain(model: Model, request: Any) -> dict:
    """Each evidence item's weight of evidence for one condition, with the numbers behind it."""
    request = _fields(request, {"evidence", "condition"})
    evidence = evidence_of(request)
    condition = _condition(model, request, required=True)
    frame = model.explain(evidence, condition)
    a = frame.attrs
    items = []
    for label, row in frame.iterrows():
        node = row["node"]
        items.append({"evidence": label, "node": node, "position": int(row["position"]), "woe": _number(row["woe"]),
                      "likelihood_ratio": _number(row["likelihood_ratio"]), "woe_alone": _number(row["woe_alone"]),
                      "woe_last": _number(row["woe_last"]), "numbers": numbers_behind(model, condition, node)})
    leak = numbers_behind(model, condition, condition)
    return {"condition": condition, "prior": _number(a["prior"]), "posterior": _number(a["posterior"]),
            "prior_log_odds": _number(a["prior_log_odds"]), "posterior_log_odds": _number(a["posterior_log_odds"]),
            "items": items, "condition_numbers": leak["records"]}


def next_findings(model: Model, request: Any) -> dict:
    """Unobserved findings ranked by expected entropy reduction, each with its states' probabilities."""
    request = _fields(request, {"evidence", "top"})
    evidence = evidence_of(request)
    top = _whole(request, "top", 10, 1, LIMITS["top"])
    frame = model.next_findings(evidence)
    branches = frame.attrs["branches"]
    shown_frame = frame.head(top)
    rows = []
    for finding, row in shown_frame.iterrows():
        states = branches[branches["finding"] == finding]
        rows.append({"finding": finding, "reduction": _number(row["expected_entropy_reduction"]),
                     "p_top_changes": _number(row["p_top_changes"]),
                     "states": [{"state": s, "probability": _number(p), "top": t}
                                for s, p, t in zip(states["state"], states["probability"], states["top"])]})
    return {"entropy": _number(frame.attrs["entropy"]), "top": frame.attrs["top"], "findings": rows}


def sensitivity(model: Model, request: Any) -> dict:
    """The tornado of one condition's posterior (default: the top one): the parameters with the
    largest swing over their low-high range, each with its provenance."""
    from bayesnet.analysis.sensitivity import one_way

    request = _fields(request, {"evidence", "condition", "top"})
    evidence = evidence_of(request)
    condition = _condition(model, request, required=False)
    top = _whole(request, "top", 12, 1, LIMITS["top"])
    model.answer(model.encode(evidence))  # impossible evidence is named before any work
    frame = one_way(model, evidence, target=condition)
    shown_frame = frame.head(top)
    records = {r["parameter"]: r for r in _records(_provenance_frame(model))}
    rows = [{"parameter": name, "posterior": _number(row["posterior"]), "at_low": _number(row["at_low"]),
             "at_high": _number(row["at_high"]), "swing": _number(row["swing"]), "record": records.get(name)}
            for name, row in shown_frame.iterrows()]
    return {"target": frame.attrs["target"], "posterior": _number(frame["posterior"].iloc[0]) if len(frame) else None,
            "parameters": rows, "count": int(len(frame))}


def montecarlo(model: Model, request: Any) -> dict:
    """Second-order Monte Carlo: each condition's 90% interval over the parameters' uncertainty."""
    from bayesnet.analysis.montecarlo import monte_carlo

    request = _fields(request, {"evidence", "draws", "seed", "top"})
    evidence = evidence_of(request)
    draws = _whole(request, "draws", 2000, 10, LIMITS["draws"])
    seed = _whole(request, "seed", 0, 0, LIMITS["seed"])
    top = _whole(request, "top", 5, 1, LIMITS["top"])
    result = monte_carlo(model, evidence, draws=draws, seed=seed)
    rows = [{"condition": c, **{k: _number(row[k]) for k in ("point", "mean", "median", "q05", "q95", "top_share")}}
            for c, row in result.summary.head(top).iterrows()]
    return {"draws": draws, "seed": seed, "top": result.top, "top_changed": _number(result.top_changed),
            "impossible": result.impossible, "conditions": rows}

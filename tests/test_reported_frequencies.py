"""With only one cause present, the model reproduces the probability the knowledge base writes down.

Records store P(effect present | this cause alone), leak included; the network's noisy-OR link is
``p = 1 - (1 - value) / (1 - leak)``, so with that cause alone ``1 - (1 - leak)(1 - p) = value``.
"""
from __future__ import annotations

import numpy as np
import pytest


def conditional(model, target: str, given: dict, state: str = "present") -> float:
    """P(target = state | given) from two evidence probabilities, over the whole care setting (the
    population's condition, some presenting finding present, left out)."""
    def log_p(evidence):
        return model.engine.query(model.encode(evidence, population=False)).log_evidence
    return float(np.exp(log_p({**given, target: state}) - log_p(given)))


def test_every_link_value_is_reproduced_with_its_condition_alone(model):
    links = [p for p in model.knowledge.parameters if p.role == "link"]
    assert any(p.state is not None for p in links), "no ordered finding to check"
    for p in links:
        alone = {c: ("present" if c == p.parent else "absent") for c in model.conditions}
        value = conditional(model, p.node, alone, p.state or "present")
        assert value == pytest.approx(p.value, abs=1e-9), p.name


def test_states_without_a_record_stay_at_the_leak_and_the_lowest_takes_the_rest(model):
    for finding in model.network.ordered:
        leak = {p.state: p.value for p in model.knowledge.parameters if p.role == "finding_leak" and p.node == finding.name}
        for j in finding.parents:
            cause = model.conditions[j]
            rows = {p.state: p.value for p in model.knowledge.parameters
                    if p.role == "link" and p.node == finding.name and p.parent == cause}
            alone = {c: ("present" if c == cause else "absent") for c in model.conditions}
            probs = [conditional(model, finding.name, alone, s) for s in finding.states]
            expected = [rows.get(s, leak[s]) for s in finding.states[1:]]
            np.testing.assert_allclose(probs[1:], expected, rtol=0, atol=1e-9)
            assert probs[0] == pytest.approx(1.0 - sum(expected), abs=1e-9)


def test_every_finding_leak_is_reproduced_with_no_condition(model):
    none = {c: "absent" for c in model.conditions}
    for p in model.knowledge.parameters:
        if p.role == "finding_leak":
            assert conditional(model, p.node, none, p.state or "present") == pytest.approx(p.value, abs=1e-9), p.name


def baseline_context(model, condition: str) -> dict | None:
    """A context where no listed risk factor of ``condition`` is active (None if there is none)."""
    risky = {p.parent for p in model.knowledge.parameters if p.role == "risk_factor" and p.node == condition}
    context = {}
    for node in model.context:
        calm = [s for s in model.states(node) if f"{node}={s}" not in risky]
        if not calm:
            return None
        context[node] = calm[0]
    return context


def test_every_risk_factor_and_condition_leak_is_reproduced(model):
    checked = 0
    for p in model.knowledge.parameters:
        if p.role not in ("risk_factor", "condition_leak"):
            continue
        context = baseline_context(model, p.node)
        if context is None:
            continue
        if p.role == "risk_factor":
            node, state = p.parent.split("=")
            context[node] = state
        assert conditional(model, p.node, context) == pytest.approx(p.value, abs=1e-9), p.name
        checked += 1
    assert checked > 0


def test_the_frequencies_the_documents_report_are_reported_values(model):
    table = model.provenance()
    reported = table[table["kind"] == "reported"]
    values = set(np.round(reported["value"].astype(float), 3))
    for number in (0.611, 0.714, 0.75, 0.33, 0.2, 0.16, 0.1):
        assert number in values, f"no reported value {number}"
    # Table 5's combination (22%): its five shares sum to 101%, so it takes what the single types leave
    combination = table[(table["node"] == "calcinosis_pattern") & (table["state"] == "combination")
                        & (table["parent"] == "calcinosis_dermatomyositis")]
    assert combination["kind"].tolist() == ["derived"] and combination["value"].tolist() == [pytest.approx(0.21)]
    assert "22%" in combination["quote"].iloc[0]
    counts = reported.dropna(subset=["n"])
    pairs = set(zip(counts["n"].astype(int), counts["N"].astype(int)))
    assert {(11, 18), (5, 7)} <= pairs
    derived_or_reported = table[table["kind"].isin(["reported", "derived"])]
    assert derived_or_reported["note"].str.contains("18").any() and derived_or_reported["note"].str.contains("7").any()

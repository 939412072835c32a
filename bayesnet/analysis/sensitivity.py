"""One-way sensitivity analysis and admissible deviation of the differential.

What "varying a parameter" means
--------------------------------
Each parameter of the knowledge base is varied on its native scale (see
:mod:`bayesnet.analysis.parameters`): a context prior entry with its sibling states co-varied
proportionally, ``theta_t(x) = theta_t (1 - x) / (1 - x0)``; a condition or finding leak with every
link fixed; a risk link ``q`` or finding link ``p`` with its leak and the other links fixed. In every
case each term of P(evidence) and of P(condition present, evidence) holds the parameter (or a
co-varied sibling) at most once, so both are linear in ``x`` and every posterior is the
linear-fractional function

    f_j(x) = (A_j x + B_j) / (C x + D),

whose denominator, P(evidence), is shared by all conditions. The coefficients are normalised so
that ``C x0 + D = 1``: ``C x + D`` is P(evidence | x) / P(evidence | x0). Two propagations give them
exactly (the point value and one far from it); a finding that is not observed contributes nothing,
so its leak and links have ``A = C = 0`` without any propagation. The derivative is
``f'(x) = (A D - B C) / (C x + D)^2``. A record's ``low`` and ``high`` map to native values as in
:func:`bayesnet.analysis.parameters.native_value`.

Admissible deviation
--------------------
Because all conditions share the denominator, condition ``j`` overtakes the top condition ``t``
where the line ``(A_j - A_t) x + (B_j - B_t)`` crosses zero: the interval around ``x0`` within which
``t`` stays on top is solved exactly from these lines, inside the native domain ``[0, 1]``. Where
P(evidence | x) reaches zero (an observed context state's prior at 0) all numerators vanish
together; that point is not a change of rank and is not reported.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesnet.inference.engine import query_parameter_batch
from bayesnet.errors import UnknownNameError
from bayesnet.inference.evidence import EncodedEvidence, Evidence
from bayesnet.model import Model
from bayesnet.analysis.parameters import batch_with_one_changed, parameter_table, record_value

#: P(evidence | x) / P(evidence | x0) below this (relative to the coefficients) counts as zero
ZERO_EVIDENCE = 1e-12

__all__ = ["SensitivityFunctions", "sensitivity_functions", "one_way", "admissible_deviation",
           "parameter_importance"]


@dataclass(frozen=True, eq=False)
class SensitivityFunctions:
    """The sensitivity functions of every condition's posterior in every parameter, for one scenario.

    Attributes
    ----------
    parameters
        :func:`bayesnet.analysis.parameters.parameter_table`: record and native values, indexed by name.
    conditions
        The condition names (columns of the coefficient arrays).
    A, B
        ``(P, n)``: numerator coefficients, parameter by condition.
    C, D
        ``(P,)``: the shared denominator's coefficients, ``C x0 + D = 1``.
    baseline
        ``(n,)``: the posteriors at the point values.
    """

    parameters: pd.DataFrame
    conditions: tuple[str, ...]
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    baseline: np.ndarray

    def _x(self, x: float | np.ndarray | str) -> np.ndarray:
        if isinstance(x, str):
            x = self.parameters[x].to_numpy(float)
        x = np.asarray(x, float)
        return np.broadcast_to(x, (len(self.parameters),)) if x.ndim == 0 else x

    def posterior(self, x: float | np.ndarray | str = "x0") -> np.ndarray:
        """``f_j(x_r)`` as a ``(P, n)`` array; ``x`` is one value per parameter or a column name
        of :attr:`parameters` (``"x0"``, ``"x_low"``, ``"x_high"``)."""
        x = self._x(x)
        return (self.A * x[:, None] + self.B) / (self.C * x + self.D)[:, None]

    def derivative(self, x: float | np.ndarray | str = "x0") -> np.ndarray:
        """``f_j'(x_r) = (A D - B C) / (C x + D)^2`` as a ``(P, n)`` array."""
        x = self._x(x)
        return (self.A * self.D[:, None] - self.B * self.C[:, None]) / ((self.C * x + self.D) ** 2)[:, None]

    def swing(self) -> pd.DataFrame:
        """``|f(x_high) - f(x_low)|``: parameter by condition (f is monotone between them)."""
        return pd.DataFrame(np.abs(self.posterior("x_high") - self.posterior("x_low")),
                            index=self.parameters.index, columns=list(self.conditions))

    @property
    def point(self) -> pd.Series:
        """The posteriors at the point values (the differential's own numbers)."""
        return pd.Series(self.baseline, index=list(self.conditions), name="posterior")

    def top(self) -> str:
        """The top-ranked condition at the point values (first in model order among ties)."""
        return self.conditions[int(np.argmax(self.baseline))]


def _encode(model: Model, evidence: Evidence | EncodedEvidence | None) -> EncodedEvidence:
    return evidence if isinstance(evidence, EncodedEvidence) else model.encode(evidence)


def sensitivity_functions(model: Model, evidence: Evidence | EncodedEvidence | None) -> SensitivityFunctions:
    """Exact sensitivity functions of every posterior in every parameter, for one scenario.

    Costs one propagation per parameter that can matter (the parameters of unobserved findings
    cannot), evaluated together as one :class:`~bayesnet.inference.engine.ParameterBatch`.

    Raises
    ------
    ImpossibleEvidenceError
        If the evidence has probability zero at the point values.
    """
    encoded = _encode(model, evidence)
    base = model.answer(encoded)
    table = parameter_table(model.knowledge.parameters, model.locations, model.network)
    n = len(model.conditions)
    P = len(table)
    x0 = table["x0"].to_numpy(float)
    observed = encoded.observed_rows()
    matters = np.array([not _finding_rows(model.network, loc) or bool(observed[_finding_rows(model.network, loc)].any())
                        for loc in model.locations], dtype=bool)
    leak_like = np.isin(table["role"].to_numpy(), ["condition_leak", "finding_leak"]) | (table["state"].notna()
                                                                                     & (table["role"] == "link"))
    far = np.where(leak_like, 0.9, 1.0)
    x1 = np.where(x0 >= 0.5, 0.0, far)

    A = np.zeros((P, n))
    B = np.tile(base.posterior, (P, 1))
    C = np.zeros(P)
    D = np.ones(P)
    rows = np.flatnonzero(matters)
    if rows.size:
        batch = batch_with_one_changed(model.network, [model.locations[r] for r in rows], x1[rows])
        log_z, post = query_parameter_batch(model.network, batch, encoded)
        with np.errstate(over="ignore"):
            z1 = np.exp(log_z - base.log_evidence)              # P(e | x1) / P(e | x0); 0 if impossible
        n1 = np.where(z1[:, None] > 0, np.nan_to_num(post) * z1[:, None], 0.0)
        step = x1[rows] - x0[rows]
        C[rows] = (z1 - 1.0) / step
        D[rows] = 1.0 - C[rows] * x0[rows]
        A[rows] = (n1 - base.posterior[None, :]) / step[:, None]
        B[rows] = base.posterior[None, :] - A[rows] * x0[rows, None]
    return SensitivityFunctions(table, tuple(model.conditions), A, B, C, D, np.asarray(base.posterior, float))


def _finding_rows(network, location) -> list[int]:
    """The engine rows a finding's parameter enters (empty for context and condition parameters):
    its own row and the population rows it is part of, or an ordered finding's rows."""
    if location.array in ("ordered_leak", "ordered_link"):
        finding = network.ordered[location.index[0]]
        return [*finding.above, *finding.step]
    if location.array in ("link", "finding_leak"):
        row = location.index[0]
        return [row, *(r for members, r in network.population if row in members)]
    return []


def _target_index(functions: SensitivityFunctions, target: str | None) -> int:
    if target is None:
        return functions.conditions.index(functions.top())
    if target not in functions.conditions:
        raise UnknownNameError("condition", target, functions.conditions)
    return functions.conditions.index(target)


def one_way(model: Model, evidence: Evidence | EncodedEvidence | None, target: str | None = None,
            functions: SensitivityFunctions | None = None) -> pd.DataFrame:
    """One-way sensitivity of one condition's posterior to every parameter, sorted by swing.

    Parameters
    ----------
    model, evidence
        The model and the scenario.
    target
        The condition whose posterior is studied (default: the top-ranked one).
    functions
        Precomputed :func:`sensitivity_functions` for this scenario (computed if not given).

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: ``role, kind, value, low, high`` (the record), ``x0, x_low, x_high``
        (native), the coefficients ``A, B, C, D``, ``posterior`` (at ``x0``), ``derivative`` (d
        posterior / d native value at ``x0``), ``at_low``, ``at_high`` and ``swing``
        (``|at_high - at_low|``). ``attrs["target"]`` names the condition.
    """
    functions = functions or sensitivity_functions(model, evidence)
    j = _target_index(functions, target)
    frame = functions.parameters[["role", "kind", "value", "low", "high", "x0", "x_low", "x_high"]].copy()
    frame["A"], frame["B"] = functions.A[:, j], functions.B[:, j]
    frame["C"], frame["D"] = functions.C, functions.D
    frame["posterior"] = functions.posterior("x0")[:, j]
    frame["derivative"] = functions.derivative("x0")[:, j]
    frame["at_low"] = functions.posterior("x_low")[:, j]
    frame["at_high"] = functions.posterior("x_high")[:, j]
    frame["swing"] = (frame["at_high"] - frame["at_low"]).abs()
    frame = frame.sort_values("swing", ascending=False, kind="stable")
    frame.attrs["target"] = functions.conditions[j]
    return frame


def admissible_deviation(model: Model, evidence: Evidence | EncodedEvidence | None,
                         functions: SensitivityFunctions | None = None) -> pd.DataFrame:
    """For each parameter, the native interval within which the top-ranked condition stays on top.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: ``top`` (the condition on top at the point values), ``x0, x_low,
        x_high``, ``lower`` and ``upper`` (the interval's ends in ``[0, 1]``),
        ``lower_takes_over`` and ``upper_takes_over`` (the condition that overtakes ``top`` beyond
        each end; empty where the end is the edge of the domain), ``value_lower`` and ``value_upper``
        (the ends read on the record's scale) and ``changes_within_range`` (the interval does not
        cover ``[x_low, x_high]``).
    """
    functions = functions or sensitivity_functions(model, evidence)
    conditions = np.array(functions.conditions, dtype=object)
    table = functions.parameters
    x0 = table["x0"].to_numpy(float)
    t = functions.conditions.index(functions.top())
    slope = functions.A - functions.A[:, [t]]                       # (P, n)
    gap = (functions.A * x0[:, None] + functions.B)                 # N_j(x0), C x0 + D = 1
    gap = gap - gap[:, [t]]                                         # <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = x0[:, None] - gap / slope
    # where P(evidence | x) reaches 0 every numerator does too: the posteriors are undefined there,
    # not equal, so such a meeting point is not a change of rank
    scale = np.abs(functions.C) + np.abs(functions.D)
    with np.errstate(invalid="ignore"):
        vanishing = (functions.C[:, None] * cross + functions.D[:, None]) <= ZERO_EVIDENCE * scale[:, None]
    cross[vanishing] = np.nan
    cross[:, t] = np.nan
    above = np.where((slope > 0) & (cross <= 1.0), cross, np.inf)
    below = np.where((slope < 0) & (cross >= 0.0), cross, -np.inf)
    up_j, low_j = np.argmin(above, axis=1), np.argmax(below, axis=1)
    upper = np.take_along_axis(above, up_j[:, None], 1)[:, 0]
    lower = np.take_along_axis(below, low_j[:, None], 1)[:, 0]
    up_name = np.where(np.isfinite(upper), conditions[up_j], "")
    low_name = np.where(np.isfinite(lower), conditions[low_j], "")
    upper = np.where(np.isfinite(upper), np.maximum(upper, x0), 1.0)
    lower = np.where(np.isfinite(lower), np.minimum(lower, x0), 0.0)
    frame = table[["role", "kind", "x0", "x_low", "x_high"]].copy()
    frame.insert(0, "top", functions.conditions[t])
    frame["lower"], frame["upper"] = lower, upper
    frame["lower_takes_over"], frame["upper_takes_over"] = low_name, up_name
    params = {p.name: p for p in model.knowledge.parameters}
    leaks = table["leak"].to_numpy(float)
    frame["value_lower"] = [float(record_value(params[name], x, leak)) for name, x, leak in zip(table.index, lower, leaks)]
    frame["value_upper"] = [float(record_value(params[name], x, leak)) for name, x, leak in zip(table.index, upper, leaks)]
    frame["changes_within_range"] = (frame["lower"] > frame["x_low"]) | (frame["upper"] < frame["x_high"])
    return frame


def parameter_importance(model: Model, scenarios: Mapping[str, Evidence] | Sequence[tuple[str, Evidence]],
                         negligible: float = 1e-3,
                         functions: Mapping[str, SensitivityFunctions] | None = None) -> pd.DataFrame:
    """Which parameters matter across a set of scenarios and the whole differential.

    For each scenario and each parameter, the swing of every condition's posterior over the
    parameter's ``[low, high]`` range, and whether the top-ranked condition changes within it.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter, sorted by ``max_swing``: ``role, kind``, ``max_swing`` (largest
        swing of any condition in any scenario), ``scenario`` and ``condition`` where it occurs,
        ``mean_swing`` (over scenarios, of the largest swing per scenario), ``top_changes`` (the
        number of scenarios whose top condition changes within the range), ``exercised`` (the
        number of scenarios in which the parameter enters the answer at all: the leak and links of
        a finding no scenario observes never do) and ``negligible`` (``max_swing < negligible``
        and no top change).

    ``functions`` may hold precomputed :func:`sensitivity_functions` by scenario name.
    """
    items = list(scenarios.items()) if isinstance(scenarios, Mapping) else list(scenarios)
    if not items:
        raise ValueError("parameter_importance needs at least one scenario")
    swings, changes, exercised = [], [], []
    for name, evidence in items:
        given = (functions or {}).get(name) or sensitivity_functions(model, evidence)
        swings.append(given.swing().to_numpy())
        exercised.append((given.A != 0).any(axis=1) | (given.C != 0))
        changes.append(admissible_deviation(model, evidence, given)["changes_within_range"].to_numpy())
    cube = np.stack(swings)                                              # (S, P, n)
    table = parameter_table(model.knowledge.parameters, model.locations, model.network)
    per_scenario = cube.max(axis=2)                                      # (S, P)
    where = per_scenario.argmax(axis=0)
    frame = table[["role", "kind"]].copy()
    frame["max_swing"] = per_scenario.max(axis=0)
    frame["scenario"] = [items[s][0] for s in where]
    frame["condition"] = [model.conditions[int(np.argmax(cube[s, r]))] for r, s in enumerate(where)]
    frame["mean_swing"] = per_scenario.mean(axis=0)
    frame["top_changes"] = np.stack(changes).sum(axis=0)
    frame["exercised"] = np.stack(exercised).sum(axis=0)
    frame["negligible"] = (frame["max_swing"] < negligible) & (frame["top_changes"] == 0)
    return frame.sort_values(["max_swing", "top_changes"], ascending=False, kind="stable")

"""What changed between two knowledge bases: the numbers that moved most, and the scenarios whose
top condition changes. Compute only; the command line (``bayesnet diff``) prints and plots."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesnet.analysis.scenarios import Scenario

__all__ = ["compare_parameters", "compare_scenarios"]

_KEEP = ["role", "kind", "value", "low", "high", "n", "N"]


def compare_parameters(a, b) -> pd.DataFrame:
    """Every number of two models side by side, ranked by how far it moved.

    Returns one row per parameter present in either model (indexed by parameter name): for each side
    ``kind, value, low, high, n, N`` (suffixes ``_a`` and ``_b``), ``change`` (``value_b - value_a``)
    and ``moved`` (``|change|`` over the width of ``a``'s range; the change itself where that width is
    zero), ranked by ``moved``.
    """
    left = a.provenance().set_index("parameter")[_KEEP]
    right = b.provenance().set_index("parameter")[_KEEP]
    frame = left.add_suffix("_a").join(right.add_suffix("_b"), how="outer")
    frame["role"] = frame["role_a"].fillna(frame["role_b"])
    frame = frame.drop(columns=["role_a", "role_b"])
    frame["change"] = frame["value_b"] - frame["value_a"]
    width = (frame["high_a"] - frame["low_a"]).to_numpy(float)
    change = frame["change"].abs().to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["moved"] = np.where(width > 0, change / width, change)
    order = np.argsort(-np.nan_to_num(frame["moved"].to_numpy(float), nan=np.inf), kind="stable")
    columns = ["role", "kind_a", "value_a", "low_a", "high_a", "kind_b", "value_b", "low_b", "high_b", "n_b", "N_b",
               "change", "moved"]
    return frame.iloc[order][columns]


def compare_scenarios(a, b, scenarios: Sequence[Scenario]) -> pd.DataFrame:
    """The top condition of each scenario under both models.

    One row per scenario (indexed by its name): ``top_a, posterior_a, top_b, posterior_b``,
    ``changed`` (the top condition differs) and ``largest_shift`` (the largest absolute change of
    any condition's posterior), changed scenarios first.
    """
    rows = []
    for scenario in scenarios:
        pa, pb = a.posteriors(scenario.evidence)["posterior"], b.posteriors(scenario.evidence)["posterior"]
        shift = float((pb.reindex(pa.index) - pa).abs().max())
        rows.append({"case": scenario.case, "top_a": pa.index[0], "posterior_a": float(pa.iloc[0]),
                     "top_b": pb.index[0], "posterior_b": float(pb.iloc[0]),
                     "changed": pa.index[0] != pb.index[0], "largest_shift": shift})
    frame = pd.DataFrame(rows, columns=["case", "top_a", "posterior_a", "top_b", "posterior_b", "changed",
                                        "largest_shift"]).set_index("case")
    return frame.sort_values(["changed", "largest_shift"], ascending=[False, False], kind="stable")

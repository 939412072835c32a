"""How the model ranks the reported diagnosis of a set of cases: top-k accuracy, calibration, errors.

A case set is a table with one row per case: ``case`` (an identifier), ``condition`` (the reported
diagnosis, a condition of the model) and ``evidence`` (space-separated ``node=state`` items, as on
the command line); other columns (source, facts) are carried along. :func:`evaluate` answers every
case and returns the tables; :func:`calibration_figure` draws the calibration curve. Nothing here
prints or writes unless asked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayesnet.errors import BayesnetError, EvidenceError, UnknownNameError
from bayesnet.inference.evidence import parse_evidence

__all__ = ["Evaluation", "evaluate", "read_cases", "calibration_figure", "log_bayes_factors"]

REQUIRED = ("case", "condition", "evidence")
#: bins of predicted probability for the calibration table
BINS = np.array([0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0])


@dataclass(frozen=True)
class Evaluation:
    """The answers to a case set.

    ``cases``: one row per case answered (rank of the reported condition, its rank by Bayes factor
    (``rank_equal_odds``: as if every condition had the same prior odds), its posterior, the top
    condition and its posterior, the probability of no modelled condition, the presenting finding the
    evidence implies, if any: see :meth:`~bayesnet.model.Model.posteriors`). ``summary``: top-1,
    top-3 and top-5 shares, mean posterior of the truth, Brier score, and top-k at equal prior odds.
    ``by_condition``: the same per reported condition. ``wrong_tops``: per condition, how often it is
    on top when the truth is another condition, as a count and a share of those cases.
    ``calibration``: per bin of predicted probability (over every case x condition pair), the mean
    prediction and the observed share.
    ``errors``: cases that could not be answered, with the reason.
    """

    cases: pd.DataFrame
    summary: pd.Series
    by_condition: pd.DataFrame
    wrong_tops: pd.DataFrame
    calibration: pd.DataFrame
    errors: pd.DataFrame


def read_cases(path: str | Path) -> pd.DataFrame:
    """Read a case set (CSV, UTF-8) and check it has the columns :func:`evaluate` needs."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise BayesnetError(f"cannot read the case set {path}: {error}") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise BayesnetError(f"the case set {path} lacks the column(s) {', '.join(missing)}; "
                            f"expected at least {', '.join(REQUIRED)}")
    return frame


def evaluate(model, cases: pd.DataFrame) -> Evaluation:
    """Answer every case of ``cases`` and measure how the reported condition ranks.

    Raises
    ------
    UnknownNameError
        A reported condition that is not a condition of the model (every row is checked first).
    """
    unknown = sorted(set(cases["condition"]) - set(model.conditions))
    if unknown:
        raise UnknownNameError("condition", unknown[0], model.conditions)
    rows, errors, posteriors, truth = [], [], [], []
    for record in cases.itertuples(index=False):
        try:
            frame = model.posteriors(parse_evidence(str(record.evidence)))
        except (EvidenceError, UnknownNameError) as error:
            errors.append({"case": record.case, "message": str(error)})
            continue
        ranked = list(frame.index)
        by_factor = list(frame.index[np.argsort(-log_bayes_factors(frame), kind="stable")])
        rows.append({"case": record.case, "condition": record.condition, "rank": ranked.index(record.condition) + 1,
                     "rank_equal_odds": by_factor.index(record.condition) + 1,
                     "posterior": float(frame.loc[record.condition, "posterior"]), "top": ranked[0],
                     "top_posterior": float(frame["posterior"].iloc[0]), "none": frame.attrs["none"],
                     "implied": frame.attrs["implied"]})
        posteriors.append(frame["posterior"].reindex(model.conditions).to_numpy())
        truth.append(np.array(model.conditions) == record.condition)
    table = pd.DataFrame(rows, columns=["case", "condition", "rank", "rank_equal_odds", "posterior", "top",
                                        "top_posterior", "none", "implied"])
    predicted = np.array(posteriors).reshape(-1, len(model.conditions))
    observed = np.array(truth, dtype=float).reshape(predicted.shape)
    return Evaluation(table, _summary(table, predicted, observed), _by_condition(table), _wrong_tops(table, model),
                      _calibration(predicted, observed), pd.DataFrame(errors, columns=["case", "message"]))


def log_bayes_factors(frame: pd.DataFrame) -> pd.Series:
    """Each condition's log Bayes factor for the evidence of a differential (``posterior`` and
    ``prior`` columns, as :meth:`~bayesnet.model.Model.posteriors` returns): log posterior odds minus
    log prior odds, i.e. log P(evidence | present) / P(evidence | absent) within the population.
    Ranking by it is ranking as if every condition had the same prior odds at referral."""
    posterior, prior = frame["posterior"].to_numpy(float), frame["prior"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.log(posterior) - np.log1p(-posterior) - np.log(prior) + np.log1p(-prior)
    return pd.Series(np.nan_to_num(factor, nan=-np.inf), index=frame.index, name="log_bayes_factor")


def _summary(table: pd.DataFrame, predicted: np.ndarray, observed: np.ndarray) -> pd.Series:
    rank, equal = table["rank"], table["rank_equal_odds"]
    return pd.Series({
        "cases": len(table), "top1": float((rank == 1).mean()), "top3": float((rank <= 3).mean()),
        "top5": float((rank <= 5).mean()), "mean_posterior_of_truth": float(table["posterior"].mean()),
        "brier": float(((predicted - observed) ** 2).sum(axis=1).mean()) if len(table) else float("nan"),
        "top1_equal_odds": float((equal == 1).mean()), "top3_equal_odds": float((equal <= 3).mean()),
        "top5_equal_odds": float((equal <= 5).mean()),
    }, name="value")


def _by_condition(table: pd.DataFrame) -> pd.DataFrame:
    grouped = table.groupby("condition")
    return pd.DataFrame({
        "cases": grouped.size(), "top1": grouped["rank"].apply(lambda r: int((r == 1).sum())),
        "top3": grouped["rank"].apply(lambda r: int((r <= 3).sum())),
        "top5": grouped["rank"].apply(lambda r: int((r <= 5).sum())),
        "mean_posterior": grouped["posterior"].mean(), "median_rank": grouped["rank"].median(),
        "top3_equal_odds": grouped["rank_equal_odds"].apply(lambda r: int((r <= 3).sum())),
    }).sort_index()


def _wrong_tops(table: pd.DataFrame, model) -> pd.DataFrame:
    wrong = table[table["top"] != table["condition"]]
    counts = wrong["top"].value_counts()
    others = {c: int((table["condition"] != c).sum()) for c in counts.index}
    frame = pd.DataFrame({"wrongly_on_top": counts,
                          "share_of_other_cases": [counts[c] / others[c] if others[c] else np.nan for c in counts.index]})
    return frame.rename_axis("condition")


def _calibration(predicted: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    p, y = predicted.ravel(), observed.ravel()
    which = np.clip(np.digitize(p, BINS[1:-1]), 0, len(BINS) - 2)
    rows = []
    for b in range(len(BINS) - 1):
        chosen = which == b
        rows.append({"low": BINS[b], "high": BINS[b + 1], "pairs": int(chosen.sum()),
                     "mean_predicted": float(p[chosen].mean()) if chosen.any() else np.nan,
                     "observed": float(y[chosen].mean()) if chosen.any() else np.nan})
    return pd.DataFrame(rows)


def calibration_figure(evaluation: Evaluation):
    """A matplotlib figure: observed share of the reported condition against the predicted
    posterior, per bin (marker size grows with the number of case x condition pairs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = evaluation.calibration.dropna()
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfect calibration")
    axis.plot(table["mean_predicted"], table["observed"], color="C0", marker=None)
    axis.scatter(table["mean_predicted"], table["observed"], s=20 + 180 * np.sqrt(table["pairs"] / table["pairs"].max()),
                 color="C0", zorder=3, label="bins (size: case x condition pairs)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("predicted P(condition present)")
    axis.set_ylabel("share of pairs where it is the reported diagnosis")
    summary = evaluation.summary
    axis.set_title(f"{int(summary['cases'])} cases: top-1 {summary['top1']:.0%}, top-3 {summary['top3']:.0%}, "
                   f"Brier {summary['brier']:.2f}", fontsize=10)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return figure

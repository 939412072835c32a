"""The public face of bayesnet: a loaded diagnostic model and its queries."""
from __future__ import annotations

from dataclasses import asdict
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from bayesnet.errors import BayesnetError, ImpossibleEvidenceError, UnknownNameError
from bayesnet.inference.engine import Answer, ExactEngine
from bayesnet.inference.evidence import EncodedEvidence, Evidence, describe, encode_evidence
from bayesnet.knowledge.base import KnowledgeBase, NodeSpec, load_knowledge
from bayesnet.knowledge.identity import KnowledgeBaseId, identify, read_identified
from bayesnet.knowledge.network import NoisyOrNetwork, ParameterLocation, compile_knowledge

__all__ = ["Model", "load", "default_priors_path"]

PROVENANCE_COLUMNS = ["parameter", "role", "node", "parent", "state", "value", "low", "high", "kind", "source",
                      "quote", "phrase", "complement", "n", "N", "note", "file", "line"]
#: for a ``fitted`` row, the row it was fitted from (its prior), beside it in the same file
PRIOR_COLUMNS = ["prior_kind", "prior_value", "prior_low", "prior_high", "prior_source", "prior_quote", "prior_line"]


def default_priors_path() -> Path:
    """The knowledge base shipped with the package (``bayesnet/priors`` when installed, ``priors/`` in a checkout)."""
    installed = Path(str(resources.files("bayesnet"))) / "priors"
    if (installed / "nodes.csv").is_file():
        return installed
    return Path(__file__).resolve().parent.parent / "priors"


def load(path: str | Path | None = None, *, literature: bool = True) -> Model:
    """Load a diagnostic model from a knowledge-base folder (the shipped one by default).

    ``literature=False`` sets aside the rows of kind ``literature`` (published reviews and series,
    ``priors/sources/``): the seeds' rows answer alone.

    Raises
    ------
    KnowledgeBaseError
        Listing every problem in the folder's files, with file, line and field.
    """
    knowledge, identity = read_identified(default_priors_path() if path is None else path,
                                          lambda folder: load_knowledge(folder, literature=literature))
    return Model(knowledge, identity)


class Model:
    """A diagnostic Bayesian network built from a knowledge base.

    Examples
    --------
    >>> import bayesnet
    >>> model = bayesnet.load()
    >>> model.posteriors({"fluid_fluid_levels": "present"}).head()  # doctest: +SKIP
    """

    def __init__(self, knowledge: KnowledgeBase, identity: KnowledgeBaseId | None = None):
        self.knowledge = knowledge
        self._identity = identity
        network, locations = compile_knowledge(knowledge)
        self.network: NoisyOrNetwork = network
        self.locations: tuple[ParameterLocation, ...] = locations
        self.engine = ExactEngine(network)
        self._specs = {n.name: n for n in knowledge.nodes}

    # ------------------------------------------------------------------ vocabulary
    @property
    def conditions(self) -> tuple[str, ...]:
        return self.network.conditions

    @property
    def findings(self) -> tuple[str, ...]:
        """The findings a user can observe (binary and ordered), in vocabulary order."""
        return self.network.vocabulary

    @property
    def context(self) -> tuple[str, ...]:
        return self.network.context

    def node(self, name: str) -> NodeSpec:
        """The definition of node ``name`` (type, states, group, description)."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError("node", name, self._specs) from None

    def states(self, name: str) -> tuple[str, ...]:
        return self.node(name).states

    def nodes(self) -> pd.DataFrame:
        """Every node with its type, group, states and plain-language description."""
        rows = [{"node": n.name, "type": n.type, "group": n.group, "states": "|".join(n.states),
                 "description": n.description} for n in self.knowledge.nodes]
        return pd.DataFrame(rows).set_index("node")

    # ------------------------------------------------------------------ queries
    def encode(self, evidence: Evidence | None, *, population: bool = True) -> EncodedEvidence:
        """Check ``evidence`` and encode it as likelihood vectors (see :mod:`bayesnet.inference.evidence`).

        ``population=False`` leaves out the population's condition that some presenting finding is
        present (the answers are then about every patient of the care setting).
        """
        return encode_evidence(self.network, evidence, population=population)

    def answer(self, evidence: Evidence | EncodedEvidence | None) -> Answer:
        """The engine's raw answer: log P(evidence) and P(present | evidence) per condition.

        Raises
        ------
        ImpossibleEvidenceError
            If the evidence has probability zero; the message names the evidence responsible.
        """
        encoded = evidence if isinstance(evidence, EncodedEvidence) else self.encode(evidence)
        answer = self.engine.query(encoded)
        if not np.isfinite(answer.log_evidence):
            raise self.impossible_error(encoded)
        return answer

    @cached_property
    def priors(self) -> pd.Series:
        """P(condition present) in the population, before any other evidence: every patient has mineral
        in at least one presenting compartment (the *referral* distribution)."""
        return pd.Series(self.engine.query(self.encode({})).posterior, index=list(self.conditions), name="prior")

    @cached_property
    def base_rates(self) -> pd.Series:
        """P(condition present) in the care setting the priors describe, before the presenting finding."""
        return pd.Series(self.engine.query(self.encode({}, population=False)).posterior, index=list(self.conditions),
                         name="base_rate")

    def none_probability(self, evidence: Evidence | EncodedEvidence | None = None) -> float:
        """P(no modelled condition is present | evidence): the share of such cases that the leaks
        (causes outside the model) explain. 0 when a condition is observed present."""
        encoded = evidence if isinstance(evidence, EncodedEvidence) else self.encode(evidence)
        return self.answer(encoded).none

    def posteriors(self, evidence: Evidence | None = None) -> pd.DataFrame:
        """The differential: P(condition present | evidence) for every condition, ranked.

        Parameters
        ----------
        evidence
            A mapping from node to a state name, a likelihood vector (soft evidence, one number per
            state) or ``None`` (unobserved). Any subset of nodes may be given.

        Returns
        -------
        pandas.DataFrame
            Indexed by condition, ranked by ``posterior``, with columns ``posterior``, ``prior`` (the
            referral prior: P(condition | the case's presenting findings only), see
            :meth:`referral_priors`) and ``ratio`` (posterior / prior). ``attrs["log_evidence"]`` holds
            log P(evidence) (each likelihood vector scaled to a largest entry of 1), ``attrs["none"]``
            the probability that no modelled condition is present (:meth:`none_probability`),
            ``attrs["none_prior"]`` the same before the other evidence, ``attrs["implied"]`` the
            presenting finding the evidence implies (``"mineral_lung=present"`` when
            ``mineral_soft_tissue=absent`` leaves it the only place for the mineral; else ``None``), and
            ``attrs["knowledge_base"]`` the knowledge base's version, content hash and folder.
        """
        encoded = self.encode(evidence)
        answer = self.answer(encoded)
        posterior = answer.posterior
        order = np.argsort(-posterior, kind="stable")
        referral, none_prior = self._referral(encoded)
        prior = referral[order]
        ranked = posterior[order]
        table = np.empty((len(order), 3))
        table[:, 0] = ranked
        table[:, 1] = prior
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(ranked, prior, out=table[:, 2])
        frame = pd.DataFrame(table, index=self._condition_index[order], columns=self._differential_columns, copy=False)
        frame.attrs["log_evidence"] = answer.log_evidence
        frame.attrs["none"] = answer.none
        frame.attrs["none_prior"] = none_prior
        frame.attrs["implied"] = encoded.implied
        frame.attrs["knowledge_base"] = self.knowledge_base.as_dict()
        return frame

    def referral_priors(self, presenting: Evidence | None = None) -> pd.DataFrame:
        """The referral table: P(condition | the presenting findings only), ranked, with the base rate
        and ``attrs["none"]``. ``presenting`` names presenting findings (default: none named, so only
        the population's condition: mineral somewhere)."""
        presenting = dict(presenting or {})
        groups = {n.name for n in self.knowledge.nodes if n.presenting}
        other = sorted(set(presenting) - groups)
        if other:
            raise BayesnetError(f"referral priors take presenting findings only ({', '.join(sorted(groups))}); "
                                f"got {', '.join(other)}")
        encoded = self.encode(presenting)
        prior, none = self._referral(encoded)
        frame = pd.DataFrame({"prior": prior, "base_rate": self.base_rates.to_numpy()}, index=self._condition_index)
        frame = frame.sort_values("prior", ascending=False, kind="stable")
        frame.attrs["none"] = none
        return frame

    def _referral(self, encoded: EncodedEvidence) -> tuple[np.ndarray, float]:
        """P(condition | the presenting items of ``encoded`` only) and P(no modelled condition | them)."""
        presenting = tuple((node, repr(value)) for node, value in encoded.items if node in self._presenting_names)
        cached = self._referral_cache.get(presenting)
        if cached is None:
            given = self.encode({node: value for node, value in encoded.items if node in self._presenting_names})
            answer = self.engine.query(given)
            cached = (answer.posterior, answer.none)
            if len(self._referral_cache) < 64:
                self._referral_cache[presenting] = cached
        return cached

    @cached_property
    def _referral_cache(self) -> dict:
        return {}

    @cached_property
    def _presenting_names(self) -> frozenset[str]:
        return frozenset(n.name for n in self.knowledge.nodes if n.presenting)

    @cached_property
    def _condition_index(self) -> pd.Index:
        return pd.Index(list(self.conditions), dtype=object, name="condition")

    _differential_columns = pd.Index(["posterior", "prior", "ratio"])

    def posteriors_batch(self, frame: pd.DataFrame, *, on_error: str = "raise",
                         log_evidence: bool = True) -> pd.DataFrame:
        """Score a cohort: one row of posteriors per case (see :mod:`bayesnet.cohort.scoring`).

        Parameters
        ----------
        frame
            One row per case; columns are node names; cells are state names, empty (``NaN``,
            ``None``, ``""``) where the node is not observed.
        on_error
            ``"raise"`` (default): a row that cannot be scored (a cell that is not a state of its
            node, or impossible evidence) raises :class:`~bayesnet.cohort.scoring.CohortRowError`.
            ``"skip"``: such rows are left out of the result and reported in ``attrs["errors"]``.
        log_evidence
            Add the column ``log_evidence``: log P(the row's evidence).

        Returns
        -------
        pandas.DataFrame
            The input's index (scored rows, in input order); one column per condition holding
            P(present | the row's evidence), then ``log_evidence``. ``attrs["errors"]`` is a
            DataFrame of the skipped rows' problems (index label; ``row``, the 1-based row number;
            ``column``; ``value``; ``message``), empty when every row was scored.
            :func:`bayesnet.cohort.scoring.score_frame` returns the two frames side by side.

        Raises
        ------
        UnknownNameError
            A column that is not a node (:class:`~bayesnet.cohort.scoring.UnknownColumnError`).
        EvidenceError
            With ``on_error="raise"``, the bad rows (:class:`~bayesnet.cohort.scoring.CohortRowError`).
        """
        from bayesnet.cohort.scoring import score_frame

        scores = score_frame(self, frame, on_error=on_error, log_evidence=log_evidence)  # type: ignore[arg-type]
        result = scores.posteriors
        result.attrs["errors"] = scores.errors
        result.attrs["knowledge_base"] = self.knowledge_base.as_dict()
        return result

    # ------------------------------------------------------------------ learning from cases
    def sample(self, n: int, *, seed: int | np.random.Generator | None = 0, missing: float | dict[str, float] = 0.0,
               missing_labels: float = 0.0, labels: bool = True, progress=None) -> pd.DataFrame:
        """A synthetic cohort: ``n`` patients of the population, drawn exactly from the model.

        Each patient has at least one presenting finding present; the cohort is drawn from the
        distribution given that condition (exact conditional sampling, no rejection: see
        :mod:`bayesnet.learning.sampling`), so its frequencies are the model's marginals (the
        conditions': :attr:`priors`) within sampling error.

        Parameters
        ----------
        n
            The number of cases.
        seed
            An integer (``0`` included) or a :class:`numpy.random.Generator`.
        missing
            A share of finding cells left unobserved at random, or a mapping from node to its share.
        missing_labels
            A share of condition cells left unobserved at random.
        labels
            Include the conditions as columns.
        progress
            Called with the number of cases drawn after each chunk (for a progress bar).

        Returns
        -------
        pandas.DataFrame
            Index ``case_id`` (1, 2, ...); columns context, conditions, findings as ``Categorical``
            of the node's states, NaN where unobserved: the cohort format of :meth:`posteriors_batch`.
        """
        from bayesnet.learning.sampling import sample_cohort

        return sample_cohort(self.network, n, seed=seed, missing=missing, missing_labels=missing_labels,
                             labels=labels, progress=progress)

    def fit(self, cohort, *, max_iterations: int = 200, tolerance: float = 1e-6, id_column: str | None = None,
            progress=None, accelerate: bool = True, intervals: str = "observed"):
        """Update every number from a cohort by EM towards the posterior mode (see :mod:`bayesnet.learning.fitting`).

        Parameters
        ----------
        cohort
            A pandas DataFrame in the cohort format (conditions as columns where labelled, findings
            where recorded; an empty cell is unobserved, never absent), a Dask DataFrame (the E-step
            runs partition by partition), or the name of a CSV or Parquet file.
        max_iterations, tolerance
            Stop after this many iterations (E-steps), or when an iteration (a SQUAREM cycle when
            accelerated) raises the log posterior by less than ``tolerance`` nats per case.
        accelerate
            SQUAREM extrapolation with a monotone safeguard (default) or plain EM steps.
        intervals
            ``observed``: each fitted number's 95% interval from the observed information of the
            log posterior, the other numbers free (default; one or more E-steps per number when
            conditions or context are missing); ``complete``: from its own complete-data counts,
            the others fixed (cheap, too narrow).
        id_column
            For a file: a column of case identifiers (not a node).
        progress
            Called with the iteration number and the log posterior after each iteration.

        Returns
        -------
        bayesnet.learning.fitting.FitResult
            The fitted network, a table of every record before and after (``table``), the log
            posterior per iteration and the time of each. ``result.write(folder)`` writes the fitted
            knowledge base, which ``bayesnet.load(folder)`` reads; ``result.model()`` builds it now.
        """
        from bayesnet.learning.cohort_fit import fit_cohort

        result = fit_cohort(self, cohort, max_iterations=max_iterations, tolerance=tolerance, id_column=id_column,
                            progress=progress, accelerate=accelerate,
                            intervals=intervals)
        result.knowledge = self.knowledge
        return result

    def probability_of_evidence(self, evidence: Evidence | None) -> float:
        """P(evidence) under the model (0 for impossible evidence, which raises nothing here)."""
        return float(np.exp(self.engine.query(self.encode(evidence)).log_evidence))

    # ------------------------------------------------------------------ explanation and next finding
    def explain(self, evidence: Evidence | None, condition: str | None = None, *, top: int = 5,
                order: list[str] | None = None) -> pd.DataFrame:
        """Weights of evidence: why a condition ranks where it does (see :mod:`bayesnet.analysis.explain`).

        Parameters
        ----------
        evidence
            The evidence, as for :meth:`posteriors`.
        condition
            With a condition: one row per evidence item with its chain-rule weight of evidence for
            that condition (``woe``, nats; the column sums to the change in log odds), its
            likelihood ratio, and the order-free ``woe_alone`` and ``woe_last``, ranked by ``woe``.
            Without: the ``top`` conditions of the differential side by side, one column each,
            rows ranked by how much the weights differ between them.
        top
            How many conditions to compare when ``condition`` is not given.
        order
            The chain order as observed node names (default: the order the evidence was given in).
        """
        from bayesnet.analysis.explain import compare_conditions, explain_condition

        encoded = self.encode(evidence)
        self.answer(encoded)
        if condition is not None:
            return explain_condition(self.engine, encoded, condition, order)
        if top < 1:
            raise BayesnetError(f"top must be a positive number of conditions, got {top}")
        observed = {node for node, _ in encoded.items}
        ranked = [c for c in self.posteriors(evidence).index if c not in observed][:top]
        return compare_conditions(self.engine, encoded, ranked, order)

    def next_findings(self, evidence: Evidence | None = None, *, candidates: list[str] | None = None,
                      conditions: list[str] | None = None) -> pd.DataFrame:
        """Unobserved findings ranked by expected reduction of the differential's entropy.

        The entropy is the sum of the conditions' binary entropies in bits (over ``conditions``
        only, when given); each finding also gets the probability that observing it changes the
        top condition (see :mod:`bayesnet.analysis.next_finding`). ``candidates`` limits the findings ranked.
        """
        from bayesnet.analysis.next_finding import rank_next_findings

        encoded = self.encode(evidence)
        self.answer(encoded)
        return rank_next_findings(self.engine, encoded, candidates, conditions)

    def impossible_error(self, encoded: EncodedEvidence) -> ImpossibleEvidenceError:
        """The error for impossible evidence, naming a smallest set of its items that is impossible on
        its own (found by a deletion filter)."""
        items = list(encoded.items)
        culprits = list(items)
        for item in items:
            trial = [i for i in culprits if i is not item]
            if not np.isfinite(self.engine.query(self.encode(dict(trial))).log_evidence):
                culprits = trial
        named = [describe(node, value) for node, value in culprits]
        if len(named) == 1:
            message = f"the evidence {named[0]} is impossible under the model (probability zero)"
        else:
            message = ("the evidence is impossible under the model (probability zero): "
                       f"{', '.join(named)} cannot all hold together")
        return ImpossibleEvidenceError(message, named)

    # ------------------------------------------------------------------ provenance and export
    def provenance(self) -> pd.DataFrame:
        """Every number of the knowledge base with its source, quote, kind, counts and range.

        A ``fitted`` row also shows the row it was fitted from (``prior_kind``, ``prior_value``,
        ``prior_low``, ``prior_high``, ``prior_source``, ``prior_quote``, ``prior_line``); these
        columns are empty for every other row."""
        rows = []
        key = lambda p: (p.role, p.node, p.parent, p.state)  # noqa: E731
        aside: dict[tuple, object] = {}
        for p in self.knowledge.set_aside:  # the row a fitted row replaces: the literature's if in use, else the seeds'
            if p.kind != "fitted" and (key(p) not in aside or (p.kind == "literature" and self.knowledge.literature)):
                aside[key(p)] = p
        for p in self.knowledge.parameters:
            row = asdict(p)
            row["parameter"] = p.name
            row["complement"] = "yes" if p.complement else ""
            prior = aside.get(key(p)) if p.kind == "fitted" else None
            if prior is not None:
                row.update(prior_kind=prior.kind, prior_value=prior.value, prior_low=prior.low, prior_high=prior.high,
                           prior_source=prior.source, prior_quote=prior.quote, prior_line=prior.line)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=PROVENANCE_COLUMNS + PRIOR_COLUMNS)
        frame["prior_line"] = frame["prior_line"].astype("Int64")
        frame["n"] = frame["n"].astype("Int64")
        frame["N"] = frame["N"].astype("Int64")
        return frame

    def leak_cells(self) -> pd.DataFrame:
        """The finding x condition cells that ``cells.csv`` declares to have no effect beyond the leak:
        with that condition alone, the finding takes its leak's value(s)."""
        leaks: dict[str, list[str]] = {}
        for p in self.knowledge.parameters:
            if p.role == "finding_leak":
                leaks.setdefault(p.node, []).append(f"{p.state}={p.value:g}" if p.state else f"{p.value:g}")
        rows = [{"finding": f, "condition": c, "leak": " ".join(leaks.get(f, []))} for f, c in self.knowledge.no_effect]
        return pd.DataFrame(rows, columns=["finding", "condition", "leak"])

    def number_summary(self) -> pd.DataFrame:
        """How many numbers of each kind enter the network, and their share.

        Every record of the knowledge base counts once (the lowest state of an ordered finding is its
        complement, not a number of its own); every finding x condition cell left at the leak counts
        as one more ``assumed`` number (the statement "no effect", which the sources do not make).
        Columns ``records``, ``cells at the leak``, ``numbers`` (their sum) and ``share`` of numbers.
        """
        records = pd.Series([p.kind for p in self.knowledge.parameters]).value_counts()
        frame = pd.DataFrame({"records": records}).rename_axis("kind")
        frame["cells at the leak"] = 0
        frame.loc["assumed", "cells at the leak"] = len(self.knowledge.no_effect)
        frame = frame.fillna(0).astype(int)
        frame["numbers"] = frame["records"] + frame["cells at the leak"]
        frame["share"] = frame["numbers"] / frame["numbers"].sum()
        return frame.sort_values("numbers", ascending=False)

    @cached_property
    def pgmpy_network(self):
        """The network as a pgmpy ``DiscreteBayesianNetwork`` (built on first use)."""
        from bayesnet.inference.pgmpy_bridge import to_pgmpy

        return to_pgmpy(self.network)

    def reference_posteriors(self, evidence: Evidence | None = None) -> pd.Series:
        """P(condition present | evidence) by pgmpy's VariableElimination, for checking the engine.

        Slow on heavy evidence: it rebuilds its elimination on every query.
        """
        from bayesnet.inference.pgmpy_bridge import variable_elimination

        values = variable_elimination(self.pgmpy_network, self.network, self.encode(evidence))
        return pd.Series(values, name="posterior").rename_axis("condition")

    def export(self, path: str | Path, format: str = "xmlbif") -> Path:
        """Write the network as ``bif`` or ``xmlbif`` (full double precision) for other tools."""
        from bayesnet.inference.pgmpy_bridge import EXPORT_FORMATS, write_network

        if format not in EXPORT_FORMATS:
            raise BayesnetError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
        write_network(self.pgmpy_network, path, format)
        return Path(path)

    # ------------------------------------------------------------------ identity
    @property
    def knowledge_base(self) -> KnowledgeBaseId:
        """Which knowledge base answers: its version, content hash and folder (see :mod:`bayesnet.knowledge.identity`).

        Every frame of :meth:`posteriors` and :meth:`posteriors_batch` carries it as a dict in
        ``attrs["knowledge_base"]``. For a model built from a :class:`KnowledgeBase` directly, it is
        the identity of the folder that knowledge base was read from.
        """
        if self._identity is None:
            self._identity = identify(self.knowledge.path)
        return self._identity

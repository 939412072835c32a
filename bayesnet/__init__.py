"""bayesnet: a Bayesian network for the differential diagnosis of ectopic mineralisation.

>>> import bayesnet
>>> model = bayesnet.load()
>>> model.posteriors({"age_band": "child"})      # doctest: +SKIP
"""
from bayesnet.errors import (
    BayesnetError,
    EvidenceError,
    ImpossibleEvidenceError,
    KnowledgeBaseError,
    UnknownNameError,
)
from bayesnet.model import Model, default_priors_path, load

__all__ = [
    "load",
    "Model",
    "default_priors_path",
    "BayesnetError",
    "KnowledgeBaseError",
    "UnknownNameError",
    "EvidenceError",
    "ImpossibleEvidenceError",
]
__version__ = "0.1.0"

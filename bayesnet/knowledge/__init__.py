"""The knowledge layer: the ``priors/`` folder read and validated (:mod:`.base`) and compiled into
the numeric network the engine reads (:mod:`.network`)."""
from bayesnet.knowledge.base import (KINDS, KnowledgeBase, NodeSpec, Parameter, VerbalPhrase,
                                     load_knowledge)
from bayesnet.knowledge.network import NoisyOrNetwork, OrderedFinding, ParameterLocation, compile_knowledge

__all__ = ["KINDS", "KnowledgeBase", "NodeSpec", "Parameter", "VerbalPhrase", "load_knowledge", "NoisyOrNetwork",
           "OrderedFinding", "ParameterLocation", "compile_knowledge"]

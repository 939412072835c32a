"""The inference layer: evidence encoded as likelihoods (:mod:`.evidence`), the exact engine
(:mod:`.engine`, with :mod:`.context`, the compiled :mod:`.kernel` and the numpy :mod:`.sweep` for
what the kernel declines), variations of one evidence set (:mod:`.evidence_edit`), and pgmpy, the
reference engine and file export (:mod:`.pgmpy_bridge`, the only module that imports pgmpy)."""
from bayesnet.inference.engine import Answer, ExactEngine, ParameterBatch, query_parameter_batch
from bayesnet.inference.evidence import EncodedEvidence, EvidenceBatch, encode_evidence, parse_evidence

__all__ = ["Answer", "ExactEngine", "ParameterBatch", "query_parameter_batch", "EncodedEvidence", "EvidenceBatch",
           "encode_evidence", "parse_evidence"]

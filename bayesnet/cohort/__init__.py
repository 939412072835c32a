"""The cohort layer: a DataFrame or CSV file of cases scored row by row (:mod:`.scoring`), and the
same on a Dask DataFrame (:mod:`.distributed`, with the ``dask`` extra)."""
from bayesnet.cohort.scoring import (CohortRowError, CohortScore, EncodedFrame, UnknownColumnError, encode_frame,
                                     score_csv, score_frame)

__all__ = ["CohortRowError", "CohortScore", "EncodedFrame", "UnknownColumnError", "encode_frame", "score_csv",
           "score_frame"]

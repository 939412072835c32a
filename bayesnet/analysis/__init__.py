"""The analysis layer, each a function of a model and evidence: sensitivity functions and admissible
deviations (:mod:`.sensitivity`), second-order Monte Carlo (:mod:`.montecarlo`), the verbal what-if
(:mod:`.verbal_whatif`), weights of evidence (:mod:`.explain`), the next best finding
(:mod:`.next_finding`) and evaluation on a case set (:mod:`.evaluation`); :mod:`.parameters` maps
records to the engine's native numbers and :mod:`.scenarios` reads a scenario set."""

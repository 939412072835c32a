"""Learning from cases: synthetic cohorts drawn from the model, parameter fitting from a cohort by EM,
and what changed between two knowledge bases (see the README, "Learning from your own cases")."""

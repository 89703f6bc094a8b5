"""Statistics of a comparison: paired tests and equivalence, intervals, power, the race's
decisions, the budget check, the recommendation, ranks across tasks, speed ratios.

Pure functions and small values on arrays; the racing sweeper and the report both use them."""

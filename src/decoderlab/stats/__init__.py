"""Statistics of a comparison: paired tests, intervals, the race's decisions, speed ratios.

Pure functions and small values on arrays; the racing sweeper and the report both use them."""

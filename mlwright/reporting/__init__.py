"""`mlwright report`: the seed's reliability KPIs, cost and right-sizing over a window of runs."""

"""Personal-budget payments: the domain, its ledger and its persistence (no web framework)."""

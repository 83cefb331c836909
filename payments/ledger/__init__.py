"""The ledger: accounts, transfers (the one way money moves) and Helsinki periods."""

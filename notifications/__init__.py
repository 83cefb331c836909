"""Delivers the events payments wrote into its outbox: SSE and Web Push (see issue 5)."""

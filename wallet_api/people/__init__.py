"""Clients, decisions, the decision helper, me and categories."""

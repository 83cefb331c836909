"""Budgets: the organizer's catalogue, clients and decisions, and monthly funding."""

"""Charges and refunds: POST/GET /api/charges."""

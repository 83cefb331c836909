"""Helpers that tests in more than one folder share (conftest files hold fixtures and hooks only).

``databases``: the test databases and the CI rule that nothing may be skipped; ``api``: calling
the app over HTTP (bearer headers, idempotency keys, the seeded people's keys); ``money``:
charges and refunds through the payments use cases and through the API, the one set every
test uses. ``tests/factories.py`` seeds the standard county and reads the ledger directly.
"""

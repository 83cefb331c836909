"""Webhooks for integrators: an admin's endpoints, their delivery log and replay (issue 18)."""

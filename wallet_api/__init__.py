"""The Litestar application, CLI, settings and migrations."""

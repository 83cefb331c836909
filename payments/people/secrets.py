"""Secrets are stored only as their SHA-256: invite codes, session and ceremony tokens, API
keys and payment tokens all have 50 bits of entropy or more, so no slow hash is needed."""

from __future__ import annotations

import hashlib


def hash_secret(secret: str) -> str:
    """The stored form of a high-entropy secret."""
    return hashlib.sha256(secret.encode()).hexdigest()

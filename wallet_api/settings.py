"""Settings from ``WALLET_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from payments.db import database_url_from_env


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    scheduler: bool
    scheduler_interval_s: int
    max_body_bytes: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=database_url_from_env(),
            redis_url=os.environ.get("WALLET_REDIS_URL") or None,
            scheduler=_bool("WALLET_SCHEDULER", True),
            scheduler_interval_s=int(os.environ.get("WALLET_SCHEDULER_INTERVAL", "300")),
            max_body_bytes=int(os.environ.get("WALLET_MAX_BODY_BYTES", str(64 * 1024))),
        )

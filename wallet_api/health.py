"""Liveness and readiness, for load balancers and orchestrators.

``/health`` (liveness) answers 200 as long as the process serves requests; it touches nothing,
so a slow database never gets a healthy process restarted. ``/ready`` (readiness) checks what
a request needs: the database answers, its schema is at the code's migration head, and Redis
(when ``WALLET_REDIS_URL`` is set) answers. 200 when every check passes, 503 otherwise, with
each check's result. Both are public and exempt from the per-address limit; neither body holds
a secret (no URLs, no error texts, only "ok", "failed" or "behind").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from payments.db import Database
from wallet_api.migrate import schema_state

log = logging.getLogger("wallet.health")
CHECK_TIMEOUT_S = 3.0
SYSTEM = {"public": True, "per_address_limit": None}


class Health(msgspec.Struct):
    status: str
    database: str


class Readiness(msgspec.Struct):
    status: str  # "ok" or "unavailable"
    checks: dict[str, str]  # name -> "ok" | "failed" | "behind" | "not-configured"


@get("/health", opt=SYSTEM, tags=["system"])
async def health(state: State) -> Health:
    """Liveness: 200 with the database engine in use (read from settings; no query)."""
    db: Database = state.db
    return Health(status="ok", database=db.engine.dialect.name)


async def _database(db: Database) -> str:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _migrations(db: Database) -> str:
    current, head = await schema_state(db)
    return "ok" if current == head else "behind"


async def _redis(state: State) -> str:
    if not state.settings.redis_url:
        return "not-configured"
    live = getattr(state, "live", None)
    return "ok" if live is not None and await live.hub.ping() else "failed"


async def _run(name: str, check: Any) -> str:
    try:
        result: str = await asyncio.wait_for(check, CHECK_TIMEOUT_S)
        return result
    except Exception:
        log.warning("readiness check %s failed", name, exc_info=True)
        return "failed"


@get(
    "/ready",
    opt=SYSTEM,
    tags=["system"],
    responses={503: ResponseSpec(Readiness, description="A check failed (named in checks)")},
)
async def ready(state: State) -> Response[Readiness]:
    """Readiness: the database answers, migrations are at head, Redis answers (if used).
    200 when all pass, 503 otherwise; the body names each check's result."""
    db: Database = state.db
    checks = {"database": await _run("database", _database(db))}
    if checks["database"] == "ok":
        checks["migrations"] = await _run("migrations", _migrations(db))
    else:
        checks["migrations"] = "failed"
    checks["redis"] = await _run("redis", _redis(state))
    good = all(v in ("ok", "not-configured") for v in checks.values())
    return Response(
        Readiness(status="ok" if good else "unavailable", checks=checks),
        status_code=200 if good else 503,
        headers={"Cache-Control": "no-store"},
    )


ROUTES = [health, ready]

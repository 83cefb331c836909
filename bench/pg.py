"""PostgreSQL helpers: scratch databases and the server's settings."""

from __future__ import annotations

import asyncpg

PG_BASE = "postgresql://postgres@127.0.0.1:5432"


def check_loopback(url: str) -> None:
    """Refuse anything but a loopback server: the benchmark loads what it points at."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to benchmark a non-loopback PostgreSQL: {host!r}")


async def recreate_database(base: str, name: str) -> None:
    conn = await asyncpg.connect(base + "/postgres", timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(base: str, name: str) -> None:
    conn = await asyncpg.connect(base + "/postgres", timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


SETTINGS = (
    "server_version",
    "max_connections",
    "shared_buffers",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "wal_level",
    "autovacuum",
    "jit",
)


async def server_settings(base: str) -> dict[str, str]:
    conn = await asyncpg.connect(base + "/postgres", timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
            list(SETTINGS),
        )
        out = {}
        for r in rows:
            unit = r["unit"] or ""
            if r["name"] == "shared_buffers" and unit == "8kB":
                out[r["name"]] = f"{int(r['setting']) * 8 // 1024}MB"
            else:
                out[r["name"]] = r["setting"] + ("" if unit in ("", "8kB") else unit)
        out["active_connections_at_start"] = str(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            )
        )
        return out
    finally:
        await conn.close()

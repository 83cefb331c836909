"""Responses worth compressing are gzipped; the SSE stream never is (it must flush each event)."""

from __future__ import annotations

import gzip
import re
from typing import Any

from litestar.testing import AsyncTestClient

from wallet_api.app import create_app
from wallet_api.settings import Settings


def _app(url: str) -> Any:
    return create_app(
        Settings(
            database_url=url,
            redis_url=None,
            scheduler=False,
            scheduler_interval_s=300,
            max_body_bytes=64 * 1024,
        )
    )


async def test_app_shell_and_schema_are_gzipped(database_url: str) -> None:
    async with AsyncTestClient(app=_app(database_url)) as c:
        for path in ("/js/app.js", "/app.css", "/schema/openapi.json"):
            r = await c.get(path, headers={"Accept-Encoding": "gzip"})
            assert r.status_code == 200, path
            assert r.headers.get("content-encoding") == "gzip", path
            # httpx decodes transparently; the raw stream must really be gzip.
            assert len(r.content) > 1024
        raw = await c.get("/js/app.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers
        assert gzip.decompress(gzip.compress(raw.content)) == raw.content


async def test_event_stream_is_excluded_from_compression(database_url: str) -> None:
    app = _app(database_url)
    config = app.compression_config
    # The middleware's exclusion is by path pattern: make sure the SSE route matches it. (The
    # stream tests in tests/notifications read it with httpx, which asks for gzip: a buffered,
    # compressed stream would fail them.)
    assert config is not None
    patterns = [config.exclude] if isinstance(config.exclude, str) else list(config.exclude or [])
    assert any(re.search(p, "/api/events") for p in patterns)
    assert not any(re.search(p, "/api/wallets") for p in patterns)

"""Rate limits are checked and counted in one atomic step (issue 13, item 2).

Before, a limit was read before an attempt and counted after it, so parallel attempts all read
the same count: 40 parallel wrong invite codes got 13 tries against a limit of 10. The race
needs real connections to a real server, so it runs against ``wallet serve``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from payments.db import Database
from tests.servers import Server


@pytest.fixture
async def server(db: Database) -> AsyncIterator[Server]:
    s = Server(db.url, {"WALLET_RATE_INVITE_FAILURES": "10"})
    s.start()
    try:
        await s.ready()
        yield s
    finally:
        s.stop()
    assert s.tracebacks() == ""


async def test_parallel_wrong_invite_codes_get_no_more_tries_than_the_limit(server: Server):
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=30) as c:
        answers = await asyncio.gather(
            *(
                c.post("/api/invites/redeem/options", json={"code": "ZZZZZ-ZZZZZ"})
                for _ in range(40)
            )
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(404) == 10, statuses
    assert statuses.count(429) == 30, statuses

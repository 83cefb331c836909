"""Rate limits are checked and counted in one atomic step (issue 13, item 2).

Before, a limit was read before an attempt and counted after it, so parallel attempts all read
the same count: 40 parallel wrong invite codes got 13 tries against a limit of 10. The race
needs real connections to a real server, so it runs against ``wallet serve``.
"""

from __future__ import annotations

import asyncio
import time
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


async def test_every_public_route_is_limited_per_client_address(db, browser_factory):
    """Walk the app's own route list: every API route that needs no sign-in is
    refused with 429 once the client address has used its allowance, so no new public route
    can escape the limit (issue 13, item 8)."""
    from tests.identity.test_route_walk import concrete, handlers

    # One window for the whole walk: the counters' windows are fixed (every 5 minutes by
    # default), and a route walked across a window's end started counting again (seen in CI at
    # 07:00:00: three answers 400, no 429). A day's window, and the walk not begun in its last
    # minute (a few seconds' walk; at most one minute's wait, once a day).
    day = 86_400
    left = day - time.time() % day
    if left < 60:
        await asyncio.sleep(left + 1)
    browser = await browser_factory(rate_anonymous=3, rate_applications=2, rate_window_s=day)
    public = [(m, p, h) for m, p, h in handlers() if h.opt.get("public") and p.startswith("/api/")]
    # The only public API route exempt by name: the SMS gateway's webhook. Every reply people
    # send comes from the gateway's few addresses, so a per-address limit would silence them
    # all; it is authenticated by a shared secret instead, limited per phone number, and forged
    # calls are audited at most 20 per address in five minutes (docs/sms.md).
    exempt = {"/api/sms/inbound"}
    assert {p for _, p, h in public if h.opt.get("per_address_limit", "") is None} == exempt
    walked = []
    for method, path, handler in public:
        if path in exempt:
            continue
        limit = 2 if handler.opt.get("per_address_limit") == "rate_applications" else 3
        statuses = [
            (await browser.request(method, concrete(path), json={})).status_code
            for _ in range(limit + 1)
        ]
        assert 429 not in statuses[:limit], (method, path, statuses)
        assert statuses[-1] == 429, (method, path, statuses)
        walked.append(path)
        await _forget_counters(db)
    assert {
        "/api/signin/options",
        "/api/signin/verify",
        "/api/invites/redeem/options",
        "/api/invites/redeem/verify",
        "/api/providers/applications",
        "/api/providers/apply/options",
        "/api/providers/apply/verify",
    } <= set(walked), walked
    for _ in range(10):  # liveness and the app's own files are never limited
        assert (await browser.get("/health")).status_code == 200
        assert (await browser.get("/")).status_code == 200
        assert (await browser.get("/js/app.js")).status_code == 200


async def _forget_counters(db: Database) -> None:
    from sqlalchemy import delete

    from payments.models import RateCounter
    from payments.uow import UnitOfWork

    async with UnitOfWork(db) as uow:
        await uow.session.execute(delete(RateCounter))
        await uow.commit()

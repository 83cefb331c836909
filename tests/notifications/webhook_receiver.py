"""A webhook receiver on loopback for the tests: it verifies every delivery's signature twice
(with the ``standardwebhooks`` library, and by hand with hmac per the Standard Webhooks spec)
and answers with the statuses it is told, in turn (then 200)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web
from standardwebhooks import Webhook


def verify_by_hand(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The spec's check, without the library: HMAC-SHA256 over ``id.timestamp.body`` with the
    base64-decoded secret, compared in constant time with each ``v1,`` signature sent, and a
    timestamp within five minutes."""
    msg_id = headers["webhook-id"]
    stamp = headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sent in headers["webhook-signature"].split(" "):
        version, _, signature = sent.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    answered: int


@dataclass
class Receiver:
    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    # Requests whose signature either check refused.
    forged: list[str] = field(default_factory=list)
    url: str = ""
    # Set when a delivery arrives (tests wait on it).
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            Webhook(self.secret).verify(body, headers)
            by_library = True
        except Exception:
            by_library = False
        if not (by_library and verify_by_hand(self.secret, headers, body)):
            self.forged.append(headers.get("webhook-id", "?"))
            return web.Response(status=400)
        status = self.statuses.pop(0) if self.statuses else 200
        self.received.append(Received(headers, body, msgspec.json.decode(body), status))
        self.arrived.set()
        return web.Response(status=status, text="ok")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hooks"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

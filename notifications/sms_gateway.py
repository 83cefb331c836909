"""SMS gateways: the small interface the SMS sender and the inbound webhook use, one real
adapter (46elks, a Swedish operator's REST API, documented at 46elks.com/docs), and a fake that
speaks the same API on loopback for the tests and the demo.

**Why 46elks.** An EU company with EU data processing; a plain REST API (a form POST with HTTP
Basic auth to send; a form POST to our URL for every text a number receives) that needs no SDK;
Finnish numbers both ways, with replies to a virtual number, which approval by reply needs.

**Adding another gateway.** Write a class with ``name``, :meth:`send` (one text through the
process's ``OutboundClient``, never a session of its own: the outbound policy holds for every
request the server sends) and :meth:`inbound` (the gateway's webhook body as an
:class:`Inbound`), and choose it in :func:`gateway_from_settings` (docs/sms.md).

**Inbound authentication.** 46elks signs nothing; it calls the URL we give it, which may carry
HTTP Basic credentials (``https://sms:SECRET@wallet.example.fi/api/sms/inbound``). The route
compares the password with ``WALLET_SMS_INBOUND_SECRET`` in constant time
(:func:`basic_password_matches`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from notifications.outbound import OutboundClient

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GatewayAnswer:
    """What one send came to: ``status`` 0 is a network failure or a timeout."""

    status: int
    gateway_id: str | None = None
    error: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class Inbound:
    """A text a person sent to our number, as any gateway delivers it."""

    phone: str
    text: str
    gateway_id: str | None


class SmsGateway(Protocol):
    name: str

    async def send(self, http: OutboundClient, *, to: str, text: str) -> GatewayAnswer: ...

    def inbound(self, form: Mapping[str, str]) -> Inbound | None: ...


class FortySixElks:
    """46elks: ``POST {base}/sms`` (form: ``from``, ``to``, ``message``; HTTP Basic with the API
    username and password); incoming texts arrive as a form with ``from``, ``to``, ``message``,
    ``id`` and ``direction=incoming``."""

    name = "46elks"

    def __init__(self, base_url: str, username: str, password: str, sender: str) -> None:
        self.url = base_url.rstrip("/") + "/sms"
        self.authorization = _basic(username, password)
        self.sender = sender

    async def send(self, http: OutboundClient, *, to: str, text: str) -> GatewayAnswer:
        form = {"from": self.sender, "to": to, "message": text}
        try:
            resp = await http.post(
                self.url, data=form, headers={"Authorization": self.authorization}
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            return GatewayAnswer(0, error=f"network: {what}"[:200])
        try:
            if 200 <= resp.status < 300:
                body: Any = None
                with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                    body = await resp.json(content_type=None)
                sms_id = body.get("id") if isinstance(body, dict) else None
                return GatewayAnswer(resp.status, gateway_id=str(sms_id) if sms_id else None)
            return GatewayAnswer(
                resp.status,
                error=f"HTTP {resp.status}: {(await resp.text())[:120]}",
                retry_after=resp.headers.get("Retry-After"),
            )
        finally:
            resp.release()

    def inbound(self, form: Mapping[str, str]) -> Inbound | None:
        phone, text = form.get("from"), form.get("message")
        if not phone or text is None or form.get("direction", "incoming") != "incoming":
            return None
        return Inbound(phone=phone, text=text, gateway_id=form.get("id"))


def gateway_from_settings(url: str, token: str, sender: str) -> SmsGateway:
    """The gateway the settings name: ``WALLET_SMS_GATEWAY_TOKEN`` is ``username:password``."""
    username, _, password = token.partition(":")
    return FortySixElks(url, username, password, sender)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def basic_password_matches(header: str | None, secret: str) -> bool:
    """True if an ``Authorization: Basic`` header carries ``secret`` as its password (any
    username), compared in constant time."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not secret:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, _, password = decoded.partition(":")
    return hmac.compare_digest(password.encode(), secret.encode())


# --- the fake gateway: 46elks' API on loopback, for the tests and the demo -----------------


@dataclass
class SentText:
    id: str
    sender: str
    to: str
    message: str
    created: str


@dataclass
class FakeGateway:
    """46elks' send endpoint on ``127.0.0.1`` (``POST /a1/sms``, the same form and Basic auth),
    which records each text. ``GET /messages`` lists them (JSON; ``?to=`` filters);
    ``POST /reply`` (JSON ``{"from", "message"}``) makes the fake send a person's reply to
    ``inbound_url`` as 46elks would. ``fail_next`` answers that many sends with 503."""

    username: str = "demo"
    password: str = "demo-password"  # noqa: S105 (the fake's own, loopback only)
    inbound_url: str | None = None
    inbound_secret: str | None = None
    sent: list[SentText] = field(default_factory=list)
    fail_next: int = 0
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Condition | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/a1"

    @property
    def token(self) -> str:
        return f"{self.username}:{self.password}"

    async def start(self, port: int = 0) -> FakeGateway:
        app = web.Application()
        app.router.add_post("/a1/sms", self._send)
        app.router.add_get("/messages", self._messages)
        app.router.add_post("/reply", self._reply)
        self._arrived = asyncio.Condition()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def to(self, phone: str) -> list[SentText]:
        return [t for t in self.sent if t.to == phone]

    async def wait_for(self, phone: str, count: int = 1, within: float = 10.0) -> list[SentText]:
        """The texts sent to ``phone`` once there are at least ``count`` of them."""
        assert self._arrived is not None
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.to(phone)) >= count)
        return self.to(phone)

    async def _send(self, request: web.Request) -> web.Response:
        expected = _basic(self.username, self.password)
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return web.Response(status=401, text="API access requires Basic HTTP authentication")
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="try again")
        form = await request.post()
        sender, to, message = (str(form.get(k) or "") for k in ("from", "to", "message"))
        if not to.startswith("+") or not message or not sender:
            return web.Response(status=400, text="Missing from, to or message")
        text = SentText(
            id=f"s{next(self._ids):032x}",
            sender=sender,
            to=to,
            message=message,
            created=datetime.now(UTC).isoformat(),
        )
        self.sent.append(text)
        assert self._arrived is not None
        async with self._arrived:
            self._arrived.notify_all()
        return web.json_response(
            {"status": "created", "direction": "outgoing", **text.__dict__, "from": sender}
        )

    async def _messages(self, request: web.Request) -> web.Response:
        to = request.query.get("to")
        rows = [t.__dict__ for t in self.sent if to is None or t.to == to]
        return web.Response(
            text=json.dumps(rows, ensure_ascii=False, indent=1), content_type="application/json"
        )

    async def _reply(self, request: web.Request) -> web.Response:
        body = await request.json()
        status, text = await self.reply(str(body["from"]), str(body["message"]))
        return web.json_response({"status": status, "answer": text})

    async def reply(self, phone: str, message: str) -> tuple[int, str]:
        """Post a person's reply to the wallet's inbound URL, as 46elks would."""
        if not self.inbound_url:
            return 0, "no inbound_url"
        form = {
            "direction": "incoming",
            "id": f"r{next(self._ids):032x}",
            "from": phone,
            "to": "+46766860000",
            "message": message,
            "created": datetime.now(UTC).isoformat(),
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.inbound_url,
                data=urlencode(form),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": _basic("sms", self.inbound_secret or ""),
                },
            ) as resp,
        ):
            return resp.status, await resp.text()

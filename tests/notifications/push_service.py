"""A loopback Web Push service for the push tests: it decrypts (RFC 8291 aes128gcm) with the
device's private key and checks the VAPID JWT (RFC 8292), so the real sending path is used.

It counts every TCP connection it accepts, not only well-formed pushes: "the listener saw
nothing" then means that no byte of any request reached it.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

SUBJECT = "mailto:push-test@example.invalid"


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@dataclass
class Device:
    """A browser's side of a subscription: its ECDH key and auth secret."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: uuid.uuid4().bytes)

    @property
    def p256dh(self) -> str:
        return b64e(
            self.key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """The browser's ``PushSubscription.toJSON()`` for an endpoint."""
        return {"endpoint": endpoint, "keys": {"p256dh": self.p256dh, "auth": b64e(self.auth)}}


class _CountingServer(ThreadingHTTPServer):
    def __init__(self, service: PushService, handler: type[BaseHTTPRequestHandler]) -> None:
        self.service = service
        super().__init__(("127.0.0.1", 0), handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn = super().get_request()
        self.service.connections += 1
        return conn


class PushService:
    """Answers with the queued statuses (then 201) and decrypts what it receives.

    ``redirect_to``: answer every push with a 307 to that URL instead (a push service never
    redirects; the sender must not follow). ``keep_alive``: speak HTTP/1.1 and keep each
    connection open for the next push (as real push services do)."""

    def __init__(
        self,
        device: Device,
        vapid_public: str,
        *,
        redirect_to: str | None = None,
        keep_alive: bool = False,
    ):
        self.device = device
        self.vapid_public = vapid_public
        self.redirect_to = redirect_to
        self.statuses: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.posts = 0
        self.connections = 0
        self.errors: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                service.posts += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if service.redirect_to is not None:
                    self.send_response(307)
                    self.send_header("Location", service.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    service.check(self.headers, body)
                except Exception as exc:
                    service.errors.append(repr(exc))
                status = service.statuses.pop(0) if service.statuses else 201
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _CountingServer(self, Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def check(self, headers: Any, body: bytes) -> None:
        assert headers["Content-Encoding"] == "aes128gcm"
        assert int(headers["TTL"]) > 0 and headers["Urgency"] in ("high", "normal", "low")
        scheme, _, params = headers["Authorization"].partition(" ")
        assert scheme == "vapid"
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        assert parts["k"] == self.vapid_public
        h, p, s = parts["t"].split(".")
        assert json.loads(b64d(h)) == {"typ": "JWT", "alg": "ES256"}
        claims = json.loads(b64d(p))
        assert claims["aud"] == self.url and claims["sub"] == SUBJECT
        assert claims["exp"] > time.time()
        sig = b64d(s)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(parts["k"]))
        key.verify(
            utils.encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            ),
            f"{h}.{p}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
        plain = http_ece.decrypt(
            body,
            private_key=self.device.key,
            auth_secret=self.device.auth,
            version="aes128gcm",
        )
        self.received.append(json.loads(plain))

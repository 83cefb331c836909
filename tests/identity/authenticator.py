"""A software authenticator: real P-256 keys, real CBOR attestation objects ("none"
attestation) and real ECDSA signatures, so py_webauthn's real verification runs in the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


@dataclass
class StoredKey:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """Holds discoverable credentials; answers create() and get() like a platform passkey."""

    origin: str
    keys: list[StoredKey] = field(default_factory=list)
    counter_step: int = 1  # 0 imitates a synced passkey that always sends 0

    @staticmethod
    def _cose(key: ec.EllipticCurvePrivateKey) -> bytes:
        numbers = key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.create`` with the server's ``publicKey`` options."""
        rp = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        cred_id = os.urandom(32)
        user_handle = base64url_to_bytes(options["user"]["id"])
        flags = UP | AT | BE | BS | (UV if uv else 0)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", 0)
            + bytes(16)  # AAGUID
            + struct.pack(">H", len(cred_id))
            + cred_id
            + self._cose(key)
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        self.keys.append(StoredKey(cred_id, key, rp, user_handle))
        cid = bytes_to_base64url(cred_id)
        return {
            "id": cid,
            "rawId": cid,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        key: StoredKey | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.get``: a discoverable credential signs the challenge."""
        key = key or self.keys[-1]
        rp = rp_id or options.get("rpId") or key.rp_id
        if sign_count is None:
            key.sign_count += self.counter_step
            sign_count = key.sign_count
        flags = UP | BE | BS | (UV if uv else 0)
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([flags])
        auth_data += struct.pack(">I", sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = key.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        cid = bytes_to_base64url(key.credential_id)
        return {
            "id": cid,
            "rawId": cid,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(key.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

"""WebAuthn ceremonies with py_webauthn: options out, responses verified against settings.

User verification is required and credentials are discoverable (resident keys), so people sign
in without typing a name. The relying-party id and the origin come from settings.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json_dict
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
    WebAuthnException,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from payments.errors import DomainError, Refusal
from payments.people.challenges import ChallengeInvalid
from payments.people.passkeys import NewCredential
from wallet_api.settings import Settings

ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]  # fmt: skip


class PasskeyRejected(DomainError):
    kind = Refusal.UNAUTHENTICATED
    slug = "passkey-rejected"
    title = "The passkey's answer was not accepted"


def _reason(message: str) -> str:
    text = message.lower()
    if "origin" in text:
        return "origin"
    if "rp id" in text:
        return "rp-id"
    if "user verification" in text or "not verified" in text:
        return "user-verification"
    if "not present" in text:
        return "user-presence"
    if "signature" in text:
        return "signature"
    if "challenge" in text:
        return "challenge"
    if "type" in text:
        return "type"
    return "malformed"


def _rejected(exc: Exception, *, kind: Refusal) -> PasskeyRejected:
    error = PasskeyRejected(str(exc), reason=_reason(str(exc)))
    error.kind = kind
    return error


def user_handle(principal_id: uuid.UUID) -> bytes:
    """The WebAuthn user id: the principal's id (no personal data)."""
    return principal_id.bytes


def registration_options(
    settings: Settings,
    *,
    principal_id: uuid.UUID,
    user_name: str,
    display_name: str,
    exclude: list[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Creation options for ``navigator.credentials.create`` and the challenge (base64url)."""
    options = generate_registration_options(
        rp_id=settings.rp_id,
        rp_name=settings.rp_name,
        user_id=user_handle(principal_id),
        user_name=user_name,
        user_display_name=display_name,
        timeout=settings.challenge_ttl_s * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in exclude or []
        ],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json_dict(options), bytes_to_base64url(options.challenge)


def authentication_options(settings: Settings) -> tuple[dict[str, Any], str]:
    """Request options for a discoverable sign-in (no credential list) and the challenge."""
    options = generate_authentication_options(
        rp_id=settings.rp_id,
        timeout=settings.challenge_ttl_s * 1000,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options), bytes_to_base64url(options.challenge)


def challenge_of(credential: dict[str, Any]) -> str:
    """The challenge the browser signed, read from ``clientDataJSON`` to find our copy."""
    try:
        raw = base64url_to_bytes(credential["response"]["clientDataJSON"])
        challenge = json.loads(raw)["challenge"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ChallengeInvalid("The credential has no readable clientDataJSON") from exc
    if not isinstance(challenge, str) or not 16 <= len(challenge) <= 200:
        raise ChallengeInvalid()
    return challenge


def credential_id_of(credential: dict[str, Any]) -> str:
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or not 1 <= len(raw) <= 1400:
        raise PasskeyRejected("The credential has no id", reason="malformed")
    return raw


def user_handle_of(credential: dict[str, Any]) -> bytes | None:
    value = credential.get("response", {}).get("userHandle")
    if not value:
        return None
    try:
        return base64url_to_bytes(value)
    except (TypeError, ValueError):
        return None


def verify_registration(
    settings: Settings, credential: dict[str, Any], *, challenge: str, name: str
) -> NewCredential:
    """Check an attestation (origin, RP id, challenge, user verification, key)."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=settings.rp_id,
            expected_origin=settings.origin,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except (InvalidRegistrationResponse, WebAuthnException, ValueError, KeyError) as exc:
        raise _rejected(exc, kind=Refusal.INVALID) from exc
    transports = credential.get("response", {}).get("transports")
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        transports=" ".join(transports)[:200] if isinstance(transports, list) else None,
        backed_up=bool(verified.credential_backed_up),
    )


@dataclass(frozen=True)
class Assertion:
    new_sign_count: int
    backed_up: bool


def verify_assertion(
    settings: Settings, credential: dict[str, Any], *, challenge: str, public_key: bytes
) -> Assertion:
    """Check an assertion. The sign counter is not relied on (current count passed as 0);
    the caller stores it and audits a decrease."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=settings.rp_id,
            expected_origin=settings.origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except (InvalidAuthenticationResponse, WebAuthnException, ValueError, KeyError) as exc:
        raise _rejected(exc, kind=Refusal.UNAUTHENTICATED) from exc
    return Assertion(verified.new_sign_count, bool(verified.credential_backed_up))

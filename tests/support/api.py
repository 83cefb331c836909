"""Calling the app over HTTP: bearer headers, and the keys of the seeded county's people.

The fixtures that make these (``client``, ``keys``, ``foreign``) are in
``tests/wallet_api/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.factories import World


@dataclass
class Keys:
    """API keys of the seeded county's people. Carers hold one set of scopes each over the
    client, granted in force at once (as a case manager's grant is): so a route that takes
    ``view`` for ``approve`` or ``manage-providers`` is caught by ``carer_view``."""

    provider: str
    other_provider: str
    client: str
    case_manager: str
    carer_view: str  # view only
    carer_approve: str  # view + approve
    carer_providers: str  # view + manage-providers
    carer_none: str  # no mandate
    foreign_case_manager: str
    other_client: str


@dataclass
class Foreign:
    """Another organizer's people, each with every right there is in their own county: a client
    with a funded wallet, a carer holding all scopes over that client, an approved provider (for
    'siivous' too) that the client trusts, and a case manager."""

    world: World
    client: str
    carer: str
    provider: str
    case_manager: str


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}

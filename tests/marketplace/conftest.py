"""The app client, seeded county and keys of tests/wallet_api, reused here."""

from tests.wallet_api.conftest import client, keys, world  # noqa: F401

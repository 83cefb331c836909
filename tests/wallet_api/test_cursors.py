"""Page cursors come back from the client, so they are checked like any input (issue 13,
item 7): an integer beyond 64 bits, a time beyond the calendar's range in UTC, or text with a
NUL is a 400 ``invalid-cursor``, never a 500 from the database driver, on both engines."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.support.api import auth


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


ID = str(uuid.uuid4())
BAD = [
    # (name, role, path, cursor text)
    ("history id beyond 64 bits", "client", "/api/wallets/{wallet}/transactions", "9" * 30),
    ("history id zero", "client", "/api/wallets/{wallet}/transactions", "0"),
    ("history id not digits", "client", "/api/wallets/{wallet}/transactions", "١٢"),
    (
        "charges time past 9999 in UTC",
        "provider",
        "/api/charges",
        f"9999-12-31T23:59:59-12:00|{ID}",
    ),
    (
        "charges time past 9999 (new form)",
        "provider",
        "/api/charges",
        f"9999-12-31T23:59:59-12:00\x1f{ID}",
    ),
    (
        "charges time before year 1",
        "provider",
        "/api/charges",
        f"0001-01-01T00:00:00+14:00\x1f{ID}",
    ),
    ("charges naive time", "provider", "/api/charges", f"2026-01-01T00:00:00\x1f{ID}"),
    ("charges NUL", "provider", "/api/charges", f"2026-01-01T00:00:00+00:00\x00\x1f{ID}"),
    ("clients NUL in a name", "case_manager", "/api/clients", f"Virtanen\x00\x1fAino\x1f{ID}"),
    ("clients too few parts", "case_manager", "/api/clients", "Virtanen"),
    ("not base64", "case_manager", "/api/clients", None),
]


@pytest.mark.parametrize(("name", "role", "path", "text"), BAD, ids=[b[0] for b in BAD])
async def test_a_bad_cursor_is_a_400(client, db, world, keys, name, role, path, text):
    key = {"client": keys.client, "provider": keys.provider, "case_manager": keys.case_manager}
    value = "%%%" if text is None else cursor(text)
    r = await client.get(
        path.format(wallet=world.wallet_id), params={"cursor": value}, headers=auth(key[role])
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "invalid-cursor"


async def test_good_cursors_still_page(client, db, world, keys):
    """The pages a cursor walks are unchanged: each list's own next_cursor works."""
    for i in range(3):
        r = await client.post(
            "/api/charges",
            json={
                "phone": world.phone,
                "lines": [{"category": "siivous", "quantity": "0.1", "unit_price_cents": 3500}],
            },
            headers=auth(keys.provider, **{"Idempotency-Key": f"page-{i}"}),
        )
        assert r.status_code == 201, r.text
    seen = []
    url, params = "/api/charges", {"limit": 1}
    while True:
        page = (await client.get(url, params=params, headers=auth(keys.provider))).json()
        seen += [c["id"] for c in page["items"]]
        if not page["next_cursor"]:
            break
        params = {"limit": 1, "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen)) == 3
    history = f"/api/wallets/{world.wallet_id}/transactions"
    first = (await client.get(history, params={"limit": 1}, headers=auth(keys.client))).json()
    second = await client.get(
        history, params={"limit": 1, "cursor": first["next_cursor"]}, headers=auth(keys.client)
    )
    assert second.status_code == 200 and second.json()["items"] != first["items"]

"""Sessions: idle timeout with time left, passkeys list/add/remove, and abuse limits."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.identity.helpers import (
    County,
    issue_invite,
    new_authenticator,
    problem_of,
    redeem,
    sign_in,
)


async def test_idle_timeout_warns_then_ends(db, county: County, browser_factory, clock):
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    r = await redeem(phone, new_authenticator(), invite["code"])
    assert r.status_code == 201

    clock.advance(minutes=29)
    status = (await phone.get("/api/session")).json()
    assert 0 < status["seconds_left"] <= 60 and status["warn_before_s"] == 120
    # Peeking at the time left does not extend the session...
    assert (await phone.get("/api/session")).json()["seconds_left"] <= 60
    # ...but using the app does.
    assert (await phone.get("/api/me")).status_code == 200
    assert (await phone.get("/api/session")).json()["seconds_left"] > 1700

    clock.advance(minutes=30, seconds=1)
    problem_of(await phone.get("/api/me"), 401, "session-expired")
    problem_of(await phone.get("/api/session"), 401, "session-expired")


async def test_passkeys_can_be_added_listed_and_removed(db, county: County, browser_factory):
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    auth = new_authenticator()
    signed = (await redeem(phone, auth, invite["code"])).json()
    csrf = {"X-CSRF-Token": signed["csrf_token"]}

    options = (await phone.post("/api/me/passkeys/options", json={}, headers=csrf)).json()
    cred = auth.create(options["publicKey"])
    r = await phone.post(
        "/api/me/passkeys", json={"credential": cred, "passkey_name": "Tabletti"}, headers=csrf
    )
    assert r.status_code == 201, r.text
    keys = (await phone.get("/api/me/passkeys")).json()
    assert [k["name"] for k in keys] == ["Puhelin", "Tabletti"]

    # Both sign in; removing one ends the sessions it started.
    other = await browser_factory()
    assert (await sign_in(other, auth, key=auth.keys[1])).status_code == 200
    r = await phone.delete(f"/api/me/passkeys/{keys[1]['id']}", headers=csrf)
    assert r.status_code == 204, r.text
    problem_of(await other.get("/api/me"), 401, "session-expired")
    problem_of(
        await phone.delete(f"/api/me/passkeys/{keys[0]['id']}", headers=csrf), 409, "last-passkey"
    )
    fresh = await browser_factory()
    problem_of(await sign_in(fresh, auth, key=auth.keys[1]), 401, "passkey-revoked")


async def test_sign_in_counter_decrease_is_logged_not_refused(db, county: County, browser_factory):
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    auth = new_authenticator()
    await redeem(phone, auth, invite["code"])
    phone.cookies = httpx.Cookies()
    assert (await sign_in(phone, auth, sign_count=7)).status_code == 200
    phone.cookies = httpx.Cookies()
    assert (await sign_in(phone, auth, sign_count=3)).status_code == 200
    phone.cookies = httpx.Cookies()
    assert (await sign_in(phone, auth, sign_count=0)).status_code == 200  # synced passkey
    r = await staff.get(
        "/api/audit?action=passkey.counter_decreased",
        headers={"Authorization": f"Bearer {county.cm_key}"},
    )
    assert r.status_code == 200, r.text
    assert len(r.json()) == 2


async def test_failed_sign_ins_and_invite_codes_are_rate_limited(
    db, county: County, browser_factory
):
    browser = await browser_factory(rate_signin_failures=2, rate_invite_failures=2)
    # The limits count in fixed windows (epoch-aligned, 300 s): start well inside one, or a
    # slow machine's attempts may straddle its end and start counting afresh.
    left = 300 - time.time() % 300
    if left < 30:
        await asyncio.sleep(left + 0.5)
    stranger = new_authenticator()
    stranger.create({"rp": {"id": "wallet.test"}, "user": {"id": "AAAA"}, "challenge": "x"})
    for _ in range(2):
        problem_of(await sign_in(browser, stranger), 401, "passkey-unknown")
    r = await sign_in(browser, stranger)
    body = problem_of(r, 429, "too-many-requests")
    assert 0 < int(r.headers["retry-after"]) <= 300 and body["retry_after"] > 0

    for _ in range(2):
        r = await browser.post("/api/invites/redeem/options", json={"code": "ZZZZZ-ZZZZZ"})
        problem_of(r, 404, "invite-invalid")
    r = await browser.post("/api/invites/redeem/options", json={"code": "ZZZZZ-ZZZZZ"})
    problem_of(r, 429, "too-many-requests")
    assert "retry-after" in r.headers
    r = await browser.get("/api/audit?action=signin.failed",
                          headers={"Authorization": f"Bearer {county.cm_key}"})  # fmt: skip
    # Failed sign-ins of unknown passkeys belong to no organizer, so none is listed here.
    assert r.status_code == 200

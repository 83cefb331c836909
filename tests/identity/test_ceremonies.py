"""Invite -> passkey registration -> sign-in -> sign-out, and every refusal on the way."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from payments.models import AuditEvent, Passkey
from payments.uow import UnitOfWork
from tests.identity.helpers import (
    County,
    bearer,
    issue_invite,
    new_authenticator,
    problem_of,
    redeem,
    sign_in,
)


async def actions(db, organizer_id=None) -> list[str]:
    async with UnitOfWork(db, readonly=True) as uow:
        stmt = select(AuditEvent.action).order_by(AuditEvent.id)
        if organizer_id is not None:
            stmt = stmt.where(AuditEvent.organizer_id == organizer_id)
        return list((await uow.session.execute(stmt)).scalars())


async def test_invited_client_registers_signs_in_and_out(db, county: County, browser_factory):
    staff = await browser_factory()
    phone = await browser_factory()
    # A case manager creates a client and prints an invite for them.
    r = await staff.post(
        "/api/clients",
        json={"first_name": "Eino", "last_name": "Korhonen", "phone": "0401112222"},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 201, r.text
    new_client = r.json()
    invite = await issue_invite(staff, county.cm_key, client_id=new_client["client_id"])
    assert invite["role"] == "client" and invite["display_name"] == "Eino Korhonen"
    assert len(invite["code"]) == 11 and invite["link"].endswith(invite["code"])
    assert invite["qr_svg"].lstrip().startswith("<")
    assert "<svg" in invite["qr_svg"]

    # The client's phone redeems it (typed in lower case without the dash) with a passkey.
    auth = new_authenticator()
    r = await phone.post(
        "/api/invites/redeem/options", json={"code": invite["code"].replace("-", "").lower()}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["invite"]["display_name"] == "Eino Korhonen"
    options = body["publicKey"]
    assert options["rp"]["id"] == "wallet.test"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    cookie = phone.cookies.get("__Host-wallet_ceremony")
    assert cookie
    r = await phone.post(
        "/api/invites/redeem/verify",
        json={"credential": auth.create(options), "passkey_name": "Oma puhelin"},
    )
    assert r.status_code == 201, r.text
    signed = r.json()
    assert signed["role"] == "client" and signed["csrf_token"]
    assert signed["session"]["idle_timeout_s"] == 1800
    set_cookie = ", ".join(r.headers.get_list("set-cookie"))
    assert "__Host-wallet_session=" in set_cookie
    assert "HttpOnly" in set_cookie and "Secure" in set_cookie
    assert "SameSite=lax" in set_cookie or "SameSite=Lax" in set_cookie

    me = (await phone.get("/api/me")).json()
    assert me["role"] == "client" and me["wallets"] == [new_client["wallet_id"]]
    assert me["session"]["seconds_left"] > 1700 and me["csrf_token"] == signed["csrf_token"]
    passkeys = (await phone.get("/api/me/passkeys")).json()
    assert [p["name"] for p in passkeys] == ["Oma puhelin"]

    # Cookie writes need the CSRF token: missing or wrong is refused.
    problem_of(await phone.post("/api/signout", json={}), 403, "csrf-invalid")
    problem_of(
        await phone.post("/api/signout", json={}, headers={"X-CSRF-Token": "nope"}),
        403,
        "csrf-invalid",
    )
    old_jar = httpx.Cookies(phone.cookies)
    r = await phone.post("/api/signout", json={}, headers={"X-CSRF-Token": signed["csrf_token"]})
    assert r.status_code == 204, r.text
    # Ended on the server: the old cookie is worthless even if a browser kept it.
    phone.cookies = old_jar
    problem_of(await phone.get("/api/me"), 401, "session-expired")

    # Signing in again needs no name: the discoverable passkey says who it is.
    phone.cookies = httpx.Cookies()
    r = await sign_in(phone, auth)
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Eino Korhonen"
    assert (await phone.get("/api/me")).json()["client_id"] == new_client["client_id"]
    async with UnitOfWork(db, readonly=True) as uow:
        stored = (await uow.session.execute(select(Passkey))).scalar_one()
    assert stored.sign_count == auth.keys[0].sign_count == 1

    log = await actions(db, county.organizer_id)
    for action in ("client.created", "invite.created", "invite.redeemed", "signin.succeeded",
                   "signout"):  # fmt: skip
        assert action in log, log


async def test_invite_is_single_use_expires_and_is_bound(
    db, county: County, browser_factory, clock
):
    staff = await browser_factory()
    a, b = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))

    # Unknown code.
    problem_of(
        await a.post("/api/invites/redeem/options", json={"code": "AAAAA-AAAAA"}),
        404,
        "invite-invalid",
    )
    # Used once, then refused.
    signed = await redeem(a, new_authenticator(), invite["code"])
    assert signed.status_code == 201
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    problem_of(
        await b.post("/api/invites/redeem/options", json={"code": invite["code"]}),
        410,
        "invite-used",
    )

    # Expired after 7 days.
    carer = await staff.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Matti", "scopes": ["view"]},
        headers=bearer(county.cm_key),
    )
    assert carer.status_code == 201, carer.text
    clock.advance(days=7, seconds=1)
    problem_of(
        await b.post("/api/invites/redeem/options", json={"code": carer.json()["code"]}),
        410,
        "invite-expired",
    )
    clock.offset = clock.offset.__class__()

    # Bound to its person: a signed-in client cannot take the carer's invite.
    problem_of(
        await a.post(
            "/api/invites/redeem/options", json={"code": carer.json()["code"]}, headers=csrf
        ),
        403,
        "invite-wrong-person",
    )
    # A newer invite for the same person replaces the old one.
    again = await issue_invite(staff, county.cm_key, principal_id=carer.json()["principal_id"])
    problem_of(
        await b.post("/api/invites/redeem/options", json={"code": carer.json()["code"]}),
        404,
        "invite-invalid",
    )
    assert (await redeem(b, new_authenticator(), again["code"])).status_code == 201
    assert (await b.get("/api/me")).json()["role"] == "carer"
    assert "invite.failed" in await actions(db)


REFUSALS = [
    "replayed",
    "expired",
    "wrong-origin",
    "wrong-rp-id",
    "no-user-verification",
    "unknown-credential",
    "revoked",
]


@pytest.mark.parametrize("case", REFUSALS)
async def test_sign_in_refusals(db, county: County, browser_factory, clock, case):
    staff = await browser_factory()
    phone = await browser_factory()
    auth = new_authenticator()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    assert (await redeem(phone, auth, invite["code"])).status_code == 201
    phone.cookies = httpx.Cookies()

    r = await phone.post("/api/signin/options", json={})
    options = r.json()["publicKey"]
    if case == "replayed":
        cred = auth.get(options)
        assert (await phone.post("/api/signin/verify", json={"credential": cred})).is_success
        phone.cookies.delete("__Host-wallet_session")
        r = await phone.post("/api/signin/verify", json={"credential": cred})
        problem_of(r, 400, "challenge-invalid")
    elif case == "expired":
        clock.advance(minutes=5, seconds=1)
        r = await phone.post("/api/signin/verify", json={"credential": auth.get(options)})
        problem_of(r, 400, "challenge-expired")
    elif case == "wrong-origin":
        cred = auth.get(options, origin="https://evil.example")
        body = problem_of(await phone.post("/api/signin/verify", json={"credential": cred}), 401,
                          "passkey-rejected")  # fmt: skip
        assert body["reason"] == "origin"
    elif case == "wrong-rp-id":
        cred = auth.get(options, rp_id="evil.example")
        body = problem_of(await phone.post("/api/signin/verify", json={"credential": cred}), 401,
                          "passkey-rejected")  # fmt: skip
        assert body["reason"] == "rp-id"
    elif case == "no-user-verification":
        cred = auth.get(options, uv=False)
        body = problem_of(await phone.post("/api/signin/verify", json={"credential": cred}), 401,
                          "passkey-rejected")  # fmt: skip
        assert body["reason"] == "user-verification"
    elif case == "unknown-credential":
        stranger = new_authenticator()
        stranger.create({"rp": {"id": "wallet.test"}, "user": {"id": "AAAA"}, "challenge": "x"})
        cred = stranger.get(options)
        problem_of(await phone.post("/api/signin/verify", json={"credential": cred}), 401,
                   "passkey-unknown")  # fmt: skip
    elif case == "revoked":
        # Lost phone: the case manager re-invites and revokes the old passkeys.
        r = await staff.post(
            "/api/invites",
            json={"client_id": str(county.client_id), "revoke_passkeys": True},
            headers=bearer(county.cm_key),
        )
        assert r.status_code == 201, r.text
        cred = auth.get(options)
        problem_of(await phone.post("/api/signin/verify", json={"credential": cred}), 401,
                   "passkey-revoked")  # fmt: skip
        # The new phone gets in with the new invite.
        assert (await redeem(phone, new_authenticator(), r.json()["code"])).status_code == 201
    # Nothing signed the phone in by a refusal; the failure is audited.
    if case not in ("replayed", "revoked"):
        problem_of(await phone.get("/api/me"), 401, "unauthorized")
        assert "signin.failed" in await actions(db)


async def test_registration_refusals(db, county: County, browser_factory):
    staff = await browser_factory()
    phone = await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    auth = new_authenticator()
    for kw, reason in (({"uv": False}, "user-verification"), ({"origin": "https://x.test"},
                       "origin"), ({"rp_id": "x.test"}, "rp-id")):  # fmt: skip
        r = await redeem(phone, auth, invite["code"], **kw)
        assert problem_of(r, 400, "passkey-rejected")["reason"] == reason
    # Another browser cannot finish a ceremony this one started.
    r = await phone.post("/api/invites/redeem/options", json={"code": invite["code"]})
    cred = auth.create(r.json()["publicKey"])
    other = await browser_factory()
    problem_of(
        await other.post("/api/invites/redeem/verify", json={"credential": cred}),
        400,
        "challenge-invalid",
    )
    # The invite is still good after refused attempts; the challenge works once.
    before = httpx.Cookies(phone.cookies)
    assert (await phone.post("/api/invites/redeem/verify", json={"credential": cred})).is_success
    phone.cookies = before
    r = await phone.post("/api/invites/redeem/verify", json={"credential": cred})
    problem_of(r, 400, "challenge-invalid")

"""Issue 15, items 4 and 5: the demo's invites for every role, a busy port failing before
anything is seeded, and pages opened on another host than the origin's moving to the origin.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from payments.db import Database
from payments.models import AuditEvent, Invite, Principal, ProviderOwner
from payments.people.invites import InviteInvalid, lookup_invite
from payments.uow import UnitOfWork
from payments.vocabulary import Role
from tests.servers import WALLET, free_port
from wallet_api.app import create_app
from wallet_api.demo import DEMO_PEOPLE, print_guide, seed_demo
from wallet_api.settings import Settings

ORIGIN = "http://localhost:8100"


def _settings(url: str, **extra: Any) -> Settings:
    base = Settings(
        database_url=url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
        origin=ORIGIN,
    )
    return replace(base, **extra)


# -- the demo's invites ---------------------------------------------------------------------

EXPECTED_ROLES = {
    "Liisa Asiakasohjaaja": Role.CASE_MANAGER,
    "Siivouspalvelu Kuura Oy": Role.PROVIDER,
    "Taksi Hiltunen": Role.PROVIDER,
    "Päiväkeskus Kompassi ry": Role.PROVIDER,
    "Hoivakoti Ukkohalla Oy": Role.PROVIDER,
    "Matti Virtanen": Role.CARER,
    "Aino Virtanen": Role.CLIENT,
    # Eino receives the taxi's payment request in the guide.
    "Eino Korhonen": Role.CLIENT,
    "Helmi Nieminen": Role.CLIENT,
}


async def test_the_demo_invites_every_role_it_mentions(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = await seed_demo(db)
    assert {i.name for i in guide.invites} == set(EXPECTED_ROLES)
    for invite in guide.invites:
        info = await lookup_invite(db, invite.code)
        assert info.display_name == invite.name
        assert info.role == EXPECTED_ROLES[invite.name], invite
    # Issued by no one (the command line's path), and audited.
    async with UnitOfWork(db, readonly=True) as uow:
        creators = (await uow.session.execute(select(Invite.created_by))).scalars().all()
        audited = (
            await uow.session.execute(
                select(AuditEvent.actor_id).where(AuditEvent.action == "invite.created")
            )
        ).all()
    assert creators and set(creators) == {None}
    assert len(audited) >= len(EXPECTED_ROLES)
    # Each provider's person owns it, so the guide's providers see the Staff screen.
    async with UnitOfWork(db, readonly=True) as uow:
        providers = (
            (await uow.session.execute(select(Principal.id).where(Principal.role == Role.PROVIDER)))
            .scalars()
            .all()
        )
        owners = (await uow.session.execute(select(ProviderOwner.principal_id))).scalars().all()
        admins = (
            (await uow.session.execute(select(Principal.display_name).where(Principal.admin)))
            .scalars()
            .all()
        )
    assert providers and set(providers) == set(owners)
    # The guide's case manager is the admin too, so the Staff screen can be tried.
    assert admins == ["Liisa Asiakasohjaaja"]

    print_guide(None, guide, "127.0.0.1", 8100, origin=ORIGIN)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    for invite in guide.invites:
        assert f"{ORIGIN}/join#{invite.code}" in out
    # Grouped by role, in the order of DEMO_PEOPLE, and the links start in one column.
    positions = [out.index(f"  {group}:") for group, _ in DEMO_PEOPLE]
    assert positions == sorted(positions)
    columns = {line.index("http") for line in out.splitlines() if "/join#" in line}
    assert len(columns) == 1

    # A second run replaces the invites: the first codes no longer work, the new ones do.
    again = await seed_demo(db)
    for old, new in zip(guide.invites, again.invites, strict=True):
        with pytest.raises(InviteInvalid):
            await lookup_invite(db, old.code)
        assert (await lookup_invite(db, new.code)).display_name == new.name


# -- a busy port ----------------------------------------------------------------------------


def test_a_busy_port_fails_before_seeding(tmp_path: Path) -> None:
    port = free_port()
    target = tmp_path / "demo.sqlite3"
    env = {**os.environ, "WALLET_DATABASE_URL": f"sqlite:///{target}"}
    env.pop("WALLET_ORIGIN", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [WALLET, "demo", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"Port {port} is in use; stop the other server or choose another with PORT="
    ), lines
    assert "Personal-budget wallet" not in done.stdout
    assert not target.exists(), "nothing may be seeded when the port is busy"


def test_make_demo_passes_the_port() -> None:
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    assert "PORT ?= 8000" in makefile
    assert "wallet demo --port $(PORT)" in makefile


# -- another host moves to the origin -------------------------------------------------------


@pytest.fixture
async def elsewhere(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app with the redirect on, opened on 127.0.0.1 while its origin is localhost."""
    app = create_app(_settings(database_url, redirect_to_origin=True))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8100") as c:
        yield c


async def test_a_page_on_another_host_moves_to_the_origin(
    elsewhere: AsyncTestClient[Any],
) -> None:
    for path in ("/", "/join", "/index.html", "/js/app.js"):
        r = await elsewhere.get(path, follow_redirects=False)
        assert r.status_code == 307, (path, r.status_code)
        assert r.headers["location"] == f"{ORIGIN}{path}"
    r = await elsewhere.get("/join?lang=sv", follow_redirects=False)
    assert r.headers["location"] == f"{ORIGIN}/join?lang=sv"


async def test_the_api_health_and_docs_stay_on_any_host(
    elsewhere: AsyncTestClient[Any],
) -> None:
    assert (await elsewhere.get("/health")).status_code == 200
    assert (await elsewhere.get("/schema/openapi.json")).status_code == 200
    r = await elsewhere.get("/api/me", follow_redirects=False)
    assert r.status_code == 401, r.status_code
    r = await elsewhere.post("/api/signin/options", json={}, follow_redirects=False)
    assert r.status_code == 200, r.text


async def test_the_origins_own_host_is_served(database_url: str) -> None:
    app = create_app(_settings(database_url, redirect_to_origin=True))
    async with AsyncTestClient(app=app, base_url=ORIGIN) as c:
        r = await c.get("/", follow_redirects=False)
        assert r.status_code == 200
        assert "<html" in r.text.lower()
        # A proxy's forwarded host counts as the host asked for.
        r = await c.get("/", headers={"X-Forwarded-Host": "127.0.0.1:8100"}, follow_redirects=False)
        assert r.status_code == 307


async def test_the_redirect_is_on_from_the_environment_and_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.delenv("WALLET_REDIRECT_TO_ORIGIN", raising=False)
    assert Settings.from_env().redirect_to_origin is True
    monkeypatch.setenv("WALLET_REDIRECT_TO_ORIGIN", "0")
    assert Settings.from_env().redirect_to_origin is False
    app = create_app(_settings(database_url, redirect_to_origin=False))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8100") as c:
        assert (await c.get("/", follow_redirects=False)).status_code == 200

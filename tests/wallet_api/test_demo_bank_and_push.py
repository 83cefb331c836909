"""The demo's providers have bank accounts, so settling them writes a pain.001 file; its Web
Push keys are made once and kept in the demo's folder (issue 17). The full demo run, with its
printed settle command and a restart that keeps the keys, is test_demo_guide.py."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from payments.checkout.charges import ChargeLineInput, Customer
from payments.checkout.trust import set_trusted
from payments.db import Database, create_database
from payments.marketplace.providers import valid_bic, valid_iban
from payments.models import Principal, Provider, ProviderProfile
from payments.uow import UnitOfWork
from tests.support.databases import truncate
from tests.support.money import charged
from wallet_api.cli import main
from wallet_api.demo import (
    BANK_ACCOUNTS,
    DEBTOR,
    PROVIDERS,
    VAPID_FILE,
    demo_folder,
    demo_vapid_keys,
    prepare_environment,
    seed_demo,
)


async def _accounts(db: Database) -> dict[str, tuple[str, str]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(Provider.name, ProviderProfile.iban, ProviderProfile.bic).join(
                    ProviderProfile, ProviderProfile.provider_id == Provider.id
                )
            )
        ).all()
    return {name: (iban, bic) for name, iban, bic in rows}


async def test_every_demo_provider_has_a_valid_bank_account(db: Database) -> None:
    await seed_demo(db)
    accounts = await _accounts(db)
    assert set(accounts) == {name for name, _, _ in PROVIDERS}
    for iban, bic in accounts.values():
        assert valid_iban(iban) == iban and valid_bic(bic, iban) == bic
    _, debtor_iban, debtor_bic = DEBTOR
    assert valid_bic(debtor_bic, valid_iban(debtor_iban)) == debtor_bic
    # A demo county seeded before its providers had accounts gets them on its next start,
    # and a start never adds a second one.
    async with UnitOfWork(db) as uow:
        await uow.session.execute(delete(ProviderProfile))
        await uow.commit()
    await seed_demo(db)
    await seed_demo(db)
    assert await _accounts(db) == BANK_ACCOUNTS


def test_wallet_settle_writes_a_pain001_file_for_the_demo(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every demo provider that charged is paid to its own account in the bank file."""

    async def seed() -> None:
        db = create_database(database_url)
        try:
            if db.is_postgres:
                await truncate(db)
            guide = await seed_demo(db)
            async with UnitOfWork(db, readonly=True) as uow:
                ids = {
                    name: pid
                    for name, pid in (
                        await uow.session.execute(select(Provider.name, Provider.id))
                    ).all()
                }
                case_manager = (
                    await uow.session.execute(
                        select(Principal.id).where(Principal.display_name == "Liisa Asiakasohjaaja")
                    )
                ).scalar_one()
            for name, category, price, client in (
                ("Siivouspalvelu Kuura Oy", "siivous", 3400, "Aino"),
                ("Päiväkeskus Kompassi ry", "paivatoiminta", 7500, "Eino"),
                ("Hoivakoti Ukkohalla Oy", "omaishoidon-vapaa", 10000, "Aino"),
            ):
                await set_trusted(
                    db,
                    actor_id=case_manager,
                    wallet_id=guide.wallets[client],
                    provider_id=ids[name],
                    per_charge_cap_cents=20_000,
                )
                await charged(
                    db,
                    None,
                    [ChargeLineInput(category, 1, price)],
                    provider_id=ids[name],
                    customer=Customer(wallet_id=guide.wallets[client]),
                )
        finally:
            await db.dispose()

    asyncio.run(seed())
    name, iban, bic = DEBTOR
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_NAME", name)
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_IBAN", iban)
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_BIC", bic)
    from payments.clock import utcnow
    from payments.ledger.periods import HELSINKI

    today = utcnow().astimezone(HELSINKI).date().isoformat()
    out = tmp_path / "files"
    done = CliRunner().invoke(main, ["settle", "--until", today, "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "3 settled" in done.output and "has no bank account" not in done.output
    (bank_file,) = out.glob("*.pain001.xml")
    xml = bank_file.read_text()
    for provider in (
        "Siivouspalvelu Kuura Oy",
        "Päiväkeskus Kompassi ry",
        "Hoivakoti Ukkohalla Oy",
    ):
        assert BANK_ACCOUNTS[provider][0] in xml, provider
    assert BANK_ACCOUNTS["Taksi Hiltunen"][0] not in xml  # charged nothing, paid nothing
    assert iban in xml


def test_the_push_keys_are_made_once_and_kept(tmp_path: Path) -> None:
    private, public, path = demo_vapid_keys(tmp_path)
    assert path == tmp_path / VAPID_FILE and path.stat().st_mode & 0o777 == 0o600
    again = demo_vapid_keys(tmp_path)
    assert again == (private, public, path)
    elsewhere = demo_vapid_keys(tmp_path / "other")
    assert elsewhere[1] != public


def test_the_demo_folder_is_its_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert demo_folder(f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3") == tmp_path
    monkeypatch.chdir(tmp_path)
    assert demo_folder("postgresql+asyncpg://postgres@127.0.0.1/wallet") == tmp_path
    assert demo_folder("sqlite+aiosqlite://") == tmp_path


def test_prepare_environment_keeps_what_the_operator_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3"
    for name in (
        "WALLET_VAPID_PRIVATE_KEY",
        "WALLET_VAPID_PUBLIC_KEY",
        "WALLET_SETTLEMENT_DEBTOR_NAME",
        "WALLET_SETTLEMENT_DEBTOR_IBAN",
        "WALLET_SETTLEMENT_DEBTOR_BIC",
    ):
        # Set, then unset: monkeypatch then restores each after the test (prepare_environment
        # sets them), also one that was not set before.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_IBAN", "FI4950009420028730")
    path = prepare_environment(url)
    assert path == tmp_path / VAPID_FILE
    assert os.environ["WALLET_VAPID_PUBLIC_KEY"] == demo_vapid_keys(tmp_path)[1]
    assert os.environ["WALLET_SETTLEMENT_DEBTOR_IBAN"] == "FI4950009420028730"
    assert os.environ["WALLET_SETTLEMENT_DEBTOR_BIC"] == DEBTOR[2]
    # Keys the operator gave are used as they are: no file is read or made.
    monkeypatch.setenv("WALLET_VAPID_PRIVATE_KEY", "given-private")
    monkeypatch.setenv("WALLET_VAPID_PUBLIC_KEY", "given-public")
    path.unlink()
    assert prepare_environment(url) is None
    assert os.environ["WALLET_VAPID_PUBLIC_KEY"] == "given-public"
    assert not path.exists()

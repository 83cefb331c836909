"""``wallet backup``'s reading of WALLET_DATABASE_URL: libpq arguments for pg_dump and
pg_restore, the password only in the environment, and the SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from wallet_api.backup import BackupError, pg_target, sqlite_path


def test_a_tcp_url_becomes_arguments_and_the_password_an_environment_variable():
    t = pg_target("postgresql://wallet:s3cr%40t@db.example.fi:5433/wallet?sslmode=require")
    assert t.args == [
        "--dbname=wallet",
        "--host=db.example.fi",
        "--port=5433",
        "--username=wallet",
        "--no-password",
    ]
    assert not any("s3cr" in a for a in t.args)
    assert t.env["PGPASSWORD"] == "s3cr@t" and t.env["PGSSLMODE"] == "require"
    assert t.where == "wallet on db.example.fi:5433"


def test_a_socket_url_without_a_password_passes_none(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PGPASSWORD", "from-somewhere-else")
    t = pg_target("postgresql+asyncpg://wallet@/wallet?host=/run/postgresql")
    assert t.args == ["--dbname=wallet", "--host=/run/postgresql", "--username=wallet",
                      "--no-password"]  # fmt: skip
    assert "PGPASSWORD" not in t.env


def test_sqlite_urls_name_their_file():
    assert sqlite_path("sqlite:///wallet.sqlite3") == Path("wallet.sqlite3")
    assert sqlite_path("sqlite+aiosqlite:////var/lib/wallet/w.db") == Path("/var/lib/wallet/w.db")
    with pytest.raises(BackupError):
        sqlite_path("sqlite:///:memory:")
    with pytest.raises(BackupError):
        pg_target("postgresql://wallet@localhost")

"""Every ``wallet`` command that uses the database fails the same way when there is none to
use (issue 17): one line on stderr, exit code 1, no traceback, and nothing created. Only
``wallet db upgrade`` (and ``wallet demo``) start on a database that is not there yet."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.servers import WALLET
from tests.support.databases import PG_BASE, need, pg_ready
from wallet_api.cli import main

# Every command that opens the database through the CLI's one door (``_with_db``).
DB_COMMANDS = [
    ["check"],
    ["fund"],
    ["statements", "--month", "2020-01"],
    ["settle", "--until", "2020-01-31"],
    ["organizer", "list"],
    ["organizer", "create", "--slug", "kainuu", "--name", "Kainuu"],
    ["invite", "--organizer", "kainuu", "--role", "admin", "--name", "Anna"],
    ["apikey", "revoke", "abc"],
    ["apikey", "create", "--principal", str(uuid.uuid4())],
]


def _one_line_error(result: Result) -> str:
    """The command failed as a command should: exit 1, one line on stderr, no exception."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("args", DB_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_missing_sqlite_file_is_one_line_and_is_not_created(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "nowhere" / "wallet.sqlite3"
    monkeypatch.setenv("WALLET_DATABASE_URL", f"sqlite:///{target}")
    line = _one_line_error(CliRunner().invoke(main, [*args]))
    assert line == (
        f"Error: No database at {target}: set WALLET_DATABASE_URL, or create one with "
        "'wallet db upgrade'."
    )
    assert not target.exists() and not target.parent.exists()


def test_a_database_without_tables_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "empty.sqlite3"
    target.touch()
    monkeypatch.setenv("WALLET_DATABASE_URL", f"sqlite:///{target}")
    line = _one_line_error(CliRunner().invoke(main, ["check"]))
    assert line == (
        f"Error: The database {target} has no tables: create them with 'wallet db upgrade' "
        "(or start 'wallet demo')."
    )
    # ... and db upgrade is what makes it: then the check runs.
    upgraded = CliRunner().invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    checked = CliRunner().invoke(main, ["check"])
    assert checked.exit_code == 0 and "OK: the books balance." in checked.output


def test_db_upgrade_creates_a_missing_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new.sqlite3"
    monkeypatch.setenv("WALLET_DATABASE_URL", f"sqlite:///{target}")
    done = CliRunner().invoke(main, ["db", "upgrade"])
    assert done.exit_code == 0, done.output
    assert target.exists() and "Database is at revision" in done.output


def test_a_postgresql_database_that_does_not_exist_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not asyncio.run(pg_ready()):
        need(f"PostgreSQL is not reachable at {PG_BASE}")
    name = f"wallet_missing_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("WALLET_DATABASE_URL", f"{PG_BASE}/{name}")
    line = _one_line_error(CliRunner().invoke(main, ["check"]))
    assert line.startswith("Error: Cannot open the database postgresql+asyncpg://"), line
    assert line.endswith(f'database "{name}" does not exist'), line


def test_an_unreachable_postgresql_server_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setenv("WALLET_DATABASE_URL", "postgresql://wallet:s3cret@127.0.0.1:1/wallet")
    line = _one_line_error(CliRunner().invoke(main, ["check"]))
    assert line.startswith("Error: Cannot open the database postgresql+asyncpg://wallet:***@"), line
    assert "s3cret" not in line


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    """The real ``wallet check`` process, as an operator runs it in the wrong folder."""
    env = {**os.environ, "WALLET_DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.sqlite3'}"}
    done = subprocess.run(
        [WALLET, "check"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("Error: No database at "), done.stderr
    assert not (tmp_path / "wallet.sqlite3").exists()

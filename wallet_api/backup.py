"""Backups of the live database, and putting one back (``wallet backup``, ``wallet restore``).

SQLite: ``VACUUM INTO`` on the live file. It reads inside one read transaction, so the copy is
a consistent snapshot even while the server writes (WAL lets writers go on meanwhile); the copy
is checked with ``PRAGMA quick_check``. PostgreSQL: ``pg_dump --format=custom`` of the
configured database (one snapshot too); the password goes to pg_dump in ``PGPASSWORD``, never
on its command line, where every user of the host could read it.

A backup is written beside its target under a temporary name and renamed into place only when
complete, so a killed run never leaves a half file under the name a restore would pick up.
Every failure is a :class:`BackupError` with one line saying what to do.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from payments.db import normalise_url

Say = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that could not be made; the message is one line for the operator."""


@dataclass(frozen=True)
class Written:
    path: Path
    engine: str
    size: int
    seconds: float


def _quiet(_: str) -> None:
    pass


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL (``sqlite:///wallet.sqlite3``: relative to the working
    directory, as the server opens it)."""
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise BackupError("WALLET_DATABASE_URL names no SQLite file (an in-memory database)")
    return Path(database)


@dataclass(frozen=True)
class PgTarget:
    """What pg_dump/pg_restore need: arguments and environment (the password only there)."""

    args: list[str]
    env: dict[str, str]
    dbname: str
    where: str


def pg_target(url: str) -> PgTarget:
    """``postgresql://user:password@host:port/db?host=/run/postgresql&sslmode=require`` as
    libpq command-line arguments and environment."""
    u = make_url(normalise_url(url))
    if not u.database:
        raise BackupError("WALLET_DATABASE_URL names no database")
    query = {k: (v[0] if isinstance(v, tuple) else v) for k, v in u.query.items()}
    host = u.host or query.get("host")
    port = u.port or query.get("port")
    args = [f"--dbname={u.database}"]
    if host:
        args.append(f"--host={host}")
    if port:
        args.append(f"--port={port}")
    if u.username:
        args.append(f"--username={u.username}")
    args.append("--no-password")  # never wait for a prompt: a timer has no one to answer it
    env = {**os.environ}
    env.pop("PGPASSWORD", None)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    sslmode = query.get("sslmode") or query.get("ssl")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    where = f"{u.database} on {host or 'the local socket'}" + (f":{port}" if port else "")
    return PgTarget(args=args, env=env, dbname=u.database, where=where)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed or not on PATH: install PostgreSQL's client tools "
            "(Debian: apt-get install postgresql-client)"
        )
    return found


def _writable_target(path: Path) -> Path:
    """A temporary name beside ``path``; fails at once when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BackupError(f"Cannot write the backup to {path}: it is a directory")
    if not parent.is_dir():
        raise BackupError(f"Cannot write the backup to {path}: {parent} is not a directory")
    partial = parent / f".{path.name}.partial"
    try:
        partial.unlink(missing_ok=True)
        partial.touch()
        partial.unlink()
    except OSError as exc:
        raise BackupError(f"Cannot write the backup to {path}: {exc.strerror or exc}") from exc
    return partial


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def backup(url: str, path: Path, say: Say = _quiet) -> Written:
    """Write a consistent copy of the database at ``url`` to ``path`` (replacing it)."""
    started = time.monotonic()
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = "sqlite"
        source = sqlite_path(url)
        if not source.is_file():
            raise BackupError(f"No SQLite database at {source}")
        partial = _writable_target(path)
        say(f"Copying {source} with VACUUM INTO (the server may keep writing)…")
        try:
            with sqlite3.connect(source, timeout=30, isolation_level=None) as conn:
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("VACUUM INTO ?", (str(partial),))
            conn.close()
            with sqlite3.connect(partial) as copy:
                verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
            copy.close()
        except sqlite3.Error as exc:
            partial.unlink(missing_ok=True)
            raise BackupError(f"SQLite could not copy {source}: {exc}") from exc
        if verdict != "ok":
            partial.unlink(missing_ok=True)
            raise BackupError(f"The copy of {source} failed its integrity check: {verdict}")
        say("Checked the copy: integrity ok.")
    else:
        engine = "postgresql"
        pg_dump = _tool("pg_dump")
        target = pg_target(url)
        partial = _writable_target(path)
        say(f"Dumping {target.where} with pg_dump (custom format)…")
        # The arguments are the operator's own settings, passed as a list (no shell).
        done = subprocess.run(  # noqa: S603
            [pg_dump, "--format=custom", f"--file={partial}", *target.args],
            env=target.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {_last_line(done.stderr)}")
    partial.chmod(0o600)  # a backup holds everyone's personal data: its owner reads it only
    os.replace(partial, path)
    return Written(path, engine, path.stat().st_size, time.monotonic() - started)


def restore(url: str, path: Path, say: Say = _quiet) -> Written:
    """Put the backup ``path`` into the database at ``url``, which must be new and empty: on
    SQLite no file there yet; on PostgreSQL a created database with no tables. Stop the
    servers first; then run ``wallet db upgrade`` and ``wallet check``."""
    started = time.monotonic()
    url = normalise_url(url)
    if not path.is_file():
        raise BackupError(f"No backup at {path}")
    if url.startswith("sqlite"):
        engine = "sqlite"
        target = sqlite_path(url)
        if target.exists():
            raise BackupError(
                f"{target} exists: move it away first (the server must be stopped), "
                "then restore into its place"
            )
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            conn.close()
        except sqlite3.Error as exc:
            raise BackupError(f"{path} is not a SQLite backup: {exc}") from exc
        if verdict != "ok":
            raise BackupError(f"{path} failed its integrity check: {verdict}")
        partial = _writable_target(target)
        say(f"Copying {path} to {target}…")
        try:
            shutil.copyfile(path, partial)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise BackupError(f"Cannot write {target}: {exc.strerror or exc}") from exc
    else:
        engine = "postgresql"
        pg_restore = _tool("pg_restore")
        pg = pg_target(url)
        say(f"Restoring {path} into {pg.where} with pg_restore…")
        done = subprocess.run(  # noqa: S603
            [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", *pg.args, str(path)],
            env=pg.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BackupError(
                f"pg_restore failed: {_last_line(done.stderr)} (restore into a new, empty "
                "database: createdb NAME, and point WALLET_DATABASE_URL at it)"
            )
    return Written(path, engine, path.stat().st_size, time.monotonic() - started)

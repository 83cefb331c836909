"""The ``wallet`` command line: serve, worker, demo, db upgrade, fund, statements, prune, check,
settle, bank import, export-ledger, apikey, webhooks, sms, client close, organizer, catalogue,
import clients, invite, vapid."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from payments.db import Database, create_database, database_url_from_env
from payments.ledger.periods import current_period, parse_period
from wallet_api.money_format import euros

T = TypeVar("T")
console = Console()


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit code 1."""
    raise click.ClickException(message)


def _with_db(fn: Callable[[Database], Awaitable[T]], *, create: bool = False) -> T:
    """Run ``fn`` on the database of WALLET_DATABASE_URL. Every command that reads or writes the
    database goes through here, so each one fails the same way when there is no database to
    work on: one line on stderr and exit code 1, never a traceback. Only ``create`` (``wallet
    db upgrade``, ``wallet demo``) may start on a database that is not there yet."""
    url = database_url_from_env()
    where = _database_name(url)
    if not create:
        path = _sqlite_path(url)
        if path is not None and not path.exists():
            _fail(
                f"No database at {where}: set WALLET_DATABASE_URL, or create one with "
                "'wallet db upgrade'."
            )

    async def run() -> T:
        db = create_database(url)
        try:
            if not create:
                await _require_schema(db, where)
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _database_name(url: str) -> str:
    """The database as an operator knows it: a SQLite file's path, or the URL without its
    password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another engine or an in-memory database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return None if name.startswith("file:") else Path(name)


async def _require_schema(db: Database, where: str) -> None:
    """Refuse, in one line, a database that cannot be reached or has no schema."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from wallet_api.migrate import schema_state

    try:
        current, _ = await schema_state(db)
    except (OSError, SQLAlchemyError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        first = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
        _fail(f"Cannot open the database {where}: {first}")
    if current is None:
        _fail(
            f"The database {where} has no tables: create them with 'wallet db upgrade' "
            "(or start 'wallet demo')."
        )


# What a long use case calls as it goes: (done, total).
Progress_ = Callable[[int, int], None]


def _with_progress(
    label: str, value: str, work: Callable[[Database, Progress_], Awaitable[T]]
) -> T:
    """Run ``work`` on the database with a progress bar ("<label> <value>", done of total)."""

    async def run(database: Database) -> T:
        with Progress(
            TextColumn(f"{label} {{task.fields[value]}}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(label, total=None, value=value)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await work(database, update)

    return _with_db(run)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="personal-budget-wallet", prog_name="wallet")
def main() -> None:
    """Personal-budget wallet. The database comes from WALLET_DATABASE_URL (default: a SQLite
    file wallet.sqlite3 in the working directory)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option(
    "--server",
    "server",
    type=click.Choice(["uvicorn", "granian"]),
    default=None,
    help="HTTP server, both on uvloop. Default: uvicorn for one process, granian for several "
    "(it spreads keep-alive connections over the workers; uvicorn's workers did not: "
    "docs/performance.md).",
)
@click.option(
    "--web-only",
    is_flag=True,
    help="Only answer requests: no scheduler, no outbox dispatcher (run 'wallet worker' "
    "for those). Same as WALLET_SCHEDULER=0 WALLET_DISPATCHER=0.",
)
def serve(host: str, port: int, workers: int, server: str | None, web_only: bool) -> None:
    """Serve the API and the app (migrates an empty database first)."""
    _check_settings()
    if web_only:
        # Read by Settings.from_env in every server process (wallet_api.asgi).
        os.environ["WALLET_SCHEDULER"] = "0"
        os.environ["WALLET_DISPATCHER"] = "0"
    _serve(host, port, workers, server or ("granian" if workers > 1 else "uvicorn"))


def _check_settings() -> Any:
    """The settings, or one line naming the one that is wrong (a retention out of range, an
    origin that is not https, …) before any server starts, instead of a traceback from each
    server process."""
    from wallet_api.settings import Settings

    try:
        return Settings.from_env()
    except ValueError as exc:
        _fail(str(exc))


def _serve(host: str, port: int, workers: int = 1, server: str = "uvicorn") -> None:
    # Proxies whose X-Forwarded-For/-Proto count (docs/security.md); none by default (uvicorn
    # would otherwise trust 127.0.0.1). The app resolves through the same list again.
    trusted = os.environ.get("WALLET_TRUSTED_PROXIES", "").strip()
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian(
            "wallet_api.asgi:granian_app",
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            loop=Loops.uvloop,
            log_access=False,
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        "wallet_api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # the app logs each request itself (wallet.access)
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        loop="uvloop",
        http="httptools",
    )


def port_in_use(host: str, port: int) -> OSError | None:
    """Why the server could not listen on ``host:port`` (another server has it: EADDRINUSE),
    or None when it could.

    Bound with SO_REUSEADDR as the server binds, so a port left in TIME_WAIT is free; a socket
    listening there is not. The probe is closed again before the server binds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Create a demo county with providers and clients, fund this month, print what to try,
    and serve it."""
    from wallet_api.demo import (
        prepare_environment,
        print_guide,
        seed_demo,
        start_fake_sms_gateway,
    )

    # A busy port fails now, before anything is seeded or printed.
    refused = port_in_use(host, port)
    if refused is not None:
        if refused.errno == errno.EADDRINUSE:
            message = (
                f"Port {port} is in use; stop the other server or choose another with "
                f"PORT=… (make demo PORT={port + 1}, or wallet demo --port {port + 1})."
            )
        else:
            message = f"Cannot listen on {host}:{port}: {refused.strerror or refused}."
        click.echo(message, err=True)
        sys.exit(1)
    # Passkeys are bound to the origin people open; in the demo that is localhost:PORT.
    os.environ.setdefault("WALLET_ORIGIN", f"http://localhost:{port}")
    # The demo hands out API keys to paste into the app: its API-key form is on here (and
    # nowhere else unless WALLET_DEV_API_KEY_FORM says so).
    os.environ.setdefault("WALLET_DEV_API_KEY_FORM", "1")
    # Web Push keys kept in the demo's folder, and the county's paying account.
    push_keys = prepare_environment(database_url_from_env())
    guide = _with_db(seed_demo, create=True)
    guide.push_keys = push_keys
    # SMS through a fake gateway on loopback, unless a real one is configured (docs/sms.md).
    fake = start_fake_sms_gateway(port)
    guide.sms_gateway = f"http://127.0.0.1:{fake.port}" if fake is not None else None
    print_guide(console, guide, host, port, origin=os.environ["WALLET_ORIGIN"].rstrip("/"))
    _serve(host, port)


@main.command()
def worker() -> None:
    """Run the scheduler (funding, statements, settlements, expiry) and the outbox dispatcher
    (live events, Web Push) without HTTP, until SIGTERM or Ctrl-C. Pair with
    'wallet serve --web-only'."""
    from wallet_api.worker import configure_logging, run_worker

    settings = _check_settings()
    configure_logging(settings)
    # On uvloop, as the servers are (their loop=uvloop): the dispatcher's rounds are mostly
    # sockets (PostgreSQL, Redis, the listener); worker CPU a charge −7 to −20 % in
    # bench.run --worker. uvloop comes with the servers (uvicorn[standard]).
    import uvloop

    uvloop.run(run_worker(settings, served=True))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (safe to run again)."""
    from wallet_api.migrate import schema_state, upgrade

    async def run(database: Database) -> tuple[str | None, str | None]:
        await upgrade(database)
        return await schema_state(database)

    current, _ = _with_db(run, create=True)
    console.print(f"[green]Database is at revision {current}.[/green]")


@main.command()
@click.option(
    "--month",
    default=None,
    help="YYYY-MM (default: the current Helsinki month; a month not yet begun is refused).",
)
def fund(month: str | None) -> None:
    """Expire last month's remainders and fund every active decision line for MONTH (this
    month or an earlier one)."""
    from payments.budgets.funding import fund_period

    now = current_period()
    period = month or now
    try:
        parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from exc
    if period > now:  # YYYY-MM strings sort as the months do
        # Funding expires the month before it: run now, it would take this month's money
        # away in the middle of the month.
        _fail(
            f"{period} has not begun (it is {now} in Helsinki): funding it now would expire "
            f"{now}'s money in the middle of the month. Nothing was moved; run it on the 1st "
            "(the server's scheduler does)."
        )

    s = _with_progress(
        "Funding", period, lambda db, update: fund_period(db, period, progress=update)
    )
    table = Table(title=f"Funding {period}")
    table.add_column("")
    table.add_column("envelopes", justify="right")
    table.add_column("amount", justify="right")
    table.add_row("expired (last month's remainder)", str(s.expired_count), euros(s.expired_cents))
    table.add_row("funded", str(s.funded_count), euros(s.funded_cents))
    console.print(table)
    console.print(f"{s.envelopes_seen} envelopes checked. Running this again moves nothing more.")


@main.command()
@click.option("--month", default=None, help="YYYY-MM (default: last Helsinki month).")
def statements(month: str | None) -> None:
    """Announce MONTH's statements: one 'statement.ready' event per wallet whose month has
    closed (run 'wallet fund' for the next month first). Running it again announces nothing
    twice."""
    from payments.errors import DomainError
    from payments.ledger.periods import previous_period
    from payments.reporting.statements import issue_statements

    period = month or previous_period(current_period())
    try:
        parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from exc

    try:
        r = _with_progress(
            "Statements",
            period,
            lambda db, update: issue_statements(db, period, progress=update),
        )
    except DomainError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from exc
    console.print(
        f"{r.issued} statement(s) of {period} announced; {r.wallets_seen - r.issued} were "
        "already announced by another run. Running this again announces nothing more."
    )


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
def prune(dry_run: bool) -> None:
    """Delete personal data past its retention period (WALLET_RETENTION_*, docs/privacy.md)
    and pseudonymise long-closed clients; the books are never touched. The scheduler runs
    this daily."""
    from payments.people.retention import Kind
    from payments.people.retention import prune as prune_all
    from wallet_api.scheduler import report_pruned
    from wallet_api.settings import Settings

    try:
        retention = Settings.from_env().retention()
    except ValueError as exc:
        _fail(str(exc))

    def said(kind: Kind, n: int) -> None:
        console.print(f"  {kind}: {n}")

    console.print("Would prune:" if dry_run else "Pruning:")
    pruned = _with_db(lambda d: prune_all(d, retention, dry_run=dry_run, progress=said))
    report_pruned(pruned)
    verb = "would be pruned" if dry_run else "pruned"
    console.print(f"{pruned.total} rows {verb}. Transfers, accounts and charges are kept.")


@main.command()
def check() -> None:
    """Prove the books: balanced transfers, stored balances, no negatives, period closings."""
    from payments.books import check_books

    report = _with_db(check_books)
    table = Table(title="Envelopes by period")
    for col in ("period", "funded", "spent", "refunded", "expired", "held (open)", "closing"):
        table.add_column(col, justify="right")
    for period in sorted(report.periods):
        t = report.periods[period]
        table.add_row(
            period,
            euros(t.funded),
            euros(t.spent),
            euros(t.refunded),
            euros(t.expired),
            euros(t.held),
            euros(t.closing),
        )
    console.print(table)
    console.print(
        f"{report.transfers} transfers, {report.accounts} accounts, {report.envelopes} envelopes."
    )
    if report.ok:
        console.print("[green]OK: the books balance.[/green]")
        return
    console.print(f"[red]{len(report.violations)} violation(s):[/red]")
    for v in report.violations:
        console.print(f"  - {v}")
    sys.exit(1)


@main.command()
@click.option(
    "--until",
    "until_text",
    required=True,
    help="YYYY-MM-DD: settle what was booked up to the end of this day (Helsinki time).",
)
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, writable=True),
    help="Directory for the CSV and the pain.001 bank file.",
)
@click.option("--execution-date", default=None, help="YYYY-MM-DD the bank pays (default: today).")
def settle(until_text: str, out_dir: str, execution_date: str | None) -> None:
    """Settle providers up to a day: one payout each with an RF reference, booked in the
    ledger, plus a CSV and a SEPA pain.001 file (paying account: WALLET_SETTLEMENT_DEBTOR_*).
    Running it again settles nothing twice."""
    from datetime import date

    from payments.errors import DomainError
    from payments.marketplace.settlements import Debtor, batch_files, settle_providers
    from wallet_api.settings import Settings

    try:
        until = date.fromisoformat(until_text)
        pay_on = date.fromisoformat(execution_date) if execution_date else date.today()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        _fail(str(exc))
    debtor = None
    if settings.settlement_debtor_iban and settings.settlement_debtor_bic:
        debtor = Debtor(
            name=settings.settlement_debtor_name or "Hyvinvointialue",
            iban=settings.settlement_debtor_iban,
            bic=settings.settlement_debtor_bic,
        )

    async def run(database: Database, update: Progress_) -> Any:
        result = await settle_providers(
            database,
            until,
            progress=update,
            minimum_payout_cents=settings.settlement_minimum_payout_cents,
        )
        return result, await batch_files(database, result, debtor, pay_on)

    try:
        result, files = _with_progress("Settling up to", until.isoformat(), run)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    table = Table(title=f"Settlements up to {until.isoformat()}")
    for col, justify in (
        ("provider", "left"),
        ("reference", "left"),
        ("lines", "right"),
        ("amount", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in result.settled:
        # A provider chooses its own name: print it as text, never as console markup.
        table.add_row(escape(s.provider_name), s.reference, str(s.lines), euros(s.amount_cents))
    for c in result.carried:
        table.add_row(escape(c.provider_name), "[yellow]carried[/yellow]", "", euros(c.net_cents))
    table.add_row("[bold]total[/bold]", "", "", f"[bold]{euros(result.total_cents)}[/bold]")
    console.print(table)
    _write_files(out_dir, files.files)
    if result.settled and debtor is None:
        console.print("[yellow]No bank file: set WALLET_SETTLEMENT_DEBTOR_IBAN and _BIC.[/yellow]")
    for p in files.without_account:
        console.print(
            f"[yellow]{escape(p.provider_name)} has no bank account: "
            f"pay {p.reference} by hand.[/yellow]"
        )
    console.print(
        f"{len(result.settled)} settled, {len(result.carried)} carried. "
        "Running this again moves nothing more."
    )


@main.group("import")
def import_group() -> None:
    """Bring a county's records in from its own systems."""


@import_group.command("clients")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--organizer", "organizer_slug", required=True, help="The county's slug.")
@click.option(
    "--apply",
    is_flag=True,
    help="Write the clients and decisions (without it: a dry run that writes nothing).",
)
def import_clients_command(file: str, organizer_slug: str, apply: bool) -> None:
    """Import clients and their budget decisions from a CSV file (columns: docs/setup.md).
    A dry run unless --apply: every row is checked and reported, and nothing is written. Rows
    are matched by the county's references (client_ref, decision_ref), so importing the same
    file again adds nothing; if any row is refused, nothing is written. With --apply the new
    decisions are funded for the current month at once."""
    from payments.budgets.client_import import (
        ClientOutcome,
        ClientsInvalid,
        DecisionOutcome,
        import_clients,
        parse_clients,
    )
    from payments.budgets.funding import fund_period
    from payments.budgets.organizers import find_organizer
    from payments.errors import DomainError

    path = Path(file)

    async def run(database: Database, update: Progress_) -> Any:
        organizer = await find_organizer(database, organizer_slug)
        result = await import_clients(
            database,
            organizer_id=organizer.organizer_id,
            rows=rows,
            source=path.name,
            dry_run=not apply,
            progress=update,
        )
        if apply and result.decisions(DecisionOutcome.CREATED):
            await fund_period(database, current_period())
        return result

    try:
        rows = parse_clients(path.read_bytes())
        result = _with_progress("Importing", path.name, run)
    except ClientsInvalid as exc:
        for error in exc.errors:
            click.echo(f"{path.name}: {error}", err=True)
        _fail(exc.detail)
    except DomainError as exc:
        _fail(f"{path.name}: {exc.detail}")
    verb = "would be " if not apply else ""
    for row in result.rows:
        if row.client != ClientOutcome.UNCHANGED or row.decision == DecisionOutcome.CREATED:
            what = f"client {row.client_ref} {verb}{row.client}"
            if row.decision is not None:
                what += f", decision {row.decision_ref} {verb}{row.decision}"
            click.echo(f"{row.where}: {what}")
    click.echo(f"{path.name}: {len(result.rows)} rows; {result.summary()}.")
    if not apply:
        click.echo("Dry run: nothing was written. Run again with --apply to import.")


@main.group()
def bank() -> None:
    """What the bank says of the settlements' payouts."""


@bank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--dry-run", is_flag=True, help="Show what each line would do; write nothing.")
def bank_import(file: str, dry_run: bool) -> None:
    """Read a camt.054 booking notice or a pain.002 status report from the bank and mark the
    settlements it names paid or rejected, matched by their RF reference. A rejected payout
    goes back to the provider and is paid in the next settlement. The whole file is recorded
    at once or not at all; reading it again changes nothing. Exits 1 when a line needs a
    person (no settlement has its reference, its amount differs, ...)."""
    from payments.errors import DomainError
    from payments.marketplace.bank_files import import_bank_file

    path = Path(file)
    try:
        data = path.read_bytes()
        result = _with_db(lambda d: import_bank_file(d, data, dry_run=dry_run))
    except DomainError as exc:
        _fail(f"{path.name}: {exc.detail}")
    table = Table(title=f"{path.name} ({result.kind})")
    for col, justify in (
        ("line", "right"),
        ("reference", "left"),
        ("provider", "left"),
        ("amount", "right"),
        ("result", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for n, x in enumerate(result.lines, start=1):
        amount = x.line.amount_cents if x.line.amount_cents is not None else x.settlement_cents
        what = str(x.result) + (f" ({x.line.reason})" if x.line.reason else "")
        table.add_row(
            str(n),
            x.line.reference or "",
            escape(x.provider_name or ""),
            euros(amount) if amount is not None else "",
            f"[yellow]{escape(what)}[/yellow]" if x.needs_a_person else escape(what),
        )
    console.print(table)
    for n, x in enumerate(result.lines, start=1):
        if x.needs_a_person:
            # Plain lines as well, for a log or a mail: what a person has to look into.
            note = f"; {x.line.note}" if x.line.note else ""
            click.echo(f"{path.name}: line {n}: {x.line.reference or '-'}: {x.result}{note}")
    counts = {str(r): result.count(r) for r in dict.fromkeys(x.result for x in result.lines)}
    summary = ", ".join(f"{n} {what}" for what, n in counts.items()) or "no payments"
    click.echo(f"{path.name}: {len(result.lines)} lines: {summary}.")
    if dry_run:
        click.echo("Dry run: nothing was written.")
    if result.needs_a_person:
        sys.exit(1)


@main.command("export-ledger")
@click.option("--organizer", "organizer_slug", required=True, help="The county's slug.")
@click.option("--month", required=True, help="YYYY-MM: the budget month whose money to export.")
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, writable=True),
    help="Directory for the journal and totals CSV files.",
)
def export_ledger_command(organizer_slug: str, month: str, out_dir: str) -> None:
    """Export one budget month of a county's ledger for its accounting system: every transfer
    as a debit and a credit line (the journal) and the totals per account and transfer kind,
    as CSV with a BOM. The totals reconcile to `wallet check`'s table for that month."""
    from payments.errors import DomainError
    from payments.marketplace.providers import organizer_by_slug
    from payments.reporting.ledger_export import export_ledger

    async def run(database: Database) -> Any:
        return await export_ledger(
            database, await organizer_by_slug(database, organizer_slug), month
        )

    try:
        export = _with_db(run)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    journal, totals = export.file_stems
    # The county's slug first: two counties' files can share a directory.
    _write_files(
        out_dir,
        {
            f"{organizer_slug}-{journal}.csv": export.journal_csv,
            f"{organizer_slug}-{totals}.csv": export.totals_csv,
        },
    )
    console.print(
        f"{export.transfers} transfers of {month}, moving {euros(export.moved_cents)} "
        "(debits equal credits)."
    )


def _write_files(out_dir: str, files: Mapping[str, bytes]) -> None:
    """Write a command's output files into ``out_dir`` (made if missing), saying each path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
        console.print(f"wrote {out / name}")


@main.group()
def apikey() -> None:
    """API keys for integrations (shown once, stored hashed)."""


@apikey.command("create")
@click.option("--principal", "principal_id", required=True, type=click.UUID, help="Principal id.")
@click.option("--name", default="cli", show_default=True)
def apikey_create(principal_id: uuid.UUID, name: str) -> None:
    """Create an API key for a principal and print it once."""
    from payments.errors import NotFound
    from payments.people.access import create_api_key

    try:
        key = _with_db(lambda d: create_api_key(d, principal_id, name))
    except NotFound as exc:
        raise click.ClickException("No such principal") from exc
    console.print("API key (shown only now; store it safely):")
    click.echo(key)


@apikey.command("revoke")
@click.argument("prefix")
def apikey_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (the part after 'wk_')."""
    from payments.people.access import revoke_api_key

    if _with_db(lambda d: revoke_api_key(d, prefix)):
        console.print("Revoked.")
    else:
        raise click.ClickException("No active key with that prefix")


@main.group()
def webhooks() -> None:
    """An organizer's webhook endpoints and their deliveries (docs/webhooks.md)."""


@webhooks.command("list")
@click.option("--organizer", "organizer_slug", required=True, help="The county's slug.")
def webhooks_list(organizer_slug: str) -> None:
    """List a county's webhook endpoints (never their secrets): URL, event types, on or off
    (and why the server turned one off), deliveries waiting and failed."""
    from notifications import webhooks as hooks
    from payments.budgets.organizers import find_organizer
    from payments.errors import DomainError

    async def run(database: Database) -> Any:
        found = await find_organizer(database, organizer_slug)
        return await hooks.list_endpoints(database, found.organizer_id)

    try:
        found = _with_db(run)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    if not found:
        click.echo(f"No webhook endpoints for {organizer_slug}; an admin adds them in the app.")
        return
    table = Table(title=f"Webhook endpoints of {organizer_slug}")
    for col, justify in (
        ("id", "left"),
        ("url", "left"),
        ("event types", "left"),
        ("state", "left"),
        ("pending", "right"),
        ("failed", "right"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for e in found:
        state = "on" if e.enabled else f"off: {e.disabled_reason}" if e.disabled_reason else "off"
        table.add_row(
            str(e.id),
            escape(e.url),
            ", ".join(e.event_types),
            escape(state),
            str(e.pending),
            str(e.failed),
        )
    console.print(table)


@webhooks.command("deliveries")
@click.argument("endpoint_id", type=click.UUID)
@click.option("--status", type=click.Choice(["pending", "succeeded", "failed"]), help="Only these.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def webhooks_deliveries(endpoint_id: uuid.UUID, status: str | None, limit: int) -> None:
    """An endpoint's latest deliveries, newest first (their ids are what replay takes)."""
    from notifications import webhooks as hooks
    from notifications.models import WebhookEndpoint
    from payments.errors import DomainError, NotFound
    from payments.uow import UnitOfWork

    async def run(database: Database) -> Any:
        async with UnitOfWork(database, readonly=True) as uow:
            found = await uow.session.get(WebhookEndpoint, endpoint_id)
            if found is None:
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            organizer_id = found.organizer_id
        return await hooks.list_deliveries(
            database, organizer_id=organizer_id, endpoint_id=endpoint_id, status=status, limit=limit
        )

    try:
        page = _with_db(run)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    table = Table(title=f"Deliveries to {endpoint_id}")
    for col in ("id", "webhook-id", "type", "status", "attempts", "last answer", "created"):
        table.add_column(col, overflow="fold")
    for d in page.items:
        answer = d.last_error or (str(d.last_status_code) if d.last_status_code else "")
        table.add_row(
            str(d.id),
            d.webhook_id,
            d.event_type,
            d.status,
            str(d.attempts),
            escape(answer),
            d.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@webhooks.command("replay")
@click.argument("delivery_id", type=click.UUID)
def webhooks_replay(delivery_id: uuid.UUID) -> None:
    """Send a delivery again: pending now, a fresh retry schedule, the same webhook-id and
    body (audited). The worker sends it within a second."""
    from notifications import webhooks as hooks
    from payments.errors import DomainError

    try:
        done = _with_db(
            lambda d: hooks.replay(d, organizer_id=None, actor_id=None, delivery_id=delivery_id)
        )
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"Delivery {done.id} (webhook-id {done.webhook_id}) is queued again.")


@main.group()
def client() -> None:
    """A client's account: close it (docs/privacy.md)."""


@client.command("close")
@click.argument("client_id", type=click.UUID)
def client_close(client_id: uuid.UUID) -> None:
    """Close a client's account whose decisions have ended: the money left goes to the
    county, every credential, mandate, trusted provider and card ends, no charge finds the
    client any more (audited). Running it again changes nothing."""
    from payments.budgets.closing import close_client
    from payments.errors import DomainError

    try:
        done = _with_db(
            lambda d: close_client(
                d,
                case_manager_id=None,
                organizer_id=None,
                client_id=client_id,
                idempotency_key=f"cli-close:{client_id}",
                request_hash="cli",
            )
        )
    except DomainError as exc:
        _fail(exc.detail)
    b = done.body
    console.print(
        f"Closed {'earlier' if done.replayed else 'now'}: {euros(b['expired_cents'])} to the "
        f"county; ended {b['passkeys']} passkey(s), {b['sessions']} session(s), "
        f"{b['api_keys']} API key(s), {b['push_subscriptions']} push subscription(s), "
        f"{b['mandates']} mandate(s), {b['trusted_providers']} trusted provider(s), "
        f"{b['cards']} card(s), {b['sms_numbers']} SMS number(s)."
    )


@main.group()
def sms() -> None:
    """SMS to basic phones (docs/sms.md)."""


@sms.command("cap")
@click.option("--organizer", "organizer_slug", required=True, help="The county's slug.")
@click.argument("monthly_cap", type=click.IntRange(min=0))
def sms_cap(organizer_slug: str, monthly_cap: int) -> None:
    """Set a county's own monthly cap of texts (instead of WALLET_SMS_MONTHLY_CAP); 0 sends
    none. Texts over the cap are refused and counted (wallet_sms_cap_used_ratio)."""
    from notifications import sms as texts
    from payments.budgets.organizers import find_organizer
    from payments.errors import DomainError

    async def run(database: Database) -> None:
        found = await find_organizer(database, organizer_slug)
        await texts.set_cap(database, organizer_id=found.organizer_id, monthly_cap=monthly_cap)

    try:
        _with_db(run)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{organizer_slug}: at most {monthly_cap} texts a month")


# ---------------------------------------------------------------------------------------------
# Setting up a county: organizer, catalogue, first admin (docs/setup.md)


@main.group()
def organizer() -> None:
    """Organizers (counties): create one, list them."""


@organizer.command("create")
@click.option("--slug", required=True, help="Short id: lowercase letters, digits, dashes.")
@click.option("--name", required=True, help="The county's name, e.g. Kainuun hyvinvointialue.")
@click.option("--dry-run", is_flag=True, help="Check and say what would happen; write nothing.")
def organizer_create(slug: str, name: str, dry_run: bool) -> None:
    """Create an organizer with its accounts. Running it again with the same slug and name
    changes nothing; the same slug with another name is an error."""
    from payments.budgets.organizers import Created, ensure_organizer
    from payments.errors import DomainError

    try:
        done = _with_db(lambda d: ensure_organizer(d, slug=slug, name=name, dry_run=dry_run))
    except DomainError as exc:
        _fail(exc.detail)
    said = {
        Created.CREATED: "created",
        Created.EXISTS: "exists already; nothing changed",
        Created.WOULD_CREATE: "would be created (dry run: nothing written)",
    }[done.status]
    click.echo(f"Organizer {done.slug} ({done.name}) {said}.")


@organizer.command("list")
def organizer_list() -> None:
    """List the organizers with their catalogue size and staff."""
    from payments.budgets.organizers import list_organizers

    found = _with_db(list_organizers)
    if not found:
        click.echo("No organizers yet: wallet organizer create --slug SLUG --name NAME")
        return
    table = Table(title="Organizers")
    for col, justify in (
        ("slug", "left"),
        ("name", "left"),
        ("categories", "right"),
        ("case managers", "right"),
        ("admins", "right"),
        ("created", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for o in found:
        table.add_row(
            o.slug,
            escape(o.name),
            str(o.categories),
            str(o.case_managers),
            str(o.admins),
            o.created_at.date().isoformat(),
        )
    console.print(table)


@main.group()
def catalogue() -> None:
    """An organizer's service catalogue."""


@catalogue.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--organizer", "organizer_slug", required=True, help="The organizer's slug.")
@click.option("--dry-run", is_flag=True, help="Check and show what would change; write nothing.")
def catalogue_import(file: str, organizer_slug: str, dry_run: bool) -> None:
    """Create or update service categories from FILE: CSV (a header row) or JSON (a list of
    objects), by its extension. Fields: code, name_fi, name_sv, name_en, unit, price_cap
    (euros, e.g. 45.00; empty: no cap), groups (CSV: separated by ; or |). Running it again
    changes nothing; on any bad row nothing is written (docs/setup.md)."""

    from payments.budgets.catalogue_import import (
        CatalogueInvalid,
        Outcome,
        import_catalogue,
        parse_catalogue,
    )
    from payments.errors import DomainError

    path = Path(file)
    try:
        rows = parse_catalogue(path.name, path.read_bytes())
        result = _with_db(
            lambda d: import_catalogue(
                d, organizer_slug=organizer_slug, rows=rows, source=path.name, dry_run=dry_run
            )
        )
    except CatalogueInvalid as exc:
        for error in exc.errors:
            click.echo(f"{path.name}: {error}", err=True)
        _fail(exc.detail)
    except DomainError as exc:
        _fail(exc.detail)
    verb = {
        Outcome.CREATED: "would create" if dry_run else "created",
        Outcome.UPDATED: "would update" if dry_run else "updated",
    }
    for row in result.rows:
        if row.outcome in verb:
            click.echo(f"{row.where}: {verb[row.outcome]} {row.code}")
            for change in row.changes:
                click.echo(f"    {change}")
            for note in row.notes:
                click.echo(f"    note: {note}")
    click.echo(f"{path.name}: {result.summary()}.")
    if dry_run:
        click.echo("Dry run: nothing was written.")


@main.command()
@click.option("--organizer", "organizer_slug", required=True, help="The organizer's slug.")
@click.option(
    "--role",
    type=click.Choice(["admin", "case-manager"]),
    required=True,
    help="admin: a case manager who also invites staff and keeps the catalogue.",
)
@click.option("--name", required=True, help="The person's name as colleagues know it.")
@click.option(
    "--validity-days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 30),
    help="Days the link may be used.",
)
def invite(organizer_slug: str, role: str, name: str, validity_days: int) -> None:
    """Create a case manager (or an admin) and print their one-time link and its QR code.
    They open the link and create a passkey; the link works once."""
    from datetime import timedelta

    from payments.budgets.organizers import find_organizer
    from payments.errors import DomainError
    from payments.people.invites import format_code, invite_first_staff
    from wallet_api.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:  # the link would not work: say why, before anyone is created
        raise click.ClickException(str(exc)) from exc

    async def run(database: Database) -> Any:
        org = await find_organizer(database, organizer_slug)
        issued = await invite_first_staff(
            database,
            organizer_id=org.organizer_id,
            display_name=name,
            admin=role == "admin",
            validity=timedelta(days=validity_days),
        )
        return org, issued

    try:
        org, issued = _with_db(run)
    except DomainError as exc:
        _fail(exc.detail)
    link = f"{settings.origin}/join#{issued.code}"
    who = "an admin" if role == "admin" else "a case manager"
    click.echo(f"{issued.display_name} is now {who} of {org.name} ({org.slug}).")
    click.echo(f"One-time link, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC:")
    click.echo(link)
    click.echo(f"(or open {settings.origin}/join and type the code {format_code(issued.code)})")
    _print_qr(link)
    click.echo("Give the link only to them: whoever opens it first becomes this person.")


def _print_qr(payload: str) -> None:
    """The QR code of ``payload`` in the terminal: with colours forced to black on white on a
    terminal, as plain Unicode blocks (dark modules drawn) when the output is a file or pipe."""
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(payload)
    code.make(fit=True)
    out = sys.stdout
    if out.isatty():
        code.print_ascii(out=out, tty=True)
    else:
        code.print_ascii(out=out)
    out.flush()


@main.group()
def vapid() -> None:
    """Web Push (VAPID) keys."""


@vapid.command("generate")
def vapid_generate() -> None:
    """Print a new VAPID key pair as WALLET_* settings."""
    from notifications.push import generate_vapid_keys

    private, public = generate_vapid_keys()
    click.echo(f"WALLET_VAPID_PRIVATE_KEY={private}")
    click.echo(f"WALLET_VAPID_PUBLIC_KEY={public}")


# ---------------------------------------------------------------------------------------------
# Backups (docs/deploy.md)


@main.command("backup")
@click.argument("path", type=click.Path(path_type=str))
def backup_command(path: str) -> None:
    """Write a consistent backup of the database to PATH while the server runs: SQLite with
    VACUUM INTO, PostgreSQL with pg_dump --format=custom. PATH is replaced if it exists."""

    from payments.db import database_url_from_env
    from wallet_api.backup import BackupError, backup

    try:
        done = backup(database_url_from_env(), Path(path), say=click.echo)
    except BackupError as exc:
        _fail(str(exc))
    click.echo(f"Backup written to {done.path} ({done.size:,} bytes, {done.seconds:.1f} s).")


@main.command("restore")
@click.argument("path", type=click.Path(path_type=str))
def restore_command(path: str) -> None:
    """Put the backup PATH into a new, empty database (WALLET_DATABASE_URL): on SQLite no
    file there yet, on PostgreSQL a database made with createdb. Stop the servers first; then
    run 'wallet db upgrade' and 'wallet check'."""

    from payments.db import database_url_from_env
    from wallet_api.backup import BackupError, restore

    try:
        restore(database_url_from_env(), Path(path), say=click.echo)
    except BackupError as exc:
        _fail(str(exc))
    click.echo("Restored. Next: wallet db upgrade, then wallet check.")


if __name__ == "__main__":
    main()

"""Import clients and their budget decisions from the county's client information system
(``wallet import clients FILE.csv``, and the case manager's import screen).

One CSV row is one client and, optionally, one line of one of the client's decisions; a
decision of several lines is several rows with the same ``decision_ref``. The columns
(:data:`FIELDS`, documented in docs/setup.md):

* ``client_ref`` (required): the county's own reference of the client, unique in the county;
* ``first_name``, ``last_name``, ``phone`` (required), ``language`` (fi, sv or en; default fi);
* ``decision_ref``: the county's reference of the decision; empty for a row with no decision;
* ``valid_from`` and ``valid_to`` (``2026-12-01`` or ``1.12.2026``; ``valid_to`` may be empty);
* ``label``, ``categories`` (category codes or group codes, separated by spaces, ``;`` or ``|``),
  ``monthly_amount`` (euros, ``250,00``), ``voucher_value`` (euros per unit, a service voucher)
  and ``hours_per_week`` (with a voucher value, the monthly amount may be left empty).

Idempotent by the references: a client whose ``client_ref`` is known is ``unchanged`` (its
name, phone and language must be as the file says: the import does not change a client), a
known decision is ``unchanged`` (its lines must be as the file says). A client made by hand
with the same phone and name gets the reference (``linked``). Every row is checked first and
all errors are listed with their lines; if any row is refused, nothing is written. The whole
import is one transaction, and a dry run (the default of the command) writes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from payments.budgets.catalogue import (
    LANGUAGES,
    MAX_CENTS,
    DecisionLineInput,
    clean_name,
    clean_text,
    decision_line_amount,
    parse_hours,
)
from payments.budgets.catalogue_import import Unreadable, csv_records
from payments.clock import utcnow
from payments.db import Database
from payments.errors import Conflict, InvalidInput, Why
from payments.models import (
    Account,
    AuditEvent,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Organizer,
    Principal,
    ServiceCategory,
    Wallet,
)
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, Role

FIELDS = (
    "client_ref",
    "first_name",
    "last_name",
    "phone",
    "language",
    "decision_ref",
    "valid_from",
    "valid_to",
    "label",
    "categories",
    "monthly_amount",
    "voucher_value",
    "hours_per_week",
)
REQUIRED = ("client_ref", "first_name", "last_name", "phone")
DECISION_FIELDS = ("valid_from", "label", "categories")
REF_MAX = 64  # clients.external_ref, decisions.external_ref
LABEL_MAX = 200
MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
_SEPARATORS = re.compile(r"[\s;|,]+")
_EUROS = re.compile(r"(\d+)(?:[.,](\d{1,2}))?")


VALUE_MAX = 80  # the most of a refused cell a refused row repeats
_T = TypeVar("_T")


@dataclass(frozen=True)
class Refused:
    """One refused row: ``where`` (``line N``; None for the whole file), the English
    ``detail`` and :class:`~payments.errors.Why`: a stable code and params for a person's
    language (the app's texts ``cm.import.why.<code>``)."""

    where: str | None
    detail: str
    why: Why

    @property
    def text(self) -> str:
        """The English line of ``refused`` (the CLI's and integrators' text): "line N: why"."""
        return f"{self.where}: {self.detail}" if self.where else self.detail

    @property
    def line(self) -> int | None:
        return _no(self.where)

    def document(self) -> dict[str, Any]:
        """As ``refused_rows`` in the problem document (docs/setup.md)."""
        params = self.why.params
        return {
            "line": self.line,
            "code": self.why.code,
            "column": params.get("column"),
            "value": params.get("value"),
            "params": params,
            "text": self.text,
        }


def _no(where: str | None) -> int | None:
    """The number of a ``line N``."""
    found = re.fullmatch(r"line (\d+)", where or "")
    return int(found.group(1)) if found else None


def _row_no(row: ClientRow) -> int:
    """The line of a row (a row read from the file is always at a ``line N``)."""
    return _no(row.where) or 0


def _refused(where: str | None, exc: InvalidInput) -> Refused:
    # Every refusal the import can meet has a code; "other" keeps an unforeseen one listed.
    return Refused(where, exc.detail, exc.why or Why("other", {"text": exc.detail}))


def _cell(column: str, value: str, check: Callable[[str], _T]) -> _T:
    """``check(value)``, a refusal naming the column and the cell it was given."""
    try:
        return check(value)
    except InvalidInput as exc:
        shown = value if len(value) <= VALUE_MAX else value[: VALUE_MAX - 1] + "\u2026"
        why = exc.why or Why("other", {"text": exc.detail})
        exc.why = Why(why.code, {**why.params, "column": column, "value": shown})
        raise


class ClientsInvalid(InvalidInput):
    """The file has refused rows: ``errors`` names each one's line, in file order (English);
    ``refused`` is each one's :class:`Refused`."""

    def __init__(self, refused: list[Refused]) -> None:
        errors = [r.text for r in refused]
        # In the problem document: ``refused``, one "line N: why" per refused row (English, as
        # integrators and the CLI read it), and ``refused_rows``, the same rows with a code and
        # params each, for a person's language.
        super().__init__(
            f"{len(errors)} row(s) refused; nothing was imported",
            refused=errors,
            refused_rows=[r.document() for r in refused],
        )
        self.errors = errors
        self.refused = refused


class ClientOutcome(StrEnum):
    CREATED = "created"
    LINKED = "linked"  # a client made by hand, now with the county's reference
    UNCHANGED = "unchanged"


class DecisionOutcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class LineRow:
    label: str
    categories: tuple[str, ...]  # tokens as written: category or group codes
    monthly_amount_cents: int | None
    voucher_value_cents: int | None
    hours_per_week: str | None


@dataclass(frozen=True)
class ClientRow:
    """One valid row of the file."""

    where: str
    client_ref: str
    first_name: str
    last_name: str
    phone_e164: str
    language: str
    decision_ref: str | None
    valid_from: date | None
    valid_to: date | None
    line: LineRow | None


@dataclass(frozen=True)
class RowOutcome:
    where: str
    client_ref: str
    client: ClientOutcome
    decision_ref: str | None = None
    decision: DecisionOutcome | None = None


@dataclass
class ClientImport:
    organizer_id: uuid.UUID
    dry_run: bool
    rows: list[RowOutcome] = field(default_factory=list)

    def clients(self, outcome: ClientOutcome) -> int:
        return len({r.client_ref for r in self.rows if r.client == outcome})

    def decisions(self, outcome: DecisionOutcome) -> int:
        return len({r.decision_ref for r in self.rows if r.decision == outcome})

    def summary(self) -> str:
        clients = ", ".join(f"{self.clients(o)} {o}" for o in ClientOutcome)
        decisions = ", ".join(f"{self.decisions(o)} {o}" for o in DecisionOutcome)
        return f"clients: {clients}; decisions: {decisions}"


# ---------------------------------------------------------------------------------------------
# Reading the file


def _euros(text: str, what: str) -> int | None:
    """``250``, ``250,5``, ``250.50`` or ``1 250,00`` euros in cents; empty is None."""
    compact = re.sub(r"[\s\u00a0\u202f]", "", text)
    if not compact:
        return None
    match = _EUROS.fullmatch(compact)
    if match is None:
        raise InvalidInput(
            f"{what} must be euros such as 250,00 (not {text.strip()!r})",
            why=Why("amount-not-euros"),
        )
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if not 0 < cents <= MAX_CENTS:
        raise InvalidInput(
            f"{what} must be more than 0 and at most 1 000 000 euros",
            why=Why("amount-out-of-range", {"max_cents": MAX_CENTS}),
        )
    return cents


def _date(text: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}", text):
            day, month, year = (int(x) for x in text.split("."))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{what} must be a date such as 2026-12-01 or 1.12.2026", why=Why("date-invalid")
        ) from None


def _ref(text: str, what: str) -> str:
    return _cell(what, text, lambda t: clean_text(t, what=what, max_len=REF_MAX))


def _row(where: str, record: dict[str, Any]) -> ClientRow:
    def cell(key: str) -> str:
        return str(record.get(key) or "").strip()

    language = cell("language").lower() or "fi"
    if language not in LANGUAGES:
        raise InvalidInput(
            "language must be fi, sv or en",
            why=Why("language-invalid", {"column": "language", "value": cell("language")}),
        )
    decision_ref = cell("decision_ref")
    line: LineRow | None = None
    valid_from = valid_to = None
    if decision_ref:
        missing = [c for c in DECISION_FIELDS if not cell(c)]
        if missing:
            raise InvalidInput(
                f"a decision needs {', '.join(missing)}",
                why=Why("decision-incomplete", {"columns": ", ".join(missing)}),
            )
        valid_from = _cell("valid_from", cell("valid_from"), lambda t: _date(t, "valid_from"))
        valid_to = _cell("valid_to", cell("valid_to"), lambda t: _date(t, "valid_to"))
        if valid_from is not None and valid_to is not None and valid_to < valid_from:
            raise InvalidInput(
                "valid_to is before valid_from",
                why=Why(
                    "dates-reversed",
                    {"column": "valid_to", "value": cell("valid_to"), "from": cell("valid_from")},
                ),
            )
        hours = cell("hours_per_week") or None
        if hours is not None:
            hours = _cell(
                "hours_per_week",
                hours,
                lambda t: f"{parse_hours(t.replace(',', '.')).normalize():f}",
            )
        line = LineRow(
            label=_cell(
                "label", cell("label"), lambda t: clean_text(t, what="label", max_len=LABEL_MAX)
            ),
            categories=tuple(dict.fromkeys(t for t in _SEPARATORS.split(cell("categories")) if t)),
            monthly_amount_cents=_money(cell, "monthly_amount"),
            voucher_value_cents=_money(cell, "voucher_value"),
            hours_per_week=hours,
        )
        # The same checks as a decision made in the app (a computed amount must match).
        decision_line_amount(_input(line, line.categories))
    elif any(cell(c) for c in FIELDS[6:]):
        raise InvalidInput(
            "decision columns are filled but decision_ref is empty",
            why=Why("decision-ref-missing", {"column": "decision_ref"}),
        )
    return ClientRow(
        where=where,
        client_ref=_ref(cell("client_ref"), "client_ref"),
        first_name=_cell("first_name", cell("first_name"), clean_name),
        last_name=_cell("last_name", cell("last_name"), clean_name),
        phone_e164=_cell("phone", cell("phone"), to_e164),
        language=language,
        decision_ref=_ref(decision_ref, "decision_ref") if decision_ref else None,
        valid_from=valid_from,
        valid_to=valid_to,
        line=line,
    )


def _money(cell: Callable[[str], str], column: str) -> int | None:
    return _cell(column, cell(column), lambda t: _euros(t, column))


def _input(line: LineRow, categories: tuple[str, ...]) -> DecisionLineInput:
    return DecisionLineInput(
        line.label,
        line.monthly_amount_cents,
        categories,
        voucher_value_cents=line.voucher_value_cents,
        hours_per_week=line.hours_per_week,
    )


def parse_clients(content: bytes) -> list[ClientRow]:
    """The rows of a client file (CSV with a header row); :class:`ClientsInvalid` lists every
    refused row by its line if any is refused. Checks each row on its own and the rows against
    each other (a client or decision written twice must be written the same)."""
    if len(content) > MAX_BYTES:
        mb = MAX_BYTES // (1024 * 1024)
        why = Why("file-too-large", {"max_mb": mb})
        raise ClientsInvalid([Refused(None, f"the file is larger than {mb} MB", why)])
    try:
        text = content.decode("utf-8-sig")  # a spreadsheet's UTF-8 export starts with a BOM
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        refused = Refused(f"line {line}", "the file is not UTF-8 text", Why("not-utf8"))
        raise ClientsInvalid([refused]) from exc
    errors: list[Refused] = []
    rows: list[ClientRow] = []
    clients: dict[str, ClientRow] = {}
    phones: dict[str, ClientRow] = {}
    decisions: dict[str, ClientRow] = {}
    for where, record in csv_records(text, FIELDS, REQUIRED):
        if isinstance(record, str):
            why = record.why if isinstance(record, Unreadable) else Why("other", {"text": record})
            errors.append(Refused(where, record, why))
            continue
        try:
            row = _row(where, record)
        except InvalidInput as exc:
            errors.append(_refused(where, exc))
            continue
        first = clients.setdefault(row.client_ref, row)
        same = (first.first_name, first.last_name, first.phone_e164, first.language)
        if same != (row.first_name, row.last_name, row.phone_e164, row.language):
            detail = f"client {row.client_ref} differs from {first.where}"
            why = Why("client-differs", {"client": row.client_ref, "other_line": _row_no(first)})
            errors.append(Refused(where, detail, why))
            continue
        other = phones.setdefault(row.phone_e164, row)
        if other.client_ref != row.client_ref:
            detail = f"the phone is also client {other.client_ref}'s ({other.where})"
            why = Why(
                "phone-shared",
                {
                    "column": "phone",
                    "value": str(record.get("phone") or "").strip(),
                    "client": other.client_ref,
                    "other_line": _row_no(other),
                },
            )
            errors.append(Refused(where, detail, why))
            continue
        if row.decision_ref is not None:
            d = decisions.setdefault(row.decision_ref, row)
            if d.client_ref != row.client_ref:
                detail = f"decision {row.decision_ref} is client {d.client_ref}'s"
                why = Why(
                    "decision-other-client", {"decision": row.decision_ref, "client": d.client_ref}
                )
                errors.append(Refused(where, detail, why))
                continue
            if (d.valid_from, d.valid_to) != (row.valid_from, row.valid_to):
                detail = f"decision {row.decision_ref}'s dates differ from {d.where}"
                why = Why(
                    "decision-dates-differ",
                    {"decision": row.decision_ref, "other_line": _row_no(d)},
                )
                errors.append(Refused(where, detail, why))
                continue
        rows.append(row)
    if not rows and not errors:
        errors.append(Refused("line 1", "the file has no clients", Why("no-clients")))
    if len(rows) > MAX_ROWS:
        detail = f"the file has {len(rows)} rows; at most {MAX_ROWS} at a time"
        why = Why("too-many-rows", {"count": len(rows), "max": MAX_ROWS})
        errors.append(Refused(None, detail, why))
    if errors:
        raise ClientsInvalid(errors)
    return rows


# ---------------------------------------------------------------------------------------------
# Writing it


@dataclass
class _Known:
    """What the organizer already has, read once for the whole file."""

    by_ref: dict[str, Any]
    by_phone: dict[str, Any]
    wallets: dict[uuid.UUID, uuid.UUID]  # client -> wallet
    decisions: dict[str, tuple[uuid.UUID, date, date | None, list[tuple[Any, ...]]]]
    categories: dict[str, uuid.UUID]
    groups: dict[str, list[str]]


async def _known(uow: UnitOfWork, organizer_id: uuid.UUID) -> _Known:
    s = uow.session
    clients = (
        await s.execute(
            select(
                Client.id,
                Client.external_ref,
                Client.first_name,
                Client.last_name,
                Client.phone_e164,
                Client.language,
                Client.closed_at,
                Wallet.id.label("wallet_id"),
            )
            .join(Wallet, Wallet.client_id == Client.id)
            .where(Client.organizer_id == organizer_id)
        )
    ).all()
    cats = (
        await s.execute(
            select(ServiceCategory.code, ServiceCategory.id, ServiceCategory.groups).where(
                ServiceCategory.organizer_id == organizer_id
            )
        )
    ).all()
    groups: dict[str, list[str]] = {}
    for code, _, in_groups in cats:
        for g in (in_groups or "").split():
            groups.setdefault(g, []).append(code)
    lines = (
        await s.execute(
            select(
                Decision.external_ref,
                Decision.client_id,
                Decision.valid_from,
                Decision.valid_to,
                DecisionLine.id.label("line_id"),
                DecisionLine.label,
                DecisionLine.monthly_amount_cents,
                DecisionLine.voucher_value_cents,
                DecisionLine.hours_per_week,
                ServiceCategory.code,
            )
            .join(DecisionLine, DecisionLine.decision_id == Decision.id)
            .join(DecisionLineCategory, DecisionLineCategory.line_id == DecisionLine.id)
            .join(ServiceCategory, ServiceCategory.id == DecisionLineCategory.category_id)
            .where(Decision.organizer_id == organizer_id, Decision.external_ref.is_not(None))
        )
    ).all()
    # One entry per line (its categories gathered), compared with the file's lines as
    # (label, monthly, voucher, hours, sorted category codes).
    by_line: dict[uuid.UUID, tuple[str, tuple[Any, ...], set[str]]] = {}
    decisions: dict[str, tuple[uuid.UUID, date, date | None, list[tuple[Any, ...]]]] = {}
    for row in lines:
        ref = str(row.external_ref)
        decisions.setdefault(ref, (row.client_id, row.valid_from, row.valid_to, []))
        key = (row.label, row.monthly_amount_cents, row.voucher_value_cents, row.hours_per_week)
        by_line.setdefault(row.line_id, (ref, key, set()))[2].add(row.code)
    for ref, key, codes in by_line.values():
        decisions[ref][3].append((*key, tuple(sorted(codes))))
    return _Known(
        by_ref={c.external_ref: c for c in clients if c.external_ref is not None},
        by_phone={c.phone_e164: c for c in clients},
        wallets={c.id: c.wallet_id for c in clients},
        decisions=decisions,
        categories={code: cid for code, cid, _ in cats},
        groups=groups,
    )


async def import_clients(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    rows: list[ClientRow],
    source: str,
    dry_run: bool = True,
    actor_id: uuid.UUID | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ClientImport:
    """Create the clients and decisions ``rows`` name that the organizer does not have yet, in
    one transaction; :class:`ClientsInvalid` (nothing written) if any row is refused against
    what is there. Audited per client and decision (``client.created``, ``decision.created``,
    detail: ``import <source>``). The new decisions' envelopes are empty until funded (the
    caller funds the current month, as the app does for a decision made by hand)."""
    result = ClientImport(organizer_id=organizer_id, dry_run=dry_run)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        if db.is_postgres:
            # One import per county at a time: what is there is read in several statements,
            # and another import committing between them would be half seen (its clients not
            # yet, its decisions already). SQLite's transaction reads one snapshot anyway.
            # FOR NO KEY UPDATE: the county's charges (KEY SHARE, by foreign key) never wait.
            await uow.session.execute(
                select(Organizer.id)
                .where(Organizer.id == organizer_id)
                .with_for_update(key_share=True)
            )
        known = await _known(uow, organizer_id)
        errors: list[Refused] = []
        plan = _Plan(organizer_id, now, actor_id, f"import {source}"[:200])
        for n, row in enumerate(rows, start=1):
            try:
                result.rows.append(plan.add(row, known))
            except InvalidInput as exc:
                errors.append(_refused(row.where, exc))
            if progress is not None and (n % 500 == 0 or n == len(rows)):
                progress(n, len(rows))
        if errors:
            raise ClientsInvalid(errors)
        if dry_run:
            return result
        try:
            await plan.write(uow)
            await uow.commit()
        except IntegrityError as exc:
            raise Conflict(
                "A client or decision of the file was created meanwhile; import the file again"
            ) from exc
    return result


class _Plan:
    """The rows to insert, built while the file is checked against what is there."""

    def __init__(
        self, organizer_id: uuid.UUID, now: datetime, actor_id: uuid.UUID | None, detail: str
    ) -> None:
        self.organizer_id, self.now, self.actor_id, self.detail = (
            organizer_id,
            now,
            actor_id,
            detail,
        )
        self.tables: dict[Any, list[dict[str, Any]]] = {
            t: []
            for t in (
                Client,
                Wallet,
                Principal,
                Decision,
                DecisionLine,
                DecisionLineCategory,
                Account,
                AuditEvent,
            )
        }
        self.links: list[tuple[uuid.UUID, str]] = []
        self.new_clients: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}  # ref -> client, wallet
        self.new_decisions: dict[str, tuple[uuid.UUID, list[tuple[Any, ...]]]] = {}

    def _audit(self, action: str, client_id: uuid.UUID, detail: str) -> None:
        self.tables[AuditEvent].append(
            {
                "organizer_id": self.organizer_id,
                "actor_id": self.actor_id,
                "action": action,
                "subject_client_id": client_id,
                "detail": detail,
                "created_at": self.now,
            }
        )

    def add(self, row: ClientRow, known: _Known) -> RowOutcome:
        client_id, outcome = self._client(row, known)
        if row.decision_ref is None or row.line is None:
            return RowOutcome(row.where, row.client_ref, outcome)
        decision = self._decision(row, row.line, client_id, known)
        return RowOutcome(row.where, row.client_ref, outcome, row.decision_ref, decision)

    def _client(self, row: ClientRow, known: _Known) -> tuple[uuid.UUID, ClientOutcome]:
        if row.client_ref in self.new_clients:
            return self.new_clients[row.client_ref][0], ClientOutcome.CREATED
        mine = (row.first_name, row.last_name, row.phone_e164, row.language)
        have = known.by_ref.get(row.client_ref)
        for closed in (have, known.by_phone.get(row.phone_e164)):
            # A closed account takes no new decision and lends its number to nobody.
            if closed is not None and closed.closed_at is not None:
                raise InvalidInput(
                    f"client {closed.external_ref or row.client_ref}'s account is closed",
                    why=Why("client-closed", {"client": closed.external_ref or row.client_ref}),
                )
        if have is not None:
            if (have.first_name, have.last_name, have.phone_e164, have.language) != mine:
                raise InvalidInput(
                    f"client {row.client_ref} exists with another name, phone or language; "
                    "change it in the client's file, not by import",
                    why=Why("client-exists-differs", {"client": row.client_ref}),
                )
            return have.id, ClientOutcome.UNCHANGED
        same_phone = known.by_phone.get(row.phone_e164)
        if same_phone is not None:
            if same_phone.external_ref is None and (
                same_phone.first_name,
                same_phone.last_name,
            ) == (row.first_name, row.last_name):
                if all(cid != same_phone.id for cid, _ in self.links):
                    self.links.append((same_phone.id, row.client_ref))
                    self._audit("client.linked", same_phone.id, f"{self.detail}: {row.client_ref}")
                return same_phone.id, ClientOutcome.LINKED
            name = f"{same_phone.first_name} {same_phone.last_name}"
            raise InvalidInput(
                f"the phone {row.phone_e164} is another client's ({name})",
                why=Why("phone-taken", {"column": "phone", "phone": row.phone_e164, "name": name}),
            )
        client_id, wallet_id = uuid.uuid4(), uuid.uuid4()
        self.new_clients[row.client_ref] = (client_id, wallet_id)
        self.tables[Client].append(
            {
                "id": client_id,
                "organizer_id": self.organizer_id,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "phone_e164": row.phone_e164,
                "language": row.language,
                "created_at": self.now,
                "external_ref": row.client_ref,
            }
        )
        self.tables[Wallet].append(
            {"id": wallet_id, "organizer_id": self.organizer_id, "client_id": client_id}
        )
        self.tables[Principal].append(
            {
                "id": uuid.uuid4(),
                "organizer_id": self.organizer_id,
                "role": Role.CLIENT,
                "display_name": f"{row.first_name} {row.last_name}",
                "client_id": client_id,
                "created_at": self.now,
            }
        )
        self._audit("client.created", client_id, self.detail)
        return client_id, ClientOutcome.CREATED

    def _codes(self, line: LineRow, known: _Known) -> tuple[str, ...]:
        """The category codes a line names, groups expanded, in a stable order."""
        codes: list[str] = []
        for token in line.categories:
            if token in known.categories:
                codes.append(token)
            elif token in known.groups:
                codes.extend(known.groups[token])
            else:
                raise InvalidInput(
                    f"no service category or group {token!r}",
                    why=Why("category-unknown", {"column": "categories", "value": token}),
                )
        return tuple(sorted(set(codes)))

    def _decision(
        self, row: ClientRow, line: LineRow, client_id: uuid.UUID, known: _Known
    ) -> DecisionOutcome:
        ref = row.decision_ref
        assert ref is not None and row.valid_from is not None
        codes = self._codes(line, known)
        monthly = decision_line_amount(_input(line, codes))
        key = (line.label, monthly, line.voucher_value_cents, line.hours_per_week, codes)
        have = known.decisions.get(ref)
        if have is not None:
            cid, valid_from, valid_to, lines = have
            if cid != client_id or (valid_from, valid_to) != (row.valid_from, row.valid_to):
                raise InvalidInput(
                    f"decision {ref} exists for another client or other dates",
                    why=Why("decision-exists-differs", {"decision": ref}),
                )
            if key not in lines:
                raise InvalidInput(
                    f"decision {ref} exists without this line; decisions are not changed by import",
                    why=Why("decision-exists-line", {"decision": ref}),
                )
            return DecisionOutcome.UNCHANGED
        if ref not in self.new_decisions:
            decision_id = uuid.uuid4()
            self.new_decisions[ref] = (decision_id, [])
            self.tables[Decision].append(
                {
                    "id": decision_id,
                    "organizer_id": self.organizer_id,
                    "client_id": client_id,
                    "valid_from": row.valid_from,
                    "valid_to": row.valid_to,
                    "carry_over": "none",
                    "carry_over_cap_cents": 0,
                    "decided_by": self.actor_id,
                    "created_at": self.now,
                    "external_ref": ref,
                }
            )
            self._audit("decision.created", client_id, str(decision_id))
        decision_id, lines_so_far = self.new_decisions[ref]
        if key in lines_so_far:
            raise InvalidInput(
                f"decision {ref} has this line twice", why=Why("line-twice", {"decision": ref})
            )
        lines_so_far.append(key)
        line_id = uuid.uuid4()
        self.tables[DecisionLine].append(
            {
                "id": line_id,
                "decision_id": decision_id,
                "label": line.label,
                "monthly_amount_cents": monthly,
                "voucher_value_cents": line.voucher_value_cents,
                "hours_per_week": line.hours_per_week,
            }
        )
        self.tables[DecisionLineCategory].extend(
            {"line_id": line_id, "category_id": known.categories[c]} for c in codes
        )
        new = self.new_clients.get(row.client_ref)
        wallet_id = new[1] if new is not None else known.wallets[client_id]
        self.tables[Account].append(
            {
                "organizer_id": self.organizer_id,
                "kind": AccountKind.ENVELOPE,
                "wallet_id": wallet_id,
                "decision_line_id": line_id,
                "balance_cents": 0,
            }
        )
        return DecisionOutcome.CREATED

    async def write(self, uow: UnitOfWork) -> None:
        s = uow.session
        for client_id, ref in self.links:
            await s.execute(
                update(Client)
                .where(Client.id == client_id, Client.external_ref.is_(None))
                .values(external_ref=ref)
            )
        # Parents before children (the dict's order), in chunks of 1,000 rows per statement.
        # Core inserts on the tables: the ORM's bulk path costs more than the statements.
        for model, rows in self.tables.items():
            table = cast(Table, model.__table__)
            for start in range(0, len(rows), 1000):
                await s.execute(insert(table), rows[start : start + 1000])

"""Import an organizer's service catalogue from a CSV or JSON file (``wallet catalogue import``).

A file lists service categories by ``code``; each has Finnish, Swedish and English names, a
unit, an optional price cap in euros and the groups of services it belongs to (a decision line
may fund a whole group). Importing is idempotent: a category that is already as the file says is
``unchanged``, one that differs is ``updated`` and a new code is ``created``. Categories missing
from the file are kept (decisions, prices and charges name them). Every error names its line
(CSV) or item (JSON); all are reported at once and nothing is written when any row is bad. The
whole import is one transaction.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from payments.budgets.catalogue import MAX_CENTS, UNITS, clean_text
from payments.db import Database
from payments.errors import Conflict, InvalidInput, NotFound, Why
from payments.models import (
    ChargeLine,
    DecisionLineCategory,
    HoldLine,
    Organizer,
    ProviderPrice,
    ProviderPriceVersion,
    ServiceCategory,
)
from payments.people import audit
from payments.uow import UnitOfWork

FIELDS = ("code", "name_fi", "name_sv", "name_en", "unit", "price_cap", "groups")
REQUIRED = ("code", "name_fi", "name_sv", "name_en", "unit")
CODE_MAX = 40  # service_categories.code
NAME_MAX = 200  # service_categories.name_*
GROUPS_MAX = 200  # service_categories.groups
MAX_ROWS = 1000
_CODE = re.compile(r"[a-z0-9][a-z0-9-]*")
_GROUP_SEPARATORS = re.compile(r"[;|]")


class CatalogueInvalid(InvalidInput):
    """The file has bad rows: ``errors`` names each one's line (or item), in file order."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} error(s) in the catalogue file; nothing was imported")
        self.errors = errors


@dataclass(frozen=True)
class CategoryRow:
    """One valid row of the file. ``where`` says where it is: "line 3" or "item 2 (line 9)"."""

    where: str
    code: str
    name_fi: str
    name_sv: str
    name_en: str
    unit: str
    price_cap_cents: int | None
    groups: str  # space-separated, sorted, no duplicates

    def values(self) -> dict[str, Any]:
        return {
            "name_fi": self.name_fi,
            "name_sv": self.name_sv,
            "name_en": self.name_en,
            "unit": self.unit,
            "price_cap_cents": self.price_cap_cents,
            "groups": self.groups,
        }


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RowOutcome:
    where: str
    code: str
    outcome: Outcome
    changes: tuple[str, ...] = ()  # "unit: hour -> visit", for an update
    notes: tuple[str, ...] = ()  # what the operator should know, e.g. prices above a new cap


@dataclass(frozen=True)
class ImportResult:
    organizer_slug: str
    dry_run: bool
    rows: list[RowOutcome] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    def summary(self) -> str:
        return ", ".join(f"{self.count(o)} {o.value}" for o in Outcome)


# ---------------------------------------------------------------------------------------------
# Reading a file


def parse_catalogue(filename: str, content: bytes) -> list[CategoryRow]:
    """The rows of a catalogue file, CSV or JSON by its extension; :class:`CatalogueInvalid`
    lists every bad row (by line or item) if any is bad."""
    try:
        text = content.decode("utf-8-sig")  # a spreadsheet's UTF-8 export starts with a BOM
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise CatalogueInvalid([f"line {line}: the file is not UTF-8 text"]) from exc
    lower = filename.lower()
    if lower.endswith(".csv"):
        raw = list(csv_records(text))
    elif lower.endswith(".json"):
        raw = list(_json_rows(text))
    else:
        raise CatalogueInvalid([f"{filename}: the file name must end in .csv or .json"])
    errors: list[str] = []
    rows: list[CategoryRow] = []
    seen: dict[str, str] = {}
    for where, record in raw:
        if isinstance(record, str):  # a structural error found while reading
            errors.append(f"{where}: {record}")
            continue
        try:
            row = _row(where, record)
        except InvalidInput as exc:
            errors.append(f"{where}: {exc.detail}")
            continue
        if row.code in seen:
            errors.append(f"{where}: code {row.code} is already on {seen[row.code]}")
            continue
        seen[row.code] = where
        rows.append(row)
    if not raw and not errors:
        errors.append("line 1: the file has no service categories")
    if len(rows) > MAX_ROWS:
        errors.append(f"the file has {len(rows)} categories; at most {MAX_ROWS} at a time")
    if errors:
        raise CatalogueInvalid(errors)
    return rows


class Unreadable(str):
    """An error :func:`csv_records` found while reading (the English text, as before), with
    :attr:`why`: its code and params for a person's language (``payments.errors.Why``)."""

    why: Why

    def __new__(cls, text: str, why: Why) -> Unreadable:
        made = super().__new__(cls, text)
        made.why = why
        return made


def csv_records(
    text: str, fields: tuple[str, ...] = FIELDS, required: tuple[str, ...] = REQUIRED
) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(where, record or error) per data row of a CSV file with a header row naming some of
    ``fields`` (all of ``required``). Comma- or semicolon-separated, chosen from the header row
    (a Finnish spreadsheet saves CSV with semicolons). Line 1 is the header. Also the reader of
    ``payments.budgets.client_import``. An error is an :class:`Unreadable` (a ``str``)."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield "line 1", Unreadable(f"not valid CSV ({exc})", Why("csv-invalid"))
        return
    if header is None:
        return
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in fields]
    missing = [c for c in required if c not in columns]
    twice = [c for c in dict.fromkeys(columns) if columns.count(c) > 1]
    problems = [f"unknown column {c!r}" for c in unknown]
    problems += [f"column {c!r} is missing" for c in missing]
    problems += [f"column {c!r} appears twice" for c in twice]
    if problems:
        why = Why(
            "header-invalid",
            {
                "unknown": ", ".join(unknown),
                "missing": ", ".join(missing),
                "twice": ", ".join(twice),
                "columns": ", ".join(fields),
            },
        )
        yield (
            "line 1",
            Unreadable("; ".join(problems) + f" (the columns are: {', '.join(fields)})", why),
        )
        return
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"line {line}", Unreadable(f"not valid CSV ({exc})", Why("csv-invalid"))
            return
        where = f"line {line}"
        line = reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) != len(columns):
            why = Why("cells-count", {"count": len(cells), "columns": len(columns)})
            yield where, Unreadable(f"{len(cells)} cells for {len(columns)} columns", why)
            continue
        yield where, dict(zip(columns, cells, strict=True))


def _json_rows(text: str) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(where, record or error) per item of a JSON list of objects: "item N (line L)", N from 1."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    try:
        whole = decoder.decode(text)
    except json.JSONDecodeError as exc:
        yield f"line {exc.lineno}", f"not valid JSON ({exc.msg}, column {exc.colno})"
        return
    if not isinstance(whole, list):
        yield "line 1", "the file must be a JSON list of objects, one per service category"
        return
    # Decode again item by item to know the line each one starts on.
    pos = text.index("[") + 1
    for n, item in enumerate(whole, start=1):
        while text[pos] in " \t\r\n,":
            pos += 1
        _, end = decoder.raw_decode(text, pos)
        where = f"item {n} (line {text.count(chr(10), 0, pos) + 1})"
        pos = end
        if not isinstance(item, dict):
            yield where, 'must be an object such as {"code": "siivous", ...}'
            continue
        yield where, item


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be text")
    return value


def _price_cap_cents(value: Any) -> int | None:
    """The price cap in euros (45 or 45.00; "45,00" too), as cents; empty: no cap."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput("price_cap must be a number of euros such as 45.00")
    text = str(value).strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        euros = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidInput(f"price_cap {text!r} is not a number of euros such as 45.00") from exc
    if not euros.is_finite():
        raise InvalidInput(f"price_cap {text!r} is not a number of euros such as 45.00")
    if euros.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput(f"price_cap {text!r} has more than two decimals")
    cents = int(euros * 100)
    if not 0 < cents <= MAX_CENTS:
        raise InvalidInput(f"price_cap {text} must be more than 0 and at most 1000000 euros")
    return cents


def _groups(value: Any) -> str:
    """Groups of services: a list (JSON) or text separated by ; or | (CSV); codes like the code."""
    if value is None:
        return ""
    if isinstance(value, list):
        if not all(isinstance(g, str) for g in value):
            raise InvalidInput("groups must be a list of texts")
        items = value
    elif isinstance(value, str):
        items = _GROUP_SEPARATORS.split(value)
    else:
        raise InvalidInput("groups must be a list, or text separated by ; or |")
    groups = sorted({g.strip() for g in items if g.strip()})
    for g in groups:
        if len(g) > CODE_MAX or not _CODE.fullmatch(g):
            raise InvalidInput(
                f"group {g!r} may have only lowercase letters a-z, digits and dashes"
            )
    joined = " ".join(groups)
    if len(joined) > GROUPS_MAX:
        raise InvalidInput(f"groups take at most {GROUPS_MAX} characters together")
    return joined


def _row(where: str, record: dict[str, Any]) -> CategoryRow:
    problems: list[str] = []
    values: dict[str, Any] = {}

    def take(key: str, check: Any) -> None:
        try:
            values[key] = check()
        except InvalidInput as exc:
            problems.append(str(exc.detail))

    def code() -> str:
        text = _text(record, "code").strip()
        if not text:
            raise InvalidInput("code is required")
        if len(text) > CODE_MAX or not _CODE.fullmatch(text):
            raise InvalidInput(
                f"code {text!r} may have only lowercase letters a-z, digits and dashes "
                f"(at most {CODE_MAX})"
            )
        return text

    def unit() -> str:
        text = _text(record, "unit").strip()
        if text not in UNITS:
            raise InvalidInput(f"unit {text!r} is not one of {', '.join(UNITS)}")
        return text

    unknown = sorted(str(k) for k in record if k not in FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    take("code", code)
    for lang in ("fi", "sv", "en"):
        key = f"name_{lang}"
        take(key, lambda key=key: clean_text(_text(record, key), what=key, max_len=NAME_MAX))
    take("unit", unit)
    take("price_cap_cents", lambda: _price_cap_cents(record.get("price_cap")))
    take("groups", lambda: _groups(record.get("groups")))
    if problems:
        raise InvalidInput("; ".join(problems))
    return CategoryRow(where=where, **values)


# ---------------------------------------------------------------------------------------------
# Importing


# What a change is called in the file's words.
_FIELD_OF = {"price_cap_cents": "price_cap", "groups": "groups"}


def _change(key: str, old: Any, new: Any) -> str:
    def show(value: Any) -> str:
        if key == "price_cap_cents":
            return "no cap" if value is None else f"{Decimal(value) / 100:.2f}"
        if key == "groups":
            return "|".join(value.split()) or "none"
        return repr(value)

    return f"{_FIELD_OF.get(key, key)}: {show(old)} -> {show(new)}"


async def _in_use(uow: UnitOfWork, category_id: uuid.UUID) -> bool:
    """Whether anything already counts in this category's unit: a price, decision or charge."""
    for column in (
        ProviderPrice.category_id,
        DecisionLineCategory.category_id,
        HoldLine.category_id,
        ChargeLine.category_id,
    ):
        found = await uow.session.execute(select(column).where(column == category_id).limit(1))
        if found.first() is not None:
            return True
    return False


async def _prices_above(uow: UnitOfWork, category_id: uuid.UUID, cap_cents: int) -> int:
    """How many providers' newest price (in force or announced) for the category is above
    ``cap_cents``."""
    rows = await uow.session.execute(
        select(
            ProviderPriceVersion.provider_id,
            ProviderPriceVersion.effective_from,
            ProviderPriceVersion.unit_price_cents,
        ).where(ProviderPriceVersion.category_id == category_id)
    )
    newest: dict[uuid.UUID, tuple[Any, int]] = {}
    for provider_id, effective_from, cents in rows.all():
        if provider_id not in newest or effective_from > newest[provider_id][0]:
            newest[provider_id] = (effective_from, cents)
    return sum(1 for _, cents in newest.values() if cents > cap_cents)


async def import_catalogue(
    db: Database,
    *,
    organizer_slug: str,
    rows: list[CategoryRow],
    source: str,
    dry_run: bool = False,
) -> ImportResult:
    """Create or update the organizer's categories as ``rows`` say, in one transaction.

    A category that prices, decisions or charges already use keeps its unit (changing it
    would change what their quantities mean): such a row is an error, and nothing is written.
    With ``dry_run`` everything is checked and reported and nothing is written. Audited as
    ``catalogue.imported`` with ``source`` (the file's name) and the counts.
    """
    result = ImportResult(organizer_slug=organizer_slug, dry_run=dry_run)
    async with UnitOfWork(db) as uow:
        s = uow.session
        organizer = (
            await s.execute(select(Organizer).where(Organizer.slug == organizer_slug))
        ).scalar_one_or_none()
        if organizer is None:
            raise NotFound(
                f"no organizer with slug {organizer_slug!r} (see: wallet organizer list)"
            )
        existing = {
            c.code: c
            for c in (
                await s.execute(
                    select(ServiceCategory).where(ServiceCategory.organizer_id == organizer.id)
                )
            ).scalars()
        }
        errors: list[str] = []
        for row in rows:
            current = existing.get(row.code)
            if current is None:
                s.add(ServiceCategory(organizer_id=organizer.id, code=row.code, **row.values()))
                result.rows.append(RowOutcome(row.where, row.code, Outcome.CREATED))
                continue
            changes = tuple(
                _change(key, getattr(current, key), value)
                for key, value in row.values().items()
                if getattr(current, key) != value
            )
            if not changes:
                result.rows.append(RowOutcome(row.where, row.code, Outcome.UNCHANGED))
                continue
            if current.unit != row.unit and await _in_use(uow, current.id):
                errors.append(
                    f"{row.where}: {row.code} is in use with unit {current.unit}; its unit "
                    f"cannot become {row.unit} (add the service under a new code instead)"
                )
                continue
            notes: tuple[str, ...] = ()
            if row.price_cap_cents is not None and row.price_cap_cents != current.price_cap_cents:
                above = await _prices_above(uow, current.id, row.price_cap_cents)
                if above:
                    notes = (
                        f"{above} provider(s) ask more than the new cap; their prices stand "
                        "until they change them",
                    )
            for key, value in row.values().items():
                setattr(current, key, value)
            result.rows.append(RowOutcome(row.where, row.code, Outcome.UPDATED, changes, notes))
        if errors:
            raise CatalogueInvalid(errors)
        if dry_run:
            await s.rollback()
            return result
        audit.add(
            s,
            "catalogue.imported",
            actor_id=None,
            organizer_id=organizer.id,
            detail=f"{source}: {result.summary()}",
        )
        try:
            await uow.commit()
        except IntegrityError as exc:  # another import added the same code meanwhile
            raise Conflict(
                "the catalogue changed meanwhile; nothing was imported, run again"
            ) from exc
    return result

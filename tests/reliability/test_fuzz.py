"""API fuzzing: schemathesis against ``/schema/openapi.json`` as every role, and bad input
beyond the schema on every operation.

1. ``schemathesis run`` (all its phases: examples, coverage, fuzzing, stateful) against a real
   ``wallet serve`` on loopback, authenticated as a client, a carer with a mandate, a provider
   and a case manager: no 5xx, no response that breaks its documented schema, schema-invalid
   input always refused. The few checks left out are named in ``EXCLUDED_CHECKS`` with why.
2. A walker over every operation of the OpenAPI document that sends what a schema cannot
   describe: int64 overflow, control and bidi characters, lone surrogates, huge strings, deep
   JSON, oversized and non-UTF-8 bodies, wrong content types, odd path and query values. Each
   answer must be below 500, and every refusal a problem+json document with a stable slug.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from payments import catalogue
from payments.access import grant_mandate
from payments.db import Database
from tests.factories import api_key_for, seed_world
from tests.reliability.bounds import LONG, LONG_TIMEOUT, pick
from tests.servers import WALLET, Server
from wallet_api.app import create_app
from wallet_api.settings import Settings

SCHEMATHESIS = str(Path(WALLET).with_name("schemathesis"))
ROLES = ("client", "carer", "provider", "case_manager")
MAX_BODY = 64 * 1024
# Checks left out of "all", and why:
EXCLUDED_CHECKS = {
    # Schema-valid input that the rules refuse (no money left, unknown id, price above the
    # list) is rightly a 4xx; schema-invalid input is still checked (negative_data_rejection).
    "positive_data_acceptance",
    # /health, the schema and the sign-in ceremonies are public by design; who may call what
    # is proven route by route in tests/wallet_api/test_authz_matrix.py.
    "ignored_auth",
    "missing_required_header",
    # The document lists each route's success response; errors are problem+json by one rule
    # stated in its description, not repeated per route (see docs/reliability.md).
    "status_code_conformance",
    "content_type_conformance",
    # Litestar's automatic OPTIONS answer names only one handler's methods when a controller
    # has GET and POST on one path; it matters for CORS preflight, which this same-origin
    # app does not use.
    "allow_header_conformance",
}


@dataclass
class Keys:
    client: str
    carer: str
    provider: str
    case_manager: str

    def of(self, role: str) -> str:
        return str(getattr(self, role))


async def _keys(db: Database) -> Keys:
    w = await seed_world(db)
    carer = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="carer", display_name="Matti"
    )
    await grant_mandate(db, carer_id=carer, client_id=w.client_id, scopes=("view", "approve"))
    return Keys(
        client=await api_key_for(db, w.client_principal),
        carer=await api_key_for(db, carer),
        provider=await api_key_for(db, w.provider_principal),
        case_manager=await api_key_for(db, w.case_manager),
    )


# ---------------------------------------------------------------------------------------------
# 1. schemathesis, as each role, against a real server


@pytest.fixture
def server(db: Database) -> Iterator[Server]:
    s = Server(db.url)
    yield s
    s.stop()


@pytest.mark.timeout(LONG_TIMEOUT)
# PostgreSQL in CI: its driver is the stricter one (int64, NUL); SQLite too in the long run.
@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"] if LONG else ["postgres"])
@pytest.mark.parametrize("role", ROLES)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    db: Database, server: Server, role: str
):
    keys = await _keys(db)
    server.start()
    await server.ready()
    proc = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "run",
        f"{server.base}/schema/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(sorted(EXCLUDED_CHECKS)),
        "--header",
        f"Authorization: Bearer {keys.of(role)}",
        "--max-examples",
        str(int(pick(3, 50))),
        *(() if LONG else ("--seed", "20261123")),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--no-color",
        # An endless SSE stream would hold every call until the request timeout; its
        # refusals and authorization are tested in tests/notifications.
        "--exclude-path",
        "/api/events",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), pick(240, 1800))
    finally:
        if proc.returncode is None:  # timed out: never leave the fuzzer running
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    summary = text[text.rfind("SUMMARY") :]
    failures = text[text.find("FAILURES") :] if "FAILURES" in text else text
    assert proc.returncode == 0, failures[:8000]
    assert "Server error" not in text and "Runtime Error" not in summary, summary
    assert server.tracebacks() == ""


@pytest.mark.parametrize("engine_name", ["sqlite"])
async def test_no_response_schema_is_ambiguous(db: Database, server: Server):
    """Regression (found by schemathesis): a route returning rows or a CSV ``Response`` was
    documented as ``oneOf: [array, {}]``, which every array matches twice, so no answer could
    conform. No ``oneOf`` in the document may have an empty alternative."""
    server.start()
    await server.ready()
    async with httpx.AsyncClient(base_url=server.base) as c:
        doc = (await c.get("/schema/openapi.json")).json()
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "oneOf" and any(alt == {} for alt in v):
                    found.append(where)
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(doc, "")
    assert found == []


# ---------------------------------------------------------------------------------------------
# 2. Bad input beyond the schema, in process, on every operation


@pytest.fixture
async def app_client(db: Database) -> AsyncIterator[tuple[AsyncTestClient[Any], Keys]]:
    keys = await _keys(db)
    settings = Settings(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=MAX_BODY,
    )
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c, keys


def _resolve(node: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


# Values that get a request past the first checks, so a mutation reaches deeper code.
HINTS: dict[str, Any] = {
    "phone": "+358401112233",
    "first_name": "Testi",
    "last_name": "Henkilö",
    "name": "Testi",
    "display_name": "Testi",
    "category": "siivous",
    "quantity": "1",
    "unit_price_cents": 100,
    "amount_cents": 100,
    "monthly_amount_cents": 10_000,
    "language": "fi",
    "valid_from": "2026-11-01",
    "label": "Siivous",
}


def sample(
    node: dict[str, Any], doc: dict[str, Any], depth: int = 0, name: str | None = None
) -> Any:
    """A plausible value for a JSON schema: the starting point for mutations."""
    if name in HINTS:
        return HINTS[name]
    node = _resolve(node, doc)
    for alt_key in ("oneOf", "anyOf"):
        if alt_key in node:
            alts = [a for a in node[alt_key] if _resolve(a, doc).get("type") != "null"]
            return sample(alts[0], doc, depth) if alts else None
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in node:
        if depth > 4:
            return {}
        props = node.get("properties", {})
        return {k: sample(v, doc, depth + 1, k) for k, v in props.items()}
    if kind == "array":
        return [sample(node.get("items", {}), doc, depth + 1)]
    if kind == "integer":
        return max(1, int(node.get("minimum", 1)))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    fmt = node.get("format")
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date":
        return "2026-11-01"
    if fmt == "date-time":
        return "2026-11-01T12:00:00Z"
    return "x" * max(1, int(node.get("minLength", 1)))


BAD_INTS = [2**63, -(2**63) - 1, 10**40, -1, 0]
BAD_STRINGS = [
    "\x00",
    "040\x00123\x1b[2J",
    "\u202e0401234567",  # right-to-left override
    "\ud800",  # a lone surrogate: valid JSON escape, not valid UTF-8
    "😀" * 50,
    "ｆｕｌｌｗｉｄｔｈ０４０",
    "x" * 20_000,
    "",
    " ",
    "1e999",
    "9" * 40,
]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(value)
    if not path:
        return new
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = new
    return out


def mutations(body: Any) -> Iterator[tuple[str, Any]]:
    """Each leaf in turn replaced by overflowing numbers, odd strings and wrong types."""
    for path, leaf in _leaves(body):
        where = "/".join(map(str, path)) or "(body)"
        if isinstance(leaf, bool):
            candidates: list[Any] = ["true", 2]
        elif isinstance(leaf, int):
            candidates = [*BAD_INTS, 1.5, "1", None]
        else:
            candidates = [*BAD_STRINGS, 2**63, None, [], {}]
        for new in candidates:
            yield f"{where}={new!r:.40}", _set(body, path, new)
    yield "top-level array", [body]
    yield "top-level null", None
    yield "top-level string", "x"


def raw_bodies() -> Iterator[tuple[str, bytes, str]]:
    """Bodies no JSON schema can describe: (label, bytes, content type)."""
    yield "oversized", b'{"a": "' + b"1" * (MAX_BODY + 10) + b'"}', "application/json"
    yield "deep", b"[" * 100_000 + b"]" * 100_000, "application/json"
    yield "deep object", b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"
    yield "not utf-8", b'{"phone": "\xff\xfe"}', "application/json"
    yield "truncated", b'{"phone": ', "application/json"
    yield "nan", b'{"amount_cents": NaN}', "application/json"
    yield "duplicate keys", b'{"a": 1, "a": 2}', "application/json"
    yield "form", b"phone=0401234567", "application/x-www-form-urlencoded"
    yield "text", b"{}", "text/plain"
    yield "multipart", b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b"
    yield "xml", b"<a/>", "application/xml"
    yield "no content type", b"{}", ""


def _path_for(template: str, value: str) -> str:
    out = template
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = out[:start] + value + out[end + 1 :]
    return out


@dataclass
class Finding:
    where: str
    status: int
    detail: str


def judge(where: str, status: int, content_type: str, body: bytes) -> Finding | None:
    """Below 500; a refusal is problem+json with a slug, a title and its own status."""
    if status >= 500:
        return Finding(where, status, body[:300].decode(errors="replace"))
    if status < 400:
        return None
    if not content_type.startswith("application/problem+json"):
        return Finding(where, status, f"content-type {content_type!r}")
    try:
        problem = json.loads(body)
    except ValueError:
        return Finding(where, status, "refusal is not JSON")
    if not (
        isinstance(problem, dict)
        and isinstance(problem.get("type"), str)
        and problem["type"]
        and problem.get("title")
        and problem.get("status") == status
    ):
        return Finding(where, status, f"not a problem document: {body[:200]!r}")
    return None


async def test_bad_input_beyond_the_schema_is_a_clean_4xx_everywhere(app_client):
    client, keys = app_client
    doc = (await client.get("/schema/openapi.json")).json()
    findings: list[Finding] = []
    sent = 0

    async def send(
        method: str, path: str, role: str | None, label: str = "", **kw: Any
    ) -> tuple[int, bytes]:
        nonlocal sent
        headers = dict(kw.pop("headers", {}))
        if role:
            headers["Authorization"] = f"Bearer {keys.of(role)}"
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        r = await client.request(method, path, headers=headers, **kw)
        sent += 1
        found = judge(
            f"{method} {path} {kw.get('params') or ''}{label}",
            r.status_code,
            r.headers.get("content-type", ""),
            r.content,
        )
        if found:
            findings.append(found)
        return r.status_code, r.content

    for template, item in doc["paths"].items():
        if template.startswith("/schema"):
            continue
        for method, op in item.items():
            method = method.upper()
            if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            if method == "GET" and template == "/api/events":
                continue  # an endless stream; its refusals are tested in tests/notifications
            path = _path_for(template, str(uuid.uuid4()))
            body_schema = (
                op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ).get("schema")
            base = sample(body_schema, doc) if body_schema is not None else None
            # The role that gets furthest with a plausible request carries the odd ones.
            role = "case_manager"
            for candidate in ROLES:
                extra = {"json": base} if body_schema is not None else {}
                status, _ = await send(method, path, candidate, **extra)
                if status not in (401, 403):
                    role = candidate
                    break
            # Odd path values: each must be a clean 404/400, never a crash.
            if "{" in template:
                for odd in ("0", "-1", "9" * 40, "%00", "%C0%AE", "x" * 300):
                    await send(method, _path_for(template, odd), role)
            # Odd query values for every query parameter.
            for param in op.get("parameters", []):
                if param.get("in") == "query":
                    for odd in ("9" * 40, str(2**63), "-1", "\x00", "1e999", "", "[]"):
                        await send(method, path, role, params={param["name"]: odd})
            if body_schema is None:
                continue
            for label, content, ctype in raw_bodies():
                headers = {"Content-Type": ctype} if ctype else {}
                await send(method, path, role, label, content=content, headers=headers)
            for label, body in mutations(base):
                # Encoded here with ASCII escapes: a lone surrogate is valid JSON text.
                await send(
                    method,
                    path,
                    role,
                    label,
                    content=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )
    assert sent > 500, sent
    report = "\n".join(f"{f.status} {f.where}: {f.detail}" for f in findings[:40])
    assert findings == [], f"{len(findings)} bad answers of {sent}:\n{report}"


# ---------------------------------------------------------------------------------------------
# 3. Regressions: each a 500 that the fuzzing above found, now a clean refusal.

REGRESSIONS = [
    # (name, role, method, path, kwargs, status)
    (
        "non-UTF-8 JSON body",
        "provider",
        "POST",
        "/api/charges",
        {"content": b'{"phone": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "audit page id beyond int64",
        "case_manager",
        "GET",
        "/api/audit",
        {"params": {"before_id": str(2**63)}},
        400,
    ),
    (
        "event id beyond int64 (query)",
        "client",
        "GET",
        "/api/events",
        {"params": {"last_event_id": str(2**63)}},
        400,
    ),
    (
        "event id beyond int64 (header)",
        "client",
        "GET",
        "/api/events",
        {"headers": {"Last-Event-ID": "9" * 30}},
        400,
    ),
    (
        "NUL in a query parameter",
        "client",
        "GET",
        "/api/directory",
        {"params": {"category": "\x00"}},
        400,
    ),
    (
        "NUL in a client's name",
        "case_manager",
        "POST",
        "/api/clients",
        {"json": {"first_name": "A\x00", "last_name": "B", "phone": "+358401112299"}},
        400,
    ),
    (
        "escape sequence in a client's name",
        "case_manager",
        "POST",
        "/api/clients",
        {"json": {"first_name": "\x1b[2J", "last_name": "B", "phone": "+358401112298"}},
        400,
    ),
    (
        "year 0000 in a report range",
        "case_manager",
        "GET",
        "/api/reports/months",
        {"params": {"from": "0000-01", "to": "0000-01"}},
        400,
    ),
]


@pytest.mark.parametrize(
    ("name", "role", "method", "path", "kwargs", "status"),
    REGRESSIONS,
    ids=[r[0] for r in REGRESSIONS],
)
async def test_found_by_fuzzing_now_refused_cleanly(
    app_client, name, role, method, path, kwargs, status
):
    client, keys = app_client
    headers = {"Authorization": f"Bearer {keys.of(role)}", "Idempotency-Key": str(uuid.uuid4())}
    headers.update(kwargs.get("headers", {}))
    r = await client.request(method, path, **{**kwargs, "headers": headers})
    assert r.status_code == status, r.text
    assert judge(name, r.status_code, r.headers.get("content-type", ""), r.content) is None

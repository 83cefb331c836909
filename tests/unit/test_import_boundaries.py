"""The architecture, as imports (issue 14, item 9): ``payments`` speaks no HTTP and knows no
app; ``notifications`` never imports ``wallet_api``; and inside ``payments`` each subpackage
imports only the layers below it (ARCHITECTURE.md draws the same picture)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SHARED = {
    "payments.errors",
    "payments.models",
    "payments.db",
    "payments.uow",
    "payments.outbox",
    "payments.idempotency",
    "payments.clock",
    "payments.vocabulary",
    "payments.results",
    "payments.rows",
}
# What each part of payments may import besides itself, bottom layer first.
LAYERS: dict[str, set[str]] = {
    # The domain's words (StrEnums): every layer may use them, they import nothing.
    "payments.vocabulary": set(),
    "payments.errors": set(),
    "payments.clock": set(),
    "payments.results": set(),
    "payments.models": {"payments.vocabulary"},
    "payments.db": set(),
    "payments.rows": set(),
    "payments.uow": {"payments.db"},
    "payments.outbox": {"payments.models"},
    "payments.idempotency": {
        "payments.db",
        "payments.errors",
        "payments.models",
        "payments.uow",
        "payments.clock",
        "payments.results",
        "payments.rows",
    },
    "payments.ledger": SHARED,
    "payments.people": SHARED | {"payments.ledger"},
    "payments.budgets": SHARED | {"payments.ledger", "payments.people"},
    # Read models read tables, not other features' code.
    "payments.reporting": SHARED | {"payments.ledger"},
    "payments.marketplace": SHARED
    | {"payments.ledger", "payments.people", "payments.budgets", "payments.reporting"},
    "payments.checkout": SHARED
    | {"payments.ledger", "payments.people", "payments.budgets", "payments.marketplace"},
    # The books check proves every feature's records against the ledger: it sits on top.
    "payments.books": SHARED
    | {"payments.ledger", "payments.reporting", "payments.marketplace", "payments.checkout"},
}


def part_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def imports(package: str) -> dict[str, set[tuple[str, str]]]:
    """Top-level package or payments part -> {(imported module, importing file)}."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in (ROOT / package).rglob("*.py"):
        rel = path.relative_to(ROOT)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        here = part_of(module) if package == "payments" else package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "payments":
                    names = [f"payments.{a.name}" for a in node.names]
                found[here].update((n, str(rel)) for n in names)
            elif isinstance(node, ast.Import):
                found[here].update((a.name, str(rel)) for a in node.names)
    return found


def test_payments_imports_no_web_framework_no_app_no_notifications():
    bad = [
        f"{where} imports {name}"
        for uses in imports("payments").values()
        for name, where in uses
        if name.split(".")[0] in ("litestar", "wallet_api", "notifications", "starlette")
    ]
    assert bad == []


def test_notifications_never_imports_the_app():
    bad = [f"{w} imports {n}" for n, w in imports("notifications")["notifications"]
           if n.split(".")[0] == "wallet_api"]  # fmt: skip
    assert bad == []


def test_each_part_of_payments_imports_only_the_layers_below_it():
    found = imports("payments")
    assert set(found) - {"payments"} <= set(LAYERS), set(found) - set(LAYERS)
    bad = []
    for here, uses in sorted(found.items()):
        allowed = LAYERS.get(here, set()) | {here}
        for name, where in sorted(uses):
            if name.startswith("payments.") and part_of(name) not in allowed:
                bad.append(f"{where} ({here}) imports {name}")
    assert bad == [], "\n".join(bad)


# wallet_api: one package per feature (routes, schemas, rendering); the app-wide modules stay at
# the top. A feature imports payments, notifications and the shared top-level modules, and of
# another feature at most its schemas or helpers, never its routes. Only the app (and its
# entry points) assemble the features.
APP = ROOT / "wallet_api"
# The worker is an entry point too: the live machinery without HTTP (`wallet worker`).
ASSEMBLERS = {"wallet_api.app", "wallet_api.asgi", "wallet_api.cli", "wallet_api.worker"}


def _features() -> set[str]:
    return {p.parent.name for p in APP.glob("*/__init__.py") if p.parent.name != "migrations"}


def _is_routes(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "routes" or last.endswith("_routes")


def _app_imports() -> list[tuple[str, str]]:
    """(importing module, imported wallet_api module) for every file of wallet_api."""
    found = []
    for path in APP.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if "migrations" in rel.parts:
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module.count(".") < 2:  # from wallet_api[.feature] import x
                    names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found += [(module, n) for n in names if n.split(".")[0] == "wallet_api"]
    return found


def test_wallet_api_is_in_feature_packages():
    features = _features()
    assert {"charges", "checkout", "live", "marketplace", "people", "reporting", "signin"} <= (
        features
    )
    for feature in features:
        assert (APP / feature / "routes.py").exists(), f"wallet_api/{feature} has no routes.py"


def test_each_feature_imports_no_other_features_routes_and_shared_modules_no_feature():
    features = _features()
    bad = []
    for here, name in sorted(_app_imports()):
        here_feature = here.split(".")[1] if here.count(".") >= 2 else None
        parts = name.split(".")
        target_feature = parts[1] if len(parts) >= 2 and parts[1] in features else None
        if target_feature is None or target_feature == here_feature:
            continue
        if here_feature is None and here not in ASSEMBLERS:
            bad.append(f"{here} (shared) imports the feature module {name}")
        elif here_feature is not None and (len(parts) == 2 or _is_routes(name)):
            bad.append(f"{here} imports another feature's routes: {name}")
    assert bad == [], "\n".join(bad)

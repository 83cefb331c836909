"""The PWA's modules form no import circle (issue 14, item 6): views use session.js and
router.js, never the shell (app.js), and every module the shell can load is in the service
worker's cache list, so the app starts offline. Read from the files; no browser needed."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "pwa" / "static"
# import { x } from "./m.js"   and   import("./m.js")
IMPORT = re.compile(
    r"""(?:^|\n)\s*import\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)"""
)
# Fetched only when a provider opens the camera (see the note in sw.js's SHELL).
NOT_CACHED = {"/js/views/provider-scan.js"}


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, statically or dynamically (paths under /js)."""
    edges: dict[str, set[str]] = {}
    for path in (STATIC / "js").rglob("*.js"):
        here = "/" + path.relative_to(STATIC).as_posix()
        targets = set()
        for static, dynamic in IMPORT.findall(path.read_text(encoding="utf-8")):
            spec = static or dynamic
            if spec.startswith("."):
                base = here.rsplit("/", 1)[0]
                parts = []
                for part in f"{base}/{spec}".split("/"):
                    if part == "..":
                        parts.pop()
                    elif part not in ("", "."):
                        parts.append(part)
                targets.add("/" + "/".join(parts))
        edges[here] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_imports_the_shell_and_there_is_no_circle():
    edges = graph()
    assert "/js/app.js" in edges and len(edges) > 20
    importers = sorted(m for m, targets in edges.items() if "/js/app.js" in targets)
    assert importers == [], f"modules importing the shell: {importers}"
    assert cycles(edges) == []


def test_every_module_is_in_the_service_workers_cache():
    shell = set(re.findall(r'"(/js/[^"]+\.js)"', (STATIC / "sw.js").read_text(encoding="utf-8")))
    modules = set(graph()) - NOT_CACHED
    assert modules - shell == set(), "add these to SHELL in sw.js (and bump VERSION)"


STATIC_IMPORT = re.compile(r"""(?:^|\n)\s*import\s[^;]*?from\s+["']\./([\w-]+)\.js["']""")


def test_the_early_start_preloads_every_module_its_first_screens_import():
    """Each module a first screen's code imports statically is preloaded with it (index.html's
    code([...])): a module found only when its importer runs costs the phone a round trip more
    (the client list waited 0.6 s for cm-sms.js)."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    groups = [re.findall(r'"([\w-]+)"', g) for g in re.findall(r"code\(\[([^\]]*)\]\)", html)]
    assert len(groups) == 3
    for names in groups:
        views = STATIC / "js" / "views"
        imported = {
            name
            for view in names
            for name in STATIC_IMPORT.findall((views / f"{view}.js").read_text(encoding="utf-8"))
        }
        assert imported <= set(names), f"preload {sorted(imported - set(names))} with {names}"

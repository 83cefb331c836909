"""The shell's modules in one file (issue 22; pwa.shell_bundle, pwa/bundle.mjs): the committed
bundle is built from the modules as they are, the page sends their addresses to it by an import
map that its Content-Security-Policy allows, and a stale or missing bundle leaves the page as
index.html is, loading the modules themselves."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pwa

PRELOADED = re.compile(r'<link rel="modulepreload" href="/(js/[\w.-]+\.js)">')
IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.DOTALL)


def test_the_committed_bundle_is_built_from_the_modules_as_they_are() -> None:
    """Fails after a change to any of the shell's modules until ``make bundle`` is run (the
    app still works meanwhile, from the modules themselves: see the next test)."""
    html = (pwa.STATIC_DIR / "index.html").read_text(encoding="utf-8")
    shell = set(PRELOADED.findall(html))
    assert "js/app.js" in shell and len(shell) >= 8
    bundled = pwa.shell_bundle()
    assert bundled, "pwa/static/js/shell.bundle.js is missing or stale: run `make bundle`"
    # Every preloaded shell module is in it, and nothing a view imports by itself (a module in
    # the bundle and loaded again beside it would be a second copy with its own state).
    assert set(bundled) == shell, sorted(set(bundled) ^ shell)
    assert "js/forms.js" not in bundled


def _copy_of_the_app(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    shutil.copy(pwa.STATIC_DIR / "index.html", static / "index.html")
    for path in (pwa.STATIC_DIR / "js").glob("*.js"):
        shutil.copy(path, static / "js" / path.name)
    return static


def test_the_page_sends_the_bundled_modules_to_the_bundle_only_while_it_is_fresh(
    tmp_path: Path,
) -> None:
    static = _copy_of_the_app(tmp_path)
    html = (static / "index.html").read_text(encoding="utf-8")
    bundled = pwa.shell_bundle(static)

    page = pwa.shell_page(static)
    imports = json.loads(IMPORT_MAP.findall(page)[0])["imports"]
    assert imports == {f"/{name}": "/js/shell.bundle.js" for name in bundled}
    # Before the early start, whose import("/js/app.js") it sends to the bundle.
    assert page.index('type="importmap"') < page.index('import("/js/app.js")')
    # The bundle preloaded in the place of its modules; the early start's own preloads stay.
    assert PRELOADED.findall(page) == ["js/shell.bundle.js"]
    assert page.count('link.rel = "modulepreload"') == html.count('link.rel = "modulepreload"')

    # One byte changed in one module: the page is index.html as it is, loading the modules.
    app = static / "js" / "session.js"
    app.write_text(app.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert pwa.shell_bundle(static) == ()
    assert pwa.shell_page(static) == html
    # So it is without the bundle, or with one that names no sources.
    (static / "js" / "session.js").write_bytes((pwa.STATIC_DIR / "js" / "session.js").read_bytes())
    assert pwa.shell_bundle(static) == bundled
    (static / "js" / "shell.bundle.js").write_text("export {};\n", encoding="utf-8")
    assert pwa.shell_page(static) == html
    (static / "js" / "shell.bundle.js").unlink()
    assert pwa.shell_page(static) == html


def _source(script: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"


async def test_the_page_is_served_with_its_import_map_allowed(client: Any) -> None:
    r = await client.get("/", headers={"Accept-Encoding": "br"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-encoding"] == "br"
    assert r.text == pwa.shell_page()
    assert 'type="importmap"' in r.text
    # Both inline scripts, the import map and the early start, by their hashes; nothing else.
    policy = r.headers["content-security-policy"]
    script_src = next(p for p in policy.split("; ") if p.startswith("script-src "))
    scripts = re.findall(r"<script(?: type=\"importmap\")?>(.*?)</script>", r.text, re.DOTALL)
    assert len(scripts) == 2
    assert script_src.split()[1:] == ["'self'", *(_source(s) for s in scripts)]
    assert "unsafe-inline" not in policy

    # Revalidated like every file of the app; the same page at /index.html.
    assert r.headers["cache-control"] == "no-cache"
    again = await client.get(
        "/", headers={"Accept-Encoding": "br", "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    plain = await client.get("/index.html", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == r.text

    # The bundle itself, a module of the app like the others; the rest of the static files
    # as before (the invite page, from its folder).
    bundle = await client.get("/js/shell.bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "export{" in bundle.text.replace(" ", "")
    join = await client.get("/join")
    assert join.status_code == 200 and "/join/redirect.js" in join.text

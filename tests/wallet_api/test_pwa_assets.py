"""The app's files as served (pwa.assets): JavaScript and CSS minified, brotli when the browser
accepts it and gzip otherwise, each copy with its own validator; the same module graph as the
source (tests/e2e runs the minified code in a real browser)."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import brotli
import pytest

import pwa

# import { x } from "./m.js", import "./m.js" and import("./m.js"), minified or not.
SPECIFIER = re.compile(r"""(?:\bfrom|\bimport|\bimport\s*\()\s*["'`]([^"'`]+\.js)["'`]""")
OWN_JS = sorted(
    p for p in pwa.STATIC_DIR.rglob("*.js") if p.relative_to(pwa.STATIC_DIR).parts[0] != "vendor"
)


def address(path: Path) -> str:
    return "/" + path.relative_to(pwa.STATIC_DIR).as_posix()


def test_the_app_code_and_stylesheet_are_served_minified() -> None:
    served = pwa.assets()
    assert len(OWN_JS) > 40
    for path in [*OWN_JS, pwa.STATIC_DIR / "app.css"]:
        body = served[address(path)].bodies["identity"].decode()
        source = path.read_text(encoding="utf-8")
        assert len(body) < len(source) * 0.9, path.name
        assert "\n//" not in body and "/*" not in body, f"{path.name} keeps its comments"
    # The vendored libraries are served as their authors minified them.
    vendor = pwa.STATIC_DIR / "vendor" / "qr-scanner.min.js"
    assert served["/vendor/qr-scanner.min.js"].bodies["identity"] == vendor.read_bytes()


def test_minified_modules_import_the_same_modules_and_texts_are_kept() -> None:
    served = pwa.assets()
    for path in OWN_JS:
        body = served[address(path)].bodies["identity"].decode()
        source = path.read_text(encoding="utf-8")
        assert SPECIFIER.findall(body) == SPECIFIER.findall(source), path.name
    # Spaces inside template literals are text the person reads (a minifier that dropped the
    # one after "${…}" wrote "2×5,00 €").
    charge = served["/js/views/charge.js"].bodies["identity"].decode()
    assert "} × ${" in charge
    # The service worker's version and cache list survive (the shell cache is keyed on it).
    sw = served["/sw.js"].bodies["identity"].decode()
    assert re.search(r'VERSION\s*=\s*"v\d+"', sw) and '"/js/app.js"' in sw


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_minified_modules_still_parse(tmp_path: Path) -> None:
    served = pwa.assets()
    for path in OWN_JS:
        module = path.name != "sw.js" and "join" not in path.parts
        copy = tmp_path / (path.stem + (".mjs" if module else ".cjs"))
        copy.write_bytes(served[address(path)].bodies["identity"])
        done = subprocess.run(["node", "--check", str(copy)], capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name}: {done.stderr}"


async def test_br_when_accepted_else_gzip_else_as_is(client: Any) -> None:
    whole = pwa.assets()["/js/app.js"].bodies["identity"]
    for accept, encoding in [
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0, gzip", "gzip"),
        ("gzip", "gzip"),
        ("identity", None),
        ("", None),
    ]:
        r = await client.get("/js/app.js", headers={"Accept-Encoding": accept})
        assert r.status_code == 200, accept
        assert r.headers.get("content-encoding") == encoding, accept
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["cache-control"] == "no-cache"
        assert "Accept-Encoding" in r.headers["vary"]
        assert r.content == whole  # httpx decodes br and gzip; compressed once, not twice
    # What travels: brotli smaller than gzip, both smaller than the minified file.
    raw = pwa.assets()["/js/app.js"].bodies
    assert len(raw["br"]) < len(raw["gzip"]) < len(raw["identity"])
    assert brotli.decompress(raw["br"]) == gzip.decompress(raw["gzip"]) == whole


async def test_each_copy_has_its_own_validator_and_is_revalidated(client: Any) -> None:
    tags = {}
    for accept in ("br", "gzip", "identity"):
        r = await client.get("/app.css", headers={"Accept-Encoding": accept})
        tags[accept] = r.headers["etag"]
        again = await client.get(
            "/app.css", headers={"Accept-Encoding": accept, "If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""
    assert len(set(tags.values())) == 3
    # A file that changed (another tag) is sent again.
    other = await client.get("/app.css", headers={"If-None-Match": '"0123"'})
    assert other.status_code == 200 and other.content
    head = await client.head("/js/api.js", headers={"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.headers["content-encoding"] == "br"
    assert int(head.headers["content-length"]) == len(pwa.assets()["/js/api.js"].bodies["br"])


async def test_the_first_language_file_and_the_whole_one_are_brotli_too(client: Any) -> None:
    for path in ("/i18n/fi.first.charge.json", "/i18n/fi.json", "/manifest.webmanifest"):
        r = await client.get(path, headers={"Accept-Encoding": "gzip, br"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "br", path
        assert r.json()


def test_a_file_that_compression_would_grow_is_sent_as_it_is() -> None:
    tiny = pwa.Asset.of(b"x", "text/plain")
    assert set(tiny.bodies) == {"identity"}
    assert pwa.encoding_for("gzip, br", tiny.bodies) == "identity"
    assert pwa.encoding_for("gzip;q=0.5, br;q=0") == "gzip"
    assert pwa.encoding_for("*") == "br"
    assert pwa.encoding_for("deflate") == "identity"

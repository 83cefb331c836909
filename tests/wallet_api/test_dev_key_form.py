"""Issue 13, item 8: the PWA's API-key form is served only when a development setting is on.

The form ("paste an API key") is for development, tests and the demo. In production it must
not reach the browser at all: hiding it is not enough (a stylesheet or a script can show a
hidden element). Its code lives in one module, ``/js/dev-key.js``, that the server delivers only
with ``WALLET_DEV_API_KEY_FORM`` on; otherwise that URL is a stub without any form, and no other
file of the app carries the form. The browser side is tests/e2e/test_dev_key_form.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pwa import STATIC_DIR
from wallet_api.app import create_app
from wallet_api.settings import Settings

# What only the API-key form's code contains.
FORM_MARKERS = ("devkey", "dev.key", "dev.use", "wk_")


def _settings(url: str, **extra: Any) -> Settings:
    base = Settings(
        database_url=url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )
    return replace(base, **extra)


@pytest.fixture
async def dev_client(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(_settings(database_url, dev_api_key_form=True))
    async with AsyncTestClient(app=app) as c:
        yield c


def test_the_setting_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WALLET_DEV_API_KEY_FORM", raising=False)
    assert Settings.from_env().dev_api_key_form is False
    monkeypatch.setenv("WALLET_DEV_API_KEY_FORM", "1")
    assert Settings.from_env().dev_api_key_form is True
    monkeypatch.setenv("WALLET_DEV_API_KEY_FORM", "0")
    assert Settings.from_env().dev_api_key_form is False


def test_no_static_file_carries_the_form() -> None:
    """Only /js/dev-key.js has the form, and it is not one of the static files."""
    for path in [*sorted(STATIC_DIR.rglob("*.js")), STATIC_DIR / "index.html"]:
        if "vendor" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        found = [m for m in FORM_MARKERS if m in text]
        assert not found, f"{path.relative_to(STATIC_DIR)} carries the API-key form: {found}"


async def test_without_the_setting_the_form_is_not_served(client) -> None:
    r = await client.get("/js/dev-key.js")
    assert r.status_code == 200  # a stub, so the app asks without an error in the console
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-store"
    assert not [m for m in FORM_MARKERS if m in r.text], r.text
    assert "export const devKeyForm = null" in r.text
    for path in ("/js/views/signin.js", "/js/views/settings.js", "/js/api.js", "/"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert not [m for m in FORM_MARKERS if m in r.text], path


async def test_with_the_setting_the_form_is_served(dev_client) -> None:
    r = await dev_client.get("/js/dev-key.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-store"
    assert all(m in r.text for m in FORM_MARKERS), r.text
    assert "export function devKeyForm" in r.text


@pytest.mark.parametrize(
    "path",
    ["/dev/dev-key.js", "/js/./dev-key.js", "/js/views/../dev-key.js", "/js//dev-key.js"],
)
async def test_the_form_cannot_be_fetched_another_way(client, path) -> None:
    r = await client.get(path)
    assert not [m for m in FORM_MARKERS if m in r.text], (path, r.status_code)

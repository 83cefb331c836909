"""ASGI entry point for servers: ``uvicorn wallet_api.asgi:app``.

``granian_app`` is the same app behind granian's proxy-headers wrapper with the trusted proxies
of ``WALLET_TRUSTED_PROXIES`` (``wallet serve --server granian``); uvicorn gets the same list
as ``forwarded_allow_ips``. The app resolves the client through the same list itself
(``wallet_api.edge``), so each server's own resolution only agrees with it.

Built ``served``: the process's heap is frozen once the app has started
(``wallet_api.app.freeze_heap``).
"""

from granian.utils.proxies import wrap_asgi_with_proxy_headers

from wallet_api.app import create_app

app = create_app(served=True)
_trusted = app.state.settings.trusted_proxies.strip()
granian_app = wrap_asgi_with_proxy_headers(app, _trusted) if _trusted else app

"""ASGI entry point for servers: ``uvicorn wallet_api.asgi:app``."""

from wallet_api.app import create_app

app = create_app()

"""A real ``wallet serve`` process on a loopback port: the crash, fuzz and multi-process
live-event tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

WALLET = str(Path(sys.executable).with_name("wallet"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``wallet serve`` on a fixed loopback port, restartable after a kill."""

    def __init__(self, database_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(f"/tmp/wallet-reliability-{self.port}.log")
        self.env = {
            **os.environ,
            "WALLET_DATABASE_URL": database_url.replace("postgresql+asyncpg://", "postgresql://"),
            "WALLET_SCHEDULER": "0",
        }
        self.env.pop("WALLET_REDIS_URL", None)
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [WALLET, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base) as c:
            for _ in range(600):
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get("/health")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tracebacks(self) -> str:
        """Everything the server logged about unhandled errors."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if "Traceback" in text else ""

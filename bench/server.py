"""Start the real ``wallet serve`` as a subprocess, wait until it answers, stop it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WALLET = REPO / ".venv" / "bin" / "wallet"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """The process and every process below it (from /proc; for CPU accounting)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class Server:
    """``wallet serve --host 127.0.0.1 --port <free>`` with ``WALLET_DATABASE_URL`` set.

    Use as a context manager: the process (and its workers: it runs in its own process group)
    is stopped on exit, also when the benchmark fails.
    """

    def __init__(
        self,
        database_url: str,
        *,
        log_path: Path,
        wallet: Path = DEFAULT_WALLET,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
        start_timeout: float = 90.0,
        serve_args: list[str] | None = None,
        wrapper: list[str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.wallet = wallet
        self.workers = workers
        self.extra_env = extra_env or {}
        self.start_timeout = start_timeout
        self.serve_args = serve_args or []
        self.wrapper = wrapper or []  # e.g. a profiler: py-spy record -o ... --
        # Another ASGI server command instead of `wallet serve` (it gets --port): bench.floor.
        self.command = command
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._log: IO[bytes] | None = None

    @property
    def wallet_app(self) -> bool:
        """``wallet serve``, not another command (bench.floor's)."""
        return self.command is None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env, "WALLET_DATABASE_URL": self.database_url}

    def start(self) -> None:
        env = self._env()
        if self.command is not None:
            cmd = [*self.command, "--port", str(self.port)]
        else:
            cmd = [str(self.wallet), "serve", "--host", HOST, "--port", str(self.port)]
            if self.workers != 1:
                cmd += ["--workers", str(self.workers)]
        self._spawn(self.wrapper + cmd + self.serve_args, env)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, cmd: list[str], env: dict[str, str]) -> None:
        """Start ``cmd`` in a process group of its own, its output appended to the log."""
        self._log = self.log_path.open("ab")
        self._log.write(f"\n$ {' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            start_new_session=True,
        )

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"wallet serve exited with {self.proc.returncode} before answering "
                    f"(log: {self.log_path}):\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError(f"wallet serve did not answer /health in {self.start_timeout} s: {last}")

    def pids(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT (uvicorn's graceful stop), then SIGTERM, then SIGKILL, to our group only."""
        proc, self.proc = self.proc, None
        code: int | None = None
        if proc is not None:
            for sig, wait in (
                (signal.SIGINT, timeout),
                (signal.SIGTERM, 5.0),
                (signal.SIGKILL, 5.0),
            ):
                if proc.poll() is not None:
                    break
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
            code = proc.poll()
            self.exit_code = code
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


class Worker(Server):
    """``wallet worker`` (the scheduler and the outbox dispatcher, no HTTP) beside a server
    started with ``--web-only``: the shape a county runs (deploy/systemd: web processes and
    one worker). Started when its log says it runs; stopped like the server."""

    def start(self) -> None:
        self._spawn([*self.wrapper, str(self.wallet), "worker"], self._env())
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while "worker running" not in self.log_tail():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"wallet worker did not start (log: {self.log_path}):\n{tail}")
            time.sleep(0.2)

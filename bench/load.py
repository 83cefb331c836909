"""(b, c) The HTTP charge load: ``POST /api/charges`` from C keep-alive connections.

Two modes, both bounded in time and in count:

* **closed loop** (``rate=None``): C workers, each sends its next charge as soon as the last one
  is answered. Measures the most captured charges per second the server sustains.
* **open loop** (``rate=R``): charges are *scheduled* at a fixed rate of R per second whatever
  the server does, and handed to the C connections; a charge's latency runs from its scheduled
  time, so queueing behind a slow server counts (no coordinated omission, as in wrk2).

The client is a small HTTP/1.1 keep-alive client on raw asyncio streams rather than httpx: on a
2-core machine that also runs the server and the database, the load generator's own CPU is
taken from them, so it is kept as cheap as possible (its use is reported).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.stats import latency_summary_ms

REQUEST_TIMEOUT_S = 30.0
MAX_RESPONSE_BYTES = 1 << 20


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects after ``Connection: close`` or errors."""

    timeout_s = REQUEST_TIMEOUT_S  # for one request, from sending to the answer's end

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        """Send one request and read its answer; TimeoutError after :attr:`timeout_s`.

        After an error or a timeout the connection is closed (its late answer must never be
        read as the next request's) and the next request opens a new one."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if self.writer is None:
                    await self._open()
                assert self.reader is not None and self.writer is not None
                self.writer.write(head + body)
                status, keep, payload = await self._read_response(self.reader)
        except (OSError, asyncio.IncompleteReadError, HttpError, ValueError):  # TimeoutError too
            await self.close()
            raise
        if not keep:
            await self.close()
        return status, payload

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers expected
                    break
                total += size
                if total > MAX_RESPONSE_BYTES:
                    raise HttpError("response too large")
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return status, keep, b"".join(chunks)
        length = int(headers.get("content-length", "0"))
        if length > MAX_RESPONSE_BYTES:
            raise HttpError("response too large")
        return status, keep, await reader.readexactly(length) if length else b""


@dataclass
class ChargeLoad:
    """What to send: random (or one hot) provider key, random client phone."""

    host: str
    port: int
    provider_keys: list[str]
    phones: list[str]
    hot_provider: bool = False
    unit_price_cents: int = 3500
    category: str = "siivous"
    seed: int = 1
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._host_header = f"{self.host}:{self.port}"

    def next_request(self) -> tuple[bytes, bytes]:
        key = self.provider_keys[0] if self.hot_provider else self.rng.choice(self.provider_keys)
        body = json.dumps(
            {
                "phone": self.rng.choice(self.phones),
                "lines": [
                    {
                        "category": self.category,
                        "quantity": "1",
                        "unit_price_cents": self.unit_price_cents,
                    }
                ],
            },
            separators=(",", ":"),
        ).encode()
        head = (
            f"POST /api/charges HTTP/1.1\r\n"
            f"Host: {self._host_header}\r\n"
            f"Authorization: Bearer {key}\r\n"
            f"Idempotency-Key: {uuid.uuid4()}\r\n"
            f"Content-Type: application/json\r\n"
            f"Accept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head, body


@dataclass
class _Sample:
    scheduled: float
    started: float
    ended: float
    status: int | str  # HTTP status, or an error name
    detail: bytes | None = None  # the body of a refusal, to show an example


async def _send(conn: Connection, load: ChargeLoad, scheduled: float) -> _Sample:
    head, body = load.next_request()
    started = time.monotonic()
    detail: bytes | None = None
    try:
        status, payload = await conn.request(head, body)
        result: int | str = status
        if status == 201 and b'"captured"' not in payload:
            result = "201-not-captured"
        if result != 201:
            detail = payload[:500]
    except TimeoutError:  # before OSError, its base class; the connection is closed
        result = "timeout"
    except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
        result = type(exc).__name__
        detail = str(exc)[:500].encode()
    return _Sample(scheduled, started, time.monotonic(), result, detail)


async def run_load(
    load: ChargeLoad,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    rate: float | None = None,
    max_requests: int = 2_000_000,
) -> dict[str, Any]:
    """Run the load for ``warmup + duration`` seconds and measure the last ``duration``."""
    conns = [Connection(load.host, load.port) for _ in range(concurrency)]
    samples: list[_Sample] = []
    t0 = time.monotonic()
    measure_from = t0 + warmup
    end = measure_from + duration
    if rate is None:

        async def closed_worker(conn: Connection) -> None:
            while time.monotonic() < end and len(samples) < max_requests:
                now = time.monotonic()
                s = await _send(conn, load, now)
                samples.append(s)
                if isinstance(s.status, str):
                    await asyncio.sleep(0.05)  # do not spin on a dead server

        tasks = [asyncio.create_task(closed_worker(c)) for c in conns]
    else:
        queue: asyncio.Queue[float] = asyncio.Queue()
        interval = 1.0 / rate
        total = min(int((warmup + duration) * rate), max_requests)

        async def dispatcher() -> None:
            for i in range(total):
                at = t0 + i * interval
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait(at)

        async def open_worker(conn: Connection) -> None:
            while True:
                at = await queue.get()
                if time.monotonic() > end + REQUEST_TIMEOUT_S:
                    queue.task_done()
                    continue  # far too late: drop, counted as not sent
                samples.append(await _send(conn, load, at))
                queue.task_done()

        tasks = [asyncio.create_task(open_worker(c)) for c in conns]
        tasks.append(asyncio.create_task(dispatcher()))

    try:
        if rate is None:
            await asyncio.wait_for(
                asyncio.gather(*tasks), warmup + duration + 2 * REQUEST_TIMEOUT_S
            )
        else:
            await asyncio.wait_for(tasks[-1], warmup + duration + 5)
            await asyncio.wait_for(queue.join(), 2 * REQUEST_TIMEOUT_S)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in conns:
            await c.close()

    # Closed loop: what completed inside the window. Open loop: what was scheduled in it.
    if rate is None:
        window = [s for s in samples if measure_from <= s.ended <= end]
        latencies = [s.ended - s.started for s in window if s.status == 201]
    else:
        window = [s for s in samples if measure_from <= s.scheduled < end]
        latencies = [s.ended - s.scheduled for s in window if s.status == 201]
    statuses = Counter(str(s.status) for s in window)
    captured = statuses.get("201", 0)
    out: dict[str, Any] = {
        "mode": "closed" if rate is None else "open",
        "concurrency": concurrency,
        "target_rate": rate,
        "duration_s": duration,
        "warmup_s": warmup,
        "charges_per_s": round(captured / duration, 1),
        "captured": captured,
        "requests": len(window),
        "statuses": dict(sorted(statuses.items())),
        "error_rate": round(1 - captured / len(window), 4) if window else None,
        "all_requests": len(samples),
        "all_captured": sum(1 for s in samples if s.status == 201),
        "connections_opened": sum(c.connects for c in conns),
    }
    if rate is not None:
        late = [s.started - s.scheduled for s in window]
        out["max_start_lag_ms"] = round(max(late) * 1000, 2) if late else None
        scheduled = sum(1 for i in range(total) if measure_from <= t0 + i * interval < end)
        out["not_sent"] = scheduled - len(window)  # dropped as far too late, or cut off
    examples: dict[str, str] = {}
    for s in samples:
        if s.status != 201 and str(s.status) not in examples:
            examples[str(s.status)] = (s.detail or b"").decode("utf-8", "replace")
    if examples:
        out["error_examples"] = examples
    out.update(latency_summary_ms(latencies))
    return out

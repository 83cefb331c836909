"""``bench.load.Connection``, the benchmarks' HTTP/1.1 client: a request that times out closes
its connection, so its late answer is never read as the next request's."""

from __future__ import annotations

import asyncio

from bench.load import Connection

REQUEST = b"POST /api/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n", b"{}"


async def test_a_timed_out_request_never_lends_its_answer_to_the_next() -> None:
    served = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)
                served += 1
                body = b"first" if served == 1 else b"second"
                if served == 1:
                    await asyncio.sleep(0.5)  # slower than the client waits
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = Connection("127.0.0.1", port)
    conn.timeout_s = 0.2
    try:
        async with asyncio.timeout(5):  # a client without its own timeout fails, not hangs
            try:
                await conn.request(*REQUEST)
            except TimeoutError:
                pass
            else:
                raise AssertionError("the slow answer should have timed out")
            await asyncio.sleep(0.5)  # the first answer is sent meanwhile
            assert await conn.request(*REQUEST) == (201, b"second")
        assert conn.connects == 2  # the timed-out connection was not reused
    finally:
        await conn.close()
        server.close()
        await server.wait_closed()

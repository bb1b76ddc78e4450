"""A TCP proxy that adds a fixed round-trip latency, for the object storage area.

A server on 127.0.0.1 answers in well under a millisecond of network time,
so it shows what a client costs but hides what concurrency is for: real
object storage answers each request after tens of milliseconds on the
wire.  Put between a client and a local server, this proxy holds every chunk
of bytes for half the round trip in each direction, so a request and its
answer take ``rtt_ms`` longer, whatever else is in flight -- latency, not a
bandwidth limit.  Chunks keep their order on each connection.

Run it as ``python -m benchmarks.latency LISTEN_PORT TARGET_PORT RTT_MS``;
it prints ``ready`` once it listens and serves until killed.

>>> import asyncio
>>> async def echo_once(rtt_ms: float) -> float:
...     async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
...         w.write(await r.read(100)); await w.drain(); w.close()
...     server = await asyncio.start_server(echo, '127.0.0.1', 0)
...     target = server.sockets[0].getsockname()[1]
...     proxy = await start_proxy(0, target, rtt_ms)
...     port = proxy.sockets[0].getsockname()[1]
...     loop = asyncio.get_running_loop()
...     r, w = await asyncio.open_connection('127.0.0.1', port)
...     start = loop.time()
...     w.write(b'ping'); await w.drain()
...     assert await r.read(100) == b'ping'
...     took = loop.time() - start
...     w.close(); await w.wait_closed()
...     await asyncio.sleep(rtt_ms / 500)  # the proxy sees the end too
...     proxy.close(); server.close()
...     await proxy.wait_closed(); await server.wait_closed()
...     return took
>>> 0.04 <= asyncio.run(echo_once(40)) < 0.4
True
"""

from __future__ import annotations

import asyncio
import sys
from typing import Optional

_CHUNK = 1 << 16


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds late."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, Optional[bytes]]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(_CHUNK)
            queue.put_nowait((loop.time() + delay, data or None))
            if not data:
                break
    except (ConnectionError, OSError):
        queue.put_nowait((loop.time(), None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def start_proxy(listen_port: int, target_port: int,
                      rtt_ms: float) -> asyncio.base_events.Server:
    """Listen on 127.0.0.1:``listen_port`` (0: any free port) and forward
    each connection to 127.0.0.1:``target_port``, ``rtt_ms`` later per
    round trip."""
    half = rtt_ms / 2000

    async def serve(reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                '127.0.0.1', target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer, half),
                             _pump(up_reader, writer, half))

    return await asyncio.start_server(serve, '127.0.0.1', listen_port)


async def _main(listen_port: int, target_port: int, rtt_ms: float) -> None:
    server = await start_proxy(listen_port, target_port, rtt_ms)
    print('ready', flush=True)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    listen, target, rtt = sys.argv[1:4]
    asyncio.run(_main(int(listen), int(target), float(rtt)))

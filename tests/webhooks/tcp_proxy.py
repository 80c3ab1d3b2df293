"""A TCP forwarder in front of the Temporal dev server, so a test can take Temporal away and bring
it back without touching the server the rest of the suite uses.

`down()`: existing connections are cut and new ones refused at once. `hang()`: connections are
accepted and never answered (a Temporal that is slow, not gone). `up()`: forwarding again (stuck connections are reset).
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._mode = "up"
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def up(self) -> None:
        if self._mode == "hang":
            self._cut()  # as a recovering server resets its stuck connections
        self._mode = "up"

    def down(self) -> None:
        self._mode = "down"
        self._cut()

    def hang(self) -> None:
        self._mode = "hang"
        self._cut()

    def _cut(self) -> None:
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "down":
            writer.close()
            return
        self._writers.add(writer)
        if self._mode == "hang":
            with contextlib.suppress(Exception):
                await reader.read()  # hold it open, answer nothing
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

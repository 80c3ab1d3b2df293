"""One HTTP answer of a file server, its body read by a worker thread straight into our buffer.

Why not httpx here: a recording body is gigabytes, and httpx/h11 spend Python work on every
socket read on the event loop, which held downloads at a fraction of curl's speed
(bench/README.md#downloads). The stdlib's http.client reads a body with `readinto`, which loops
over `recv_into` in C with the GIL released, so the bytes land in a reused buffer with no copy
and no Python per socket read. Only a single request/answer lives here; which URLs may be asked
for, and the redirect hops, are zoom/download_urls.py's.

A blocked read cannot be cancelled from asyncio, so a cancel shuts the socket down: the read in
the thread returns at once and the caller waits for it before it reuses the buffer.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
from concurrent.futures import Executor

import httpx

REDIRECTS = (301, 302, 303, 307, 308)
_TLS = ssl.create_default_context()


class DownloadConnectionLost(Exception):
    """The connection failed or dropped (connect, request or body): the download resumes."""


class DownloadResponse:
    """`status_code` and `headers` (case-insensitive `get`) as httpx names them; the body through
    `readinto`. Timeouts are per socket operation, as httpx's read timeout is."""

    def __init__(self, conn: http.client.HTTPConnection, answer: http.client.HTTPResponse,
                 executor: Executor) -> None:
        self._conn, self._answer, self._executor = conn, answer, executor
        self.status_code: int = answer.status
        self.headers = answer.msg

    @classmethod
    async def get(cls, url: str, headers: dict[str, str], *, connect_timeout: float,
                  read_timeout: float, executor: Executor) -> "DownloadResponse":
        # Parsed as zoom/download_urls.py's checks parse it, so both see the same host.
        parsed = httpx.URL(url)
        host, target = parsed.raw_host.decode("ascii"), parsed.raw_path.decode("ascii")
        if parsed.scheme == "https":
            conn = http.client.HTTPSConnection(host, parsed.port, timeout=connect_timeout, context=_TLS)
        else:
            conn = http.client.HTTPConnection(host, parsed.port, timeout=connect_timeout)
        # No Accept-Encoding means any coding at some servers; the file is wanted as it is.
        sent = {"Accept-Encoding": "identity", **headers}

        def request() -> http.client.HTTPResponse:
            conn.connect()
            conn.sock.settimeout(read_timeout)
            conn.request("GET", target, headers=sent)
            return conn.getresponse()

        running = asyncio.get_running_loop().run_in_executor(executor, _lost_on_error, request)
        try:
            answer = await asyncio.shield(running)
        except asyncio.CancelledError:
            # Nothing of ours is in use by the thread: let it end on its own, closed.
            running.add_done_callback(lambda done: _discard(done, conn))
            _shutdown(conn)
            raise
        except BaseException:
            conn.close()
            raise
        return cls(conn, answer, executor)

    @property
    def is_redirect(self) -> bool:
        return self.status_code in REDIRECTS and self.headers.get("location") is not None

    async def readinto(self, buffer: memoryview) -> int:
        """Fill `buffer` from the body (fewer bytes only where the body ends); 0 once it has."""
        reading = asyncio.get_running_loop().run_in_executor(self._executor, _lost_on_error,
                                                             self._fill, buffer)
        try:
            return await asyncio.shield(reading)
        except asyncio.CancelledError:
            _shutdown(self._conn)  # the blocked recv returns now; the buffer is free once it has
            await asyncio.gather(reading, return_exceptions=True)
            raise

    def _fill(self, buffer: memoryview) -> int:
        filled = 0
        while filled < len(buffer):
            n = self._answer.readinto(buffer[filled:])
            if not n:
                break
            filled += n
        return filled

    def close(self) -> None:
        self._conn.close()


def _lost_on_error(fn, *args):
    try:
        return fn(*args)
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, TLS, bad framing
        raise DownloadConnectionLost(f"{type(exc).__name__}: {exc}"[:200]) from None


def _discard(done: asyncio.Future, conn: http.client.HTTPConnection) -> None:
    if not done.cancelled():
        done.exception()  # retrieved: nobody waits for this answer any more
    conn.close()


def _shutdown(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

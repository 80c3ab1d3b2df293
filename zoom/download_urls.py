"""Which URLs a recording download may fetch: Zoom's file servers only, checked on every hop.

A recording's `download_url` comes from a webhook payload (signed, but a signature proves who
sent it, not that the URL is sane) or from Zoom's recording list, and it is fetched with the
download token as a bearer. So before the first request and before each redirect hop the URL
must be `https` on one of the configured Zoom download hosts (a listed domain or a subdomain of
it, default port), or have exactly the origin (scheme, host, port) of ZOOM_OAUTH_BASE_URL or
ZOOM_API_BASE_URL (so the emulator or a stand-in on loopback keeps working). A host on the list
must also resolve only to public addresses: private, loopback, link-local, multicast, reserved or
unspecified ones are refused after DNS resolution (docs/zoom.md#recording-download-urls).

What this does not stop: DNS answering a public address here and a private one at connect time
(rebinding); closing that needs the connection pinned to the checked address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator
from urllib.parse import urljoin

import httpx

from zoom.download_stream import DownloadResponse

MAX_REDIRECTS = 5
DEFAULT_DOWNLOAD_HOSTS = ("zoom.us", "zoomgov.com")


class DownloadUrlRefused(Exception):
    """This URL is not one of Zoom's file servers; the message says why (no token in it)."""


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host.lower(), port


@dataclass(frozen=True)
class DownloadUrlPolicy:
    hosts: tuple[str, ...]
    trusted_origins: frozenset[tuple[str, str, int]]

    @classmethod
    def from_settings(cls, settings) -> "DownloadUrlPolicy":
        origins = frozenset(_origin(httpx.URL(u)) for u in (settings.zoom_oauth_base_url,
                                                            settings.zoom_api_base_url))
        return cls(tuple(settings.zoom_download_hosts), origins)

    def _on_zoom_host(self, host: str) -> bool:
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    async def check(self, raw: str) -> None:
        """Return if `raw` may be fetched; DownloadUrlRefused otherwise."""
        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise DownloadUrlRefused("the download URL is not a valid URL") from None
        if not url.host:
            raise DownloadUrlRefused("the download URL has no host")
        if _origin(url) in self.trusted_origins:
            return
        host = url.host.lower().rstrip(".")
        if url.scheme != "https":
            raise DownloadUrlRefused(f"the download URL is not https ({url.scheme}://{host})")
        if url.port not in (None, 443) or not self._on_zoom_host(host):
            raise DownloadUrlRefused(f"{host} is not one of Zoom's download hosts")
        try:
            ipaddress.ip_address(host)
            raise DownloadUrlRefused(f"{host} is an IP address, not one of Zoom's download hosts")
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise DownloadUrlRefused(f"{host} does not resolve") from None
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if not address.is_global or address.is_multicast:
                raise DownloadUrlRefused(f"{host} resolves to a non-public address ({address})")


@asynccontextmanager
async def open_download(url: str, headers: dict[str, str], *, connect_timeout: float,
                        read_timeout: float, policy: DownloadUrlPolicy, executor: Executor
                        ) -> AsyncIterator[DownloadResponse]:
    """GET `url` (zoom/download_stream.py), following redirects by hand so each hop is checked
    first; the reads of each hop run on `executor`.

    The Authorization header goes only to the origin it was meant for (as httpx does itself):
    a redirect to another host gets the request without it."""
    current, sent = url, dict(headers)
    first_origin = None
    for _ in range(MAX_REDIRECTS + 1):
        await policy.check(current)
        origin = _origin(httpx.URL(current))
        first_origin = first_origin or origin
        if origin != first_origin:
            sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
        response = await DownloadResponse.get(current, sent, connect_timeout=connect_timeout,
                                              read_timeout=read_timeout, executor=executor)
        if response.is_redirect:
            response.close()
            current = urljoin(current, response.headers["location"])
            continue
        try:
            yield response
        finally:
            response.close()
        return
    raise DownloadUrlRefused(f"more than {MAX_REDIRECTS} redirects")

"""HTTP API and Zoom webhook intake (aiohttp)."""

"""What the HTTP client to Zoom needs installed to stay cheap per request (pyproject.toml)."""

from __future__ import annotations

import builtins

import httpcore._synchronization as httpcore_sync


async def test_httpcore_learns_the_event_loop_without_a_failed_import(monkeypatch):
    """Without sniffio, httpcore's every ask is an import that fails after searching sys.path."""
    failed: list[str] = []
    real_import = builtins.__import__

    def recording_import(name, *args, **kwargs):
        try:
            return real_import(name, *args, **kwargs)
        except ImportError:
            failed.append(name)
            raise

    monkeypatch.setattr(builtins, "__import__", recording_import)
    assert httpcore_sync.current_async_library() == "asyncio"
    assert failed == []

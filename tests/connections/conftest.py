"""Fixtures of the connection tests: faults injected into the shared emulator never outlive a test."""

from __future__ import annotations

import pytest_asyncio


@pytest_asyncio.fixture(autouse=True)
async def _clean_emulator_faults(emulator):
    yield
    await emulator.control.clear_faults()

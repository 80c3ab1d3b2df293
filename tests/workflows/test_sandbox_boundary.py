"""The sandbox boundary: no file in workflows/ imports an I/O library or the service's own I/O code.

Workflow code is replayed deterministically inside Temporal's sandbox; httpx, cryptography and the
database drivers break it (docs/architecture.md#boundaries). One check over every file, so a new
workflow file is covered the day it is added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.py"))
IO_LIBRARIES = {"httpx", "aiohttp", "cryptography", "sqlalchemy", "sqlmodel", "asyncpg", "redis",
                "alembic", "prometheus_client", "socket", "subprocess"}
# The service's own top-level packages and modules, except workflows/ itself: all of them reach
# the database, Redis, Zoom or the disk, directly or through what they import.
FIRST_PARTY = ({p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
               | {p.stem for p in ROOT.glob("*.py")}) - {"workflows"}


def forbidden_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        else:
            continue
        found += [m for m in modules if m.split(".")[0] in IO_LIBRARIES | FIRST_PARTY]
    return found


def test_every_workflow_file_is_checked():
    names = {p.name for p in WORKFLOW_FILES}
    assert {"booking.py", "recordings.py", "token_refresh.py", "contract.py"} <= names
    assert {"activities", "models", "connections", "zoom", "services"} <= FIRST_PARTY


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_file_imports_no_io(path: Path):
    assert forbidden_imports(path.read_text()) == [], f"{path.name} imports I/O code"


@pytest.mark.parametrize("line", [
    "import httpx", "from sqlalchemy import select", "import redis.asyncio as redis",
    "from activities.token_refresh import SweepPage", "from connections.tokens import TokenManager",
    "from models import Booking",
    "from temporalio import workflow\nwith workflow.unsafe.imports_passed_through():\n    import activities\n",
])
def test_the_check_catches_each_kind_of_io_import(line: str):
    assert forbidden_imports(line)

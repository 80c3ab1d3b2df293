"""Activities: everything that touches Zoom, the database, Redis or the disk."""

from __future__ import annotations


def build_activities(services) -> list:
    """Every activity callable, bound to this process's services."""
    return []

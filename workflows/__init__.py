"""Workflow definitions only: deterministic code that imports no I/O library."""

WORKFLOWS: list[type] = []

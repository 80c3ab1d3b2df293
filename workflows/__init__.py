"""Workflow definitions only: deterministic code that imports no I/O library."""

from workflows.token_refresh import TokenRefreshWorkflow
from workflows.booking import IdiBookingWorkflow

WORKFLOWS: list[type] = [TokenRefreshWorkflow, IdiBookingWorkflow]

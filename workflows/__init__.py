"""Workflow definitions only: deterministic code that imports no I/O library.

The worker registers the workflows (worker.py); the activities they call are named by the stubs in
`*_activities.py` and implemented in activities/. tests/workflows/test_sandbox_boundary.py keeps
every file here free of I/O imports.
"""

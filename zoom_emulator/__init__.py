"""A stand-in for Zoom's OAuth, REST API, webhooks and recording files, for dev, demos and tests.

It talks to the service only over HTTP and imports nothing from the rest of the repository.
Run it alone with `python -m zoom_emulator --port 9090`; in tests use `zoom_emulator.testing`.
See README.md beside this file.
"""

from .app import create_app
from .files import expected_sha256, file_bytes, file_key

__all__ = ["create_app", "expected_sha256", "file_bytes", "file_key"]

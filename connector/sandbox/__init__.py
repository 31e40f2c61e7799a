"""Emulators of the upstream APIs the connector talks to; today the Corbital v1 tenant API.

`create_app()` is the Flask factory (`flask --app connector.sandbox run`), `SandboxServer` runs it
on a free local port for tests, and `python -m connector.sandbox` runs it standalone.
Standalone on purpose: nothing here imports the rest of `connector`.
"""

from connector.sandbox.app import create_app
from connector.sandbox.server import SandboxServer
from connector.sandbox.state import ALL_ABILITIES, Store

__all__ = ["ALL_ABILITIES", "SandboxServer", "Store", "create_app"]

"""Imports every model module so `Base.metadata` is complete (Alembic, tests, table cleanup).

Each feature adds its own models module here: one line each, no other side effects.
"""

from connector.store import (
    activity,  # noqa: F401
    models,  # noqa: F401
    push_models,  # noqa: F401
    sync_models,  # noqa: F401
    trigger_models,  # noqa: F401
    workflow_models,  # noqa: F401
)

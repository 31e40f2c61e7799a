"""Imports every model module so `Base.metadata` is complete (Alembic, tests, table cleanup).

Each feature adds its own models module here: one line each, no other side effects.
"""

from connector.store import models  # noqa: F401
from connector.store import activity  # noqa: F401

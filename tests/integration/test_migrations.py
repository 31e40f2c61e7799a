"""The Alembic migrations create exactly the tables the models describe."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connector.store import all_models  # noqa: F401 - every table
from connector.store.db import Database
from connector.store.models import Base


def test_models_and_migrations_agree(database_url: str) -> None:
    db = Database(database_url)
    with db.engine.connect() as conn:
        diff: list[Any] = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []

"""Alembic environment: the URL comes from the caller (`connector.store.migrate`) or settings."""

from alembic import context

from connector.config import Settings
from connector.store import all_models  # noqa: F401 - registers every table
from connector.store.db import Database
from connector.store.models import Base

config = context.config
url = config.attributes.get("database_url") or Settings.from_env().resolved_database_url
database = Database(url)

with database.engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=database.is_sqlite)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
database.dispose()

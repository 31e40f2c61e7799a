"""Run Alembic migrations programmatically (start-up, CLI and tests share this)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Upgrade to every head: features add revisions branching from the foundation."""
    command.upgrade(alembic_config(database_url), revision)

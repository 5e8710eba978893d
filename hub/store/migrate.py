"""The event store's schema, kept by Alembic migrations (``hub/store/migrations/versions``).

Every node brings the store to the newest revision when it opens the log, inside the same
transaction that first takes the append lock on PostgreSQL: nodes that start together migrate
once, one after the other finding nothing left to do. A store made before migrations existed
(its tables created directly) needs nothing special: the first revision creates only the tables
and indexes that are missing, and from then on Alembic's ``alembic_version`` says where it is.

A new revision: ``.venv/bin/alembic -c hub/store/alembic.ini revision -m "what changes"``, then
write its ``upgrade`` (and ``downgrade``) by hand; ``tests/hub/test_migrations.py`` checks that
the revisions build exactly the tables the code declares, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
"""Alembic's script directory (``env.py`` and ``versions/``), shipped with the package."""


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations, on ``conn`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head() -> str:
    """The newest revision."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def current(conn: Connection) -> str | None:
    """The revision the store at ``conn`` is at (None: never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()


def migrate(conn: Connection) -> str:
    """Bring the store to the newest revision within the caller's transaction; the revision."""
    before = current(conn)
    target = head()
    if before != target:
        command.upgrade(alembic_config(conn), "head")
        logger.info("event store: migrated from %s to %s", before or "nothing", target)
    return target

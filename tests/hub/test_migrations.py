"""The store's schema comes from its Alembic migrations, on SQLite and on PostgreSQL: exactly the
tables the code declares, an older hub's store brought up to date without losing a row, and nodes
starting together migrating once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import hub.app  # noqa: F401  (every module that declares a table)
from hub.store.bus import EventBus
from hub.store.eventlog import EventLog, metadata, sync_url
from hub.store.migrate import current, head


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


def differences(url: str) -> list[Any]:
    """What the store's schema lacks or has beyond the tables the code declares."""
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_object": lambda obj, name, kind, *_: not (kind == "table" and name == "alembic_version")
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def revision(url: str) -> tuple[str | None, int]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one()
            return current(conn), int(rows)
    finally:
        engine.dispose()


async def opened_and_closed(url: str) -> None:
    log = EventLog(url, EventBus())
    await log.open()
    await log.aclose()


async def test_a_new_store_is_exactly_the_declared_tables(store_url: str) -> None:
    await opened_and_closed(store_url)
    assert await asyncio.to_thread(differences, store_url) == []
    assert await asyncio.to_thread(revision, store_url) == (head(), 1)
    await opened_and_closed(store_url)  # opened again: nothing to do
    assert await asyncio.to_thread(revision, store_url) == (head(), 1)


async def test_an_older_hubs_store_is_brought_up_to_date_and_keeps_its_rows(store_url: str) -> None:
    # As an earlier hub left it: tables created directly, one table and one index it never had,
    # and none of the tables that later revisions add (the camera leases).
    engine = sa.create_engine(sync_url(store_url))
    try:
        with engine.begin() as conn:
            older = [t for t in metadata.sorted_tables if t.name not in ("instruction_templates", "camera_leases")]
            metadata.create_all(conn, tables=older)
            conn.execute(sa.text("DROP INDEX ix_person_track_at"))
            conn.execute(
                sa.text(
                    "INSERT INTO events (id, ts, type, subject, actor, grid, data) "
                    "VALUES (1, 1.0, 'hub.started', 'hub', 'system', NULL, '{}')"
                )
            )
    finally:
        engine.dispose()
    log = EventLog(store_url, EventBus())
    await log.open()
    try:
        assert log.last_id == 1
        assert [e.type for e in await log.read(0, 10)] == ["hub.started"]
    finally:
        await log.aclose()
    assert await asyncio.to_thread(differences, store_url) == []
    assert await asyncio.to_thread(revision, store_url) == (head(), 1)


async def test_nodes_starting_together_migrate_once(pg_url: str) -> None:
    await asyncio.gather(*(opened_and_closed(pg_url) for _ in range(3)))
    assert await asyncio.to_thread(revision, pg_url) == (head(), 1)
    assert await asyncio.to_thread(differences, pg_url) == []

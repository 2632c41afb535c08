"""Opening the registry database and keeping its schema current."""
from __future__ import annotations

from playhouse.db_url import connect

from api.core import migrations
from api.core.models import db


def open_database(url: str):
    """Bind the models to the database at `url` and bring its schema up to date.

    SQLite gets WAL and a busy timeout because the API, the framework and the
    orchestrator write from several threads of one process.
    """
    if url.startswith("sqlite"):
        database = connect(url, pragmas={
            "journal_mode": "wal", "busy_timeout": 15000, "foreign_keys": 1,
            "synchronous": "normal"}, check_same_thread=False)
    else:
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        # Prepared statements (api/core/compiled.py) keep one plan, made once: without
        # this PostgreSQL plans afresh on each of their first runs, and on every run of
        # those whose generic plan it guesses dearer (a page's members, issue 13).
        database = connect(url, options="-c plan_cache_mode=force_generic_plan")
    db.initialize(database)
    database.connect(reuse_if_open=True)
    migrations.migrate(database)
    return database

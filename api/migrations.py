"""Schema migrations, applied in order at start-up.

Each entry moves the schema one version forward; the applied version is kept in
the `schema_version` table. Add new steps at the end (use playhouse.migrate for
column changes) and never edit a released one.
"""
from __future__ import annotations

from peewee import IntegerField, Model

from .models import ALL_MODELS


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        table_name = "schema_version"


def _initial(database) -> None:
    database.create_tables(ALL_MODELS)


STEPS = [_initial]


def migrate(database) -> int:
    """Apply the pending steps; returns the schema version now in force."""
    with SchemaVersion.bind_ctx(database):
        database.create_tables([SchemaVersion])
        with database.atomic():
            row = SchemaVersion.select().first()
            current = row.version if row else 0
            for number, step in enumerate(STEPS[current:], start=current + 1):
                step(database)
                current = number
            if row is None:
                SchemaVersion.create(version=current)
            else:
                SchemaVersion.update(version=current).execute()
        return current

"""Schema migrations, applied in order at start-up.

Each entry moves the schema one version forward; the applied version is kept in
the `schema_version` table. Add new steps at the end (use playhouse.migrate for
column changes) and never edit a released one.
"""
from __future__ import annotations

from peewee import IntegerField, Model, PostgresqlDatabase

from api.core.models import ALL_MODELS


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        table_name = "schema_version"


def _initial(database) -> None:
    database.create_tables(ALL_MODELS)


def _product_image_hash(database) -> None:
    """Product.image_hash: the image/ directory a product was loaded with."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as apply

    from api.core.models import Product
    columns = {c.name for c in database.get_columns(Product._meta.table_name)}
    if "image_hash" not in columns:
        apply(SchemaMigrator.from_database(database).add_column(
            Product._meta.table_name, "image_hash", Product.image_hash))


STEPS = [_initial, _product_image_hash]
MIGRATION_LOCK = 0x62647001  # any constant shared by every bdp process


def migrate(database) -> int:
    """Apply the pending steps; returns the schema version now in force."""
    with SchemaVersion.bind_ctx(database):
        with database.atomic():
            if isinstance(database, PostgresqlDatabase):
                # api, framework and orchestrator may start together on an empty
                # database: one migrates, the others wait here and find it done.
                database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            database.create_tables([SchemaVersion])
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

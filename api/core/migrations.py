"""Schema migrations, applied in order at start-up.

Each entry moves the schema one version forward; the applied version is kept in
the `schema_version` table. Add new steps at the end (use playhouse.migrate for
column changes) and never edit a released one.
"""
from __future__ import annotations

from peewee import SQL, IntegerField, Model, PostgresqlDatabase
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as apply

from api.core import stamps
from api.core.models import (
    ALL_MODELS,
    Address,
    Cluster,
    ClusterDocument,
    ClusterStamp,
    Host,
    Job,
    JSONField,
    Lease,
    Network,
    Product,
    Quota,
    Segment,
)


class SchemaVersion(Model):
    version = IntegerField()

    class Meta:
        table_name = "schema_version"


def _initial(database) -> None:
    database.create_tables(ALL_MODELS)


def _add_column(database, model, field) -> None:
    """Add `field` to `model`'s table unless it has it (a database created by `_initial`
    at this version already does)."""
    table = model._meta.table_name
    if field.column_name not in {c.name for c in database.get_columns(table)}:
        apply(SchemaMigrator.from_database(database).add_column(table, field.column_name, field))


def _product_privileges(database) -> None:
    """Products say which container privileges their nodes may have (issue 11)."""
    _add_column(database, Product, Product.privileges)


def _leases_and_documents_apart(database) -> None:
    """Leases and rendered documents leave the cluster row (issue 11): SQLite rewrites a
    whole row on any UPDATE, and a lease changes on every controller pass."""
    database.create_tables([ClusterDocument, Lease], safe=True)
    table = Cluster._meta.table_name
    columns = {c.name for c in database.get_columns(table)}
    if "document" in columns:
        rows = database.execute_sql(f'SELECT "id", "document" FROM "{table}"').fetchall()
        decode = JSONField().python_value
        for start in range(0, len(rows), 500):
            ClusterDocument.insert_many(
                [{"cluster": cid, "document": decode(doc) or {}} for cid, doc in rows[start:start + 500]]
            ).on_conflict_ignore().execute()
    stale = [c for c in ("document", "lease_owner", "lease_expires") if c in columns]
    if stale:
        migrator = SchemaMigrator.from_database(database)
        apply(*[migrator.drop_column(table, c) for c in stale])


def _product_image_hash(database) -> None:
    """Product.image_hash: the image/ directory a product was loaded with (issue 16)."""
    _add_column(database, Product, Product.image_hash)


# Issue 17 (several hosts).
def _add_columns(database, model, *fields) -> None:
    """Add each field missing from `model`'s table. A NOT NULL one gets its default as the
    column's own DEFAULT in the ALTER TABLE: playhouse otherwise adds it nullable and then
    rebuilds the table to make it NOT NULL, and on SQLite dropping the old table deletes
    the rows that reference it ON DELETE CASCADE (seen: every cluster lost its rendered
    document when Cluster.health was added)."""
    table = model._meta.table_name
    have = {c.name for c in database.get_columns(table)}
    migrator = SchemaMigrator.from_database(database)
    for f in fields:
        if f.column_name in have:
            continue
        if f.null:
            apply(migrator.add_column(table, f.column_name, f))
            continue
        column = f.clone()
        default = f.default() if callable(f.default) else f.default
        column.constraints = [SQL(f"DEFAULT {_literal(f.db_value(default))}")]
        apply(migrator.add_column(table, f.column_name, column, allow_not_null=True))


def _literal(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "'" + str(int(value) if isinstance(value, bool) else value).replace("'", "''") + "'"
    return repr(value)


def _registered_hosts(database) -> None:
    """Hosts an admin registers: endpoint, TLS file paths, labels, drain/lost, overrides."""
    _add_columns(database, Host, Host.url, Host.tls, Host.labels, Host.state, Host.lost_since,
                 Host.cpus_override, Host.mem_override)


def _network_segments(database) -> None:
    """Networks get a driver and tenant isolation; segments are their per-tenant slices.
    Networks made before stay shared, as they were."""
    _add_columns(database, Network, Network.driver, Network.isolation, Network.segment_prefix,
                 Network.parent)
    database.create_tables([Segment])
    _add_columns(database, Address, Address.segment)


def _cluster_health(database) -> None:
    """A cluster's health (healthy | degraded | unknown) and the problems behind it."""
    _add_columns(database, Cluster, Cluster.health, Cluster.problems)


# Issue 12 (day-2 operations): after issue 17's steps, which landed first.
def _operations(database) -> None:
    """Jobs become operations: params, status, progress, times, result, run, who, and
    the executor's lease on them (issue 12)."""
    _add_columns(database, Product, Product.day2)
    _add_columns(database, Job, Job.params, Job.status, Job.progress, Job.step, Job.started,
                 Job.finished, Job.result, Job.reason, Job.run, Job.who, Job.owner, Job.expires)


def _quotas_and_lifetimes(database) -> None:
    """Quotas per user (and a default), clusters' expiry and auto_replace (issue 12)."""
    database.create_tables([Quota], safe=True)
    _add_columns(database, Cluster, Cluster.expires, Cluster.auto_replace)


def _node_status_index(database) -> None:
    """Nodes indexed by status, for the unhealthy ones of a page of clusters (issue 13)."""
    database.execute_sql('CREATE INDEX IF NOT EXISTS "node_status" ON "node" ("status")')


def _cluster_stamps(database) -> None:
    """Stamps that tell a reader a cluster's view changed, kept by triggers (issue 13)."""
    database.create_tables([ClusterStamp], safe=True)
    stamps.install(database)


def _stamps_once_per_transaction(database) -> None:
    """PostgreSQL's stamp functions bump a cluster's stamp once per transaction."""
    stamps.install(database)


# In the order they landed on main: a database at version N has run exactly the first N.
STEPS = [_initial, _product_image_hash, _product_privileges, _leases_and_documents_apart,
         _registered_hosts, _network_segments, _cluster_health,
         _operations, _quotas_and_lifetimes, _node_status_index,
         _cluster_stamps, _stamps_once_per_transaction]
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

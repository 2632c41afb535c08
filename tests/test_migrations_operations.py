"""Issue 12's schema steps on a registry made by main with issue 17 (several hosts), which
landed first: only the operations' steps run, every row in use is kept, and the schema
is the one a fresh registry gets. On SQLite (with foreign keys on, as the platform runs
it) and on PostgreSQL. No Docker."""
from __future__ import annotations

import uuid

import pytest
from peewee import PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as apply

from api.core import migrations
from api.core.models import (
    ALL_MODELS,
    Cluster,
    ClusterDocument,
    ClusterStamp,
    Disk,
    Host,
    Job,
    Node,
    NodeDisk,
    Product,
    Quota,
    User,
    db,
)

# What issue 12 adds, table by table (Quota is a table of its own).
OPERATIONS_COLUMNS = {
    "product": ["day2"],
    "job": ["params", "status", "progress", "step", "started", "finished", "result", "reason",
            "run", "who", "owner", "expires"],
    "cluster": ["expires", "auto_replace"],
}


def _schema(database) -> dict:
    """Every table's columns (name, type, nullable, primary key) and indexes (name,
    columns, unique); column defaults aside (the upgrade writes them into the table, a
    fresh registry leaves them to the models)."""
    out = {}
    for model in ALL_MODELS:
        table = model._meta.table_name
        out[table] = (
            sorted((c.name, c.data_type.lower(), c.null, c.primary_key) for c in database.get_columns(table)),
            sorted((i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table)),
        )
    return out


def _main_and_hosts_registry(database) -> None:
    """A registry at main + issue 17 (version 7), in use: a cluster with its document, a
    node holding a disk of a registered host, and its launch job."""
    migrations.migrate(database)
    user = User.create(name="alice")
    product = Product.create(name="p", version="1", template="{}", options={})
    host = Host.create(name="node-a", url="tcp://192.0.2.1:2375", cpus=4, mem=4096)
    cluster = Cluster.create(user=user, product=product, seq=1, status="ready")
    ClusterDocument.create(cluster=cluster, document={"nodes": {"node1": {}}})
    node = Node.create(cluster=cluster, name="node1", status="running", host=host)
    disk = Disk.create(host=host, name="disk0", path="/srv/d0", node=node)
    NodeDisk.create(node=node, name="data", destination="/data", disk=disk)
    Job.create(cluster=cluster, kind="launch")
    database.drop_tables([Quota])
    database.execute_sql('DROP INDEX IF EXISTS "node_status"')  # issue 13's, later still
    _drop_stamps(database)
    migrator = SchemaMigrator.from_database(database)
    if isinstance(database, SqliteDatabase):  # SQLite drops no indexed column
        for table, column in (("job", "status"), ("cluster", "expires")):
            database.execute_sql(f'DROP INDEX IF EXISTS "{table}_{column}"')
    apply(*[migrator.drop_column(table, c) for table, columns in OPERATIONS_COLUMNS.items()
            for c in columns])
    hosts_version = migrations.STEPS.index(migrations._cluster_health) + 1
    database.execute_sql(f"UPDATE schema_version SET version = {hosts_version}")


def _drop_stamps(database) -> None:
    """Issue 13's cluster stamps and their triggers, as a registry from before had none."""
    if isinstance(database, SqliteDatabase):
        triggers = [n for (n,) in database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'bdp_stamp%'")]
        for name in triggers:
            database.execute_sql(f'DROP TRIGGER "{name}"')
    else:
        for name, table in database.execute_sql(
                "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE left(tgname, 9) = 'bdp_stamp'").fetchall():
            database.execute_sql(f'DROP TRIGGER "{name}" ON {table}')
    database.drop_tables([ClusterStamp])


def _upgrade_matches_a_fresh_registry(make_database) -> None:
    saved = db.obj
    fresh, old = make_database("fresh"), make_database("old")
    try:
        db.initialize(fresh)
        assert migrations.migrate(fresh) == len(migrations.STEPS)
        db.initialize(old)
        _main_and_hosts_registry(old)
        for table, columns in OPERATIONS_COLUMNS.items():
            assert not set(columns) & {c.name for c in old.get_columns(table)}
        ran = []
        steps = list(migrations.STEPS)
        for i, step in enumerate(migrations.STEPS):
            migrations.STEPS[i] = (lambda s: lambda d: (ran.append(s.__name__), s(d)))(step)
        try:
            assert migrations.migrate(old) == len(steps)
        finally:
            migrations.STEPS[:] = steps
        # Only the steps after the hosts': issue 12's, then issue 13's index.
        assert ran == ["_operations", "_quotas_and_lifetimes", "_node_status_index", "_cluster_stamps",
                   "_stamps_once_per_transaction"]
        assert _schema(old) == _schema(fresh)
        # Every row in use is still there, the new columns at their defaults.
        assert [n.name for n in Node.select()] == ["node1"]
        assert ClusterDocument.get().document == {"nodes": {"node1": {}}}
        assert Disk.get().node_id == Node.get().id and NodeDisk.get().disk_id == Disk.get().id
        job = Job.get()
        assert (job.kind, job.status, job.params, job.progress, job.run, job.owner) == \
            ("launch", "", {}, 0, None, None)
        cluster = Cluster.get()
        assert (cluster.expires, cluster.auto_replace, cluster.health) == (None, None, "unknown")
        assert Product.get().day2 in ({}, None)
        Quota.create(user=None, clusters=2)  # the new table works
        assert Quota.get().clusters == 2
        # The cluster from before has a stamp, and its node's changes move it.
        before = ClusterStamp.get_by_id(cluster.id).stamp
        Node.update(status="failed").execute()
        assert ClusterStamp.get_by_id(cluster.id).stamp > before
        assert migrations.migrate(old) == len(steps)  # nothing left to do
    finally:
        db.initialize(saved)
        fresh.close()
        old.close()


def test_a_main_and_hosts_sqlite_registry_runs_only_the_operations_steps(tmp_path):
    _upgrade_matches_a_fresh_registry(
        lambda name: SqliteDatabase(str(tmp_path / f"{name}.sqlite"), pragmas={"foreign_keys": 1}))


@pytest.fixture
def pg_databases(postgres_url):
    """Databases of their own in the session's PostgreSQL, dropped afterwards."""
    import psycopg2
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    made = []

    def make(name: str) -> PostgresqlDatabase:
        full = f"bdp_mig_{name}_{uuid.uuid4().hex[:8]}"
        admin.cursor().execute(f"CREATE DATABASE {full}")
        made.append(full)
        return connect(postgres_url.rsplit("/", 1)[0] + "/" + full)
    yield make
    for name in made:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def test_a_main_and_hosts_postgresql_registry_runs_only_the_operations_steps(pg_databases):
    _upgrade_matches_a_fresh_registry(pg_databases)

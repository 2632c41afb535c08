"""Issue 11's schema steps on a registry written before them: product privileges are
added, and documents and leases move out of the cluster row (documents kept). No Docker."""
from __future__ import annotations

import json

from peewee import SqliteDatabase

from api.core import migrations
from api.core.models import ALL_MODELS, Cluster, ClusterDocument, Lease, Product, User, db


def test_an_older_registry_is_brought_forward_and_keeps_its_documents(tmp_path):
    database = SqliteDatabase(str(tmp_path / "old.sqlite"), pragmas={"foreign_keys": 1})
    db.initialize(database)
    database.create_tables([m for m in ALL_MODELS if m not in (ClusterDocument, Lease)])
    # The schema of version 1: no product image hash or privileges; document and lease on the cluster.
    database.execute_sql('ALTER TABLE "product" DROP COLUMN "privileges"')
    database.execute_sql('ALTER TABLE "product" DROP COLUMN "image_hash"')
    database.execute_sql('ALTER TABLE "cluster" ADD COLUMN "document" TEXT')
    for column in ("health", "problems"):  # issue 17's, a later step's
        database.execute_sql(f'ALTER TABLE "cluster" DROP COLUMN "{column}"')
    database.execute_sql('ALTER TABLE "cluster" ADD COLUMN "lease_owner" VARCHAR(255)')
    database.execute_sql('ALTER TABLE "cluster" ADD COLUMN "lease_expires" DATETIME')
    database.execute_sql('CREATE TABLE "schema_version" ("id" INTEGER PRIMARY KEY, "version" INTEGER)')
    database.execute_sql('INSERT INTO "schema_version" ("version") VALUES (1)')
    database.execute_sql('INSERT INTO "user" ("name", "role", "ssh_keys", "created") VALUES (\'a\', \'user\', \'[]\', \'2026-01-01\')')
    database.execute_sql('INSERT INTO "product" ("name", "version", "description", "logo_url", "template_format", '
                         '"orchestrator_format", "image", "created", "updated") VALUES '
                         "('p', '1', '', '', 'json', 'yaml', '', '2026-01-01', '2026-01-01')")
    doc = {"nodes": {"n1": {"docker_image": "x"}}}
    database.execute_sql('INSERT INTO "cluster" ("user_id", "product_id", "seq", "status", "reason", "progress", '
                         '"step", "options", "dnsname", "document", "ssh_public_key", "lease_owner", '
                         '"status_since", "created", "updated") VALUES '
                         "(1, 1, 1, 'registered', '', 0, '', '{}', '', ?, '', 'old@x', "
                         "'2026-01-01', '2026-01-01', '2026-01-01')", (json.dumps(doc),))
    assert migrations.migrate(database) == len(migrations.STEPS)
    columns = {c.name for c in database.get_columns("cluster")}
    assert not columns & {"document", "lease_owner", "lease_expires"}
    assert {"health", "problems"} <= columns
    assert {"privileges", "image_hash"} <= {c.name for c in database.get_columns("product")}
    from api.catalog.product import view
    assert view(Product.get())["privileges"] == {}
    cluster = Cluster.get()
    assert ClusterDocument.get(ClusterDocument.cluster == cluster).document == doc
    assert User.get().name == "a"
    assert migrations.migrate(database) == len(migrations.STEPS)  # nothing left to do
    database.close()

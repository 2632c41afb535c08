"""Cluster stamps: the database's own triggers bump `cluster_stamp.stamp` whenever a
cluster's row changes or a node, service or operation (job) of it is added, changed or
removed, so a reader that kept a cluster's serialised view can tell in one indexed probe
whether it still holds (api/http/view_cache.py, issue 13).

Triggers rather than calls in the code that writes: some sixty places write those
tables, from three kinds of process (api, framework, orchestrator), and a forgotten one
would serve a stale view for good. A trigger sees every write, raw SQL and cascades
included.

On PostgreSQL the bumps are deferred to commit (constraint triggers): an immediate one
would lock the stamp row at the first write of a transaction and hold it to the end, and
a statement that changes nodes of several clusters (a lost host's) could then deadlock
with a controller that changes one of them. Deferred, a transaction takes the stamp rows
only as it commits. A reader sees the stamp and the rows in the same snapshot either way.
"""
from __future__ import annotations

from peewee import PostgresqlDatabase

MEMBERS = ("node", "service", "job")  # tables whose rows reference a cluster by cluster_id

_SQLITE = [
    'CREATE TRIGGER IF NOT EXISTS "bdp_stamp_cluster_insert" AFTER INSERT ON "cluster" BEGIN '
    'INSERT OR IGNORE INTO "cluster_stamp" ("cluster_id", "stamp") VALUES (NEW."id", 0); END',
    'CREATE TRIGGER IF NOT EXISTS "bdp_stamp_cluster_update" AFTER UPDATE ON "cluster" BEGIN '
    'UPDATE "cluster_stamp" SET "stamp" = "stamp" + 1 WHERE "cluster_id" = NEW."id"; END',
]
for _t in MEMBERS:
    _SQLITE += [
        f'CREATE TRIGGER IF NOT EXISTS "bdp_stamp_{_t}_insert" AFTER INSERT ON "{_t}" BEGIN '
        f'UPDATE "cluster_stamp" SET "stamp" = "stamp" + 1 WHERE "cluster_id" = NEW."cluster_id"; END',
        f'CREATE TRIGGER IF NOT EXISTS "bdp_stamp_{_t}_update" AFTER UPDATE ON "{_t}" BEGIN '
        f'UPDATE "cluster_stamp" SET "stamp" = "stamp" + 1 '
        f'WHERE "cluster_id" IN (NEW."cluster_id", OLD."cluster_id"); END',
        f'CREATE TRIGGER IF NOT EXISTS "bdp_stamp_{_t}_delete" AFTER DELETE ON "{_t}" BEGIN '
        f'UPDATE "cluster_stamp" SET "stamp" = "stamp" + 1 WHERE "cluster_id" = OLD."cluster_id"; END',
    ]

# Once per transaction: a stamp row this transaction already bumped (or created, with
# its cluster) moves when it commits, whatever else it changes; a registration's 200
# node rows were 200 updates of one row at commit. The row's xmin is the transaction's
# id once it wrote it (a savepoint's write has another id: then it bumps again, harmless).
_BUMP = ('UPDATE "cluster_stamp" SET "stamp" = "stamp" + 1 '
         'WHERE "xmin" <> pg_current_xact_id()::xid AND "cluster_id" = ')
_POSTGRES = [
    # A new cluster's stamp row at once (nobody else can hold it).
    'CREATE OR REPLACE FUNCTION "bdp_stamp_new_cluster"() RETURNS trigger LANGUAGE plpgsql AS $$ '
    'BEGIN INSERT INTO "cluster_stamp" ("cluster_id", "stamp") VALUES (NEW."id", 0) '
    'ON CONFLICT DO NOTHING; RETURN NULL; END $$',
    'CREATE OR REPLACE FUNCTION "bdp_stamp_cluster"() RETURNS trigger LANGUAGE plpgsql AS $$ '
    f'BEGIN {_BUMP} NEW."id"; RETURN NULL; END $$',
    'CREATE OR REPLACE FUNCTION "bdp_stamp_member"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
    f"IF TG_OP <> 'INSERT' THEN {_BUMP} OLD.\"cluster_id\"; END IF; "
    f"IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.\"cluster_id\" IS DISTINCT FROM OLD.\"cluster_id\") "
    f'THEN {_BUMP} NEW."cluster_id"; END IF; RETURN NULL; END $$',
    'DROP TRIGGER IF EXISTS "bdp_stamp_cluster_insert" ON "cluster"',
    'CREATE TRIGGER "bdp_stamp_cluster_insert" AFTER INSERT ON "cluster" '
    'FOR EACH ROW EXECUTE FUNCTION "bdp_stamp_new_cluster"()',
    'DROP TRIGGER IF EXISTS "bdp_stamp_cluster_update" ON "cluster"',
    'CREATE CONSTRAINT TRIGGER "bdp_stamp_cluster_update" AFTER UPDATE ON "cluster" '
    'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "bdp_stamp_cluster"()',
]
for _t in MEMBERS:
    _POSTGRES += [
        f'DROP TRIGGER IF EXISTS "bdp_stamp_{_t}" ON "{_t}"',
        f'CREATE CONSTRAINT TRIGGER "bdp_stamp_{_t}" AFTER INSERT OR UPDATE OR DELETE ON "{_t}" '
        'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "bdp_stamp_member"()',
    ]


def install(database) -> None:
    """Give every cluster a stamp row and create the triggers (both idempotent)."""
    database.execute_sql('INSERT INTO "cluster_stamp" ("cluster_id", "stamp") SELECT "id", 0 FROM "cluster" '
                         'WHERE "id" NOT IN (SELECT "cluster_id" FROM "cluster_stamp")')
    for statement in _POSTGRES if isinstance(database, PostgresqlDatabase) else _SQLITE:
        database.execute_sql(statement)

"""PostgreSQL 15 bundle, end to end: launched through the REST API of a real `bdp server`,
a row written on the primary read on every replica, the `status` action failing after a
server dies, `start` repairing it, a scale-in dropping the leaving replica's slot, `stop`
stopping every server, then destroyed; and with
`postgis: true`, spatial queries answered on the primary and on the replica."""
from __future__ import annotations

import pytest

from support.common import REPO, wait_for
from support.operations import run_op
from support.products import FAST, action, bundle_tests, destroy_and_check, launch_until_ready, run

REPLICAS = [f"pg-replica{i}" for i in (1, 2)]
PSQL = "/usr/lib/postgresql/15/bin/psql"


def sql(docker_client, server, dn: str, node: str, query: str) -> str:
    code, out = run(docker_client, server, dn, node, ["sh", "-c", f'cd / && {PSQL} -X -qAt -d bdp -c "{query}"'],
                    user="postgres")
    assert code == 0, f"{node}: {out}"
    return out.strip()


@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_postgresql_replicates_detects_a_dead_server_and_is_destroyed(server_factory, docker_client, tmp_path):
    server = server_factory(env=FAST).start()
    http = server.http()
    http.timeout = 600

    path, view, _ = launch_until_ready(http, "postgresql", "15", {"replicas": len(REPLICAS), "mem": 256})
    dn = view["dn"]

    # Data lives on the node's data disk; PostGIS only when asked for.
    assert sql(docker_client, server, dn, "pg-primary", "SHOW data_directory") == "/data/1/pgdata"
    assert sql(docker_client, server, dn, "pg-primary", "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == "0"

    # pg_stat_replication lists every replica, streaming.
    rows = sql(docker_client, server, dn, "pg-primary",
               "SELECT application_name || ' ' || state FROM pg_stat_replication ORDER BY 1")
    assert rows.splitlines() == [f"{r} streaming" for r in REPLICAS]

    # The bundle's own proof workload (its tests/, as `bdp products test` runs them).
    bundle_tests(server, dn, REPO / "products" / "postgresql" / "15")

    # A row written on the primary is read on every replica (which refuse writes).
    sql(docker_client, server, dn, "pg-primary",
        "CREATE TABLE proof (id int PRIMARY KEY, note text); INSERT INTO proof VALUES (1, 'from the primary')")
    lsn = sql(docker_client, server, dn, "pg-primary", "SELECT pg_current_wal_lsn()")
    for replica in REPLICAS:
        wait_for(lambda: sql(docker_client, server, dn, replica,
                             f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t",
                 30, message=f"{replica} to replay {lsn}")
        assert sql(docker_client, server, dn, replica, "SELECT note FROM proof WHERE id = 1") == "from the primary"
        code, out = run(docker_client, server, dn, replica,
                        ["sh", "-c", f'cd / && {PSQL} -X -d bdp -c "INSERT INTO proof VALUES (2, \'x\')"'],
                        user="postgres")
        assert code != 0 and "read-only" in out

    # A client on another node connects with a password (set by the user over ssh), by
    # the primary's name within the cluster's dnsname, and by its address.
    sql(docker_client, server, dn, "pg-primary", "ALTER ROLE postgres PASSWORD 'secret-for-test'")
    nodes = http.get(path + "/nodes").json()["nodes"]
    primary = next(n for n in nodes if n["name"] == "pg-primary")
    address = next(i for i in primary["networks"] if i["device"] == "eth0")["address"]
    dnsname = http.get(path).json()["dnsname"]
    for host in (f"pg-primary.{dnsname}", address):
        code, out = run(docker_client, server, dn, REPLICAS[0],
                        ["env", "PGPASSWORD=secret-for-test", PSQL, "-X", "-qAt", "-h", host, "-U", "postgres",
                         "-d", "bdp", "-c", "SELECT count(*) FROM proof"])
        assert code == 0 and out.strip() == "1", f"{host}: {out}"

    # One replica's server dies: status fails and names it; start brings it back.
    code, out = run(docker_client, server, dn, REPLICAS[-1],
                    ["sh", "-c", "cd / && /usr/lib/postgresql/15/bin/pg_ctl -D /data/1/pgdata -m immediate stop"],
                    user="postgres")
    assert code == 0, out
    result = action(http, path, "status")
    assert result["result"] == "failed" and result["status"] == "stopped", result
    assert REPLICAS[-1] in result["reason"], result["reason"]
    result = action(http, path, "start")
    assert result["result"] == "successful" and result["status"] == "ready", result
    assert sql(docker_client, server, dn, REPLICAS[-1], "SELECT note FROM proof WHERE id = 1") == "from the primary"

    # Scale-in (issue 12): one replica leaves; it stops first, and the primary drops its
    # replication slot (a slot no replica uses keeps WAL for ever); the other streams on.
    slots = "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots"
    assert sql(docker_client, server, dn, "pg-primary", slots) == "pg_replica1,pg_replica2"
    done = run_op(http, path, "resize", 600, options={"replicas": 1})
    assert done["status"] == "succeeded", done
    assert [n["name"] for n in http.get(path + "/nodes").json()["nodes"]] == ["pg-primary", REPLICAS[0]]
    assert sql(docker_client, server, dn, "pg-primary", slots) == "pg_replica1"
    assert sql(docker_client, server, dn, "pg-primary",
               "SELECT application_name || ' ' || state FROM pg_stat_replication") == f"{REPLICAS[0]} streaming"

    # stop shuts every server down.
    result = action(http, path, "stop")
    assert result["result"] == "successful" and result["status"] == "stopped", result
    for node in ["pg-primary", REPLICAS[0]]:
        code, out = run(docker_client, server, dn, node, ["sh", "-c", "cd / && /usr/lib/postgresql/15/bin/pg_ctl "
                                                   "-D /data/1/pgdata status"], user="postgres")
        assert code == 3 and "no server running" in out, f"{node}: {out}"

    destroy_and_check(http, docker_client, server, path, dn)


PLACES = ("CREATE TABLE places (name text PRIMARY KEY, geog geography(Point, 4326)); "
          "INSERT INTO places VALUES ('paris', 'SRID=4326;POINT(2.3522 48.8566)'), "
          "('london', 'SRID=4326;POINT(-0.1276 51.5072)'), ('berlin', 'SRID=4326;POINT(13.4050 52.5200)')")
# Kilometres from Paris to London on the WGS 84 spheroid, and the places within 500 km of Paris.
DISTANCE = ("SELECT round(ST_Distance(a.geog, b.geog) / 1000) FROM places a, places b "
            "WHERE a.name = 'paris' AND b.name = 'london'")
WITHIN = ("SELECT string_agg(name, ',' ORDER BY name) FROM places "
          "WHERE ST_DWithin(geog, 'SRID=4326;POINT(2.3522 48.8566)'::geography, 500000)")


@pytest.mark.usefixtures("bystander")
def test_postgis_answers_spatial_queries_on_the_primary_and_the_replica(server_factory, docker_client):
    server = server_factory(env=FAST).start()
    http = server.http()
    http.timeout = 600
    path, view, _ = launch_until_ready(http, "postgresql", "15", {"replicas": 1, "mem": 256, "postgis": True})
    dn = view["dn"]

    version = sql(docker_client, server, dn, "pg-primary", "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
    assert version.startswith("3."), version
    sql(docker_client, server, dn, "pg-primary", PLACES)
    assert sql(docker_client, server, dn, "pg-primary", DISTANCE) == "344"
    assert sql(docker_client, server, dn, "pg-primary", WITHIN) == "london,paris"

    # The replica has the extension and the table, and answers the same queries.
    lsn = sql(docker_client, server, dn, "pg-primary", "SELECT pg_current_wal_lsn()")
    wait_for(lambda: sql(docker_client, server, dn, "pg-replica1",
                         f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t", 30, message="the replica to replay")
    assert sql(docker_client, server, dn, "pg-replica1", DISTANCE) == "344"
    assert sql(docker_client, server, dn, "pg-replica1", WITHIN) == "london,paris"

    destroy_and_check(http, docker_client, server, path, dn)

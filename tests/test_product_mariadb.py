"""MariaDB 10.11 Galera bundle: its options as API errors, then end to end through the
REST API of a real `bdp server`: every node in one Galera cluster (wsrep_cluster_size is
N), a row written on one node read on every other, a client over the admin network, a
dead server failing `status` and `start` bringing it back, `stop` then `start` (the
cluster bootstrapped again from its data), then destroyed with nothing left."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.common import wait_for
from support.products import FAST, action, destroy_and_check, launch_until_ready, refused, run

BUNDLE = Path(__file__).resolve().parent.parent / "products" / "mariadb" / "10.11"
NODES = ["mariadb1", "mariadb2", "mariadb3"]
PIDFILE = "/run/mysqld/bdp-mariadbd.pid"


def test_mariadb_options_are_checked_naming_the_option(client):
    from api.catalog import bundle
    assert bundle.sync_bundles(BUNDLE) == {"mariadb/10.11": "created"}
    refused(client, "mariadb", "10.11", {"size": 0}, "size")
    refused(client, "mariadb", "10.11", {"size": 3, "database": "x`; DROP"}, "database")


def sql(docker_client, server, dn: str, node: str, query: str) -> str:
    code, out = run(docker_client, server, dn, node, ["mariadb", "-NB", "-e", query])
    assert code == 0, f"{node}: {out}"
    return out.strip()


def wsrep(docker_client, server, dn: str, node: str) -> dict[str, str]:
    rows = sql(docker_client, server, dn, node, "SHOW GLOBAL STATUS LIKE 'wsrep_%'")
    return dict(line.split("\t", 1) for line in rows.splitlines() if "\t" in line)


def every_node_in_the_cluster(docker_client, server, dn: str) -> None:
    for node in NODES:
        status = wsrep(docker_client, server, dn, node)
        assert (status["wsrep_cluster_size"], status["wsrep_ready"], status["wsrep_local_state_comment"],
                status["wsrep_cluster_status"]) == (str(len(NODES)), "ON", "Synced", "Primary"), (node, status)


def read_everywhere(docker_client, server, dn: str, query: str, expected: str) -> None:
    # wsrep_sync_wait=1: a read waits until the node has applied every earlier write.
    for node in NODES:
        assert sql(docker_client, server, dn, node, f"SET SESSION wsrep_sync_wait = 1; {query}") == expected, node


@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_mariadb_galera_replicates_everywhere_survives_a_dead_node_and_is_destroyed(server_factory, docker_client):
    server = server_factory(env=FAST).start()
    http = server.http()
    http.timeout = 600

    path, view, _ = launch_until_ready(http, "mariadb", "10.11", {"size": len(NODES)})
    dn = view["dn"]
    every_node_in_the_cluster(docker_client, server, dn)
    # Data lives on the node's data disk.
    assert sql(docker_client, server, dn, "mariadb2", "SELECT @@datadir") == "/data/1/mysql/"

    # A row written on one node is read on every other; writes are accepted on any node.
    sql(docker_client, server, dn, "mariadb1",
        "CREATE TABLE bdp.proof (id INT PRIMARY KEY, note TEXT); INSERT INTO bdp.proof VALUES (1, 'from mariadb1')")
    read_everywhere(docker_client, server, dn, "SELECT note FROM bdp.proof WHERE id = 1", "from mariadb1")
    sql(docker_client, server, dn, "mariadb3", "INSERT INTO bdp.proof VALUES (3, 'from mariadb3')")
    read_everywhere(docker_client, server, dn, "SELECT count(*) FROM bdp.proof", "2")

    # A client on the admin network logs in with a password (an account the user made).
    sql(docker_client, server, dn, "mariadb1", "CREATE USER app@'%' IDENTIFIED BY 'secret-for-test'; "
                                               "GRANT ALL ON bdp.* TO app@'%'")
    nodes = http.get(path + "/nodes").json()["nodes"]
    address = {n["name"]: next(i["address"] for i in n["networks"] if i["device"] == "eth0") for n in nodes}
    code, out = run(docker_client, server, dn, "mariadb2",
                    ["mariadb", "-NB", "-h", address["mariadb3"], "-u", "app", "-psecret-for-test", "bdp",
                     "-e", "SELECT count(*) FROM proof"])
    assert code == 0 and out.strip() == "2", out

    # mariadb3's server dies: status fails and names it; start brings it back, caught up.
    code, out = run(docker_client, server, dn, "mariadb3", ["sh", "-c", f"kill -9 $(cat {PIDFILE})"])
    assert code == 0, out
    result = action(http, path, "status")
    assert result["result"] == "failed" and result["status"] == "stopped", result
    assert "mariadb3" in result["reason"], result["reason"]
    sql(docker_client, server, dn, "mariadb2", "INSERT INTO bdp.proof VALUES (2, 'while mariadb3 was down')")
    result = action(http, path, "start")
    assert result["result"] == "successful" and result["status"] == "ready", result
    every_node_in_the_cluster(docker_client, server, dn)
    read_everywhere(docker_client, server, dn, "SELECT count(*) FROM bdp.proof", "3")

    # stop stops every server; start bootstraps the cluster again from its data.
    result = action(http, path, "stop")
    assert result["result"] == "successful" and result["status"] == "stopped", result
    for node in NODES:
        code, out = run(docker_client, server, dn, node, ["sh", "-c", "pgrep -x mariadbd || echo none"])
        assert out.strip() == "none", f"{node}: {out}"
    result = action(http, path, "start")
    assert result["result"] == "successful" and result["status"] == "ready", result
    wait_for(lambda: wsrep(docker_client, server, dn, "mariadb1")["wsrep_cluster_size"] == "3", 30,
             message="three nodes after the restart")
    every_node_in_the_cluster(docker_client, server, dn)
    read_everywhere(docker_client, server, dn, "SELECT note FROM bdp.proof WHERE id = 2", "while mariadb3 was down")

    destroy_and_check(http, docker_client, server, path, dn)

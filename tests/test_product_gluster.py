"""GlusterFS 10.3 bundle: its rules as API errors, then end to end through the REST API of
a real `bdp server` (framework + orchestrator on the local Docker Engine): the volume is
mounted on both nodes and replicates a file, a dead glusterd fails the `status` action,
`restart` repairs it, and destroy leaves nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.common import REPO
from support.products import (
    API,
    FAST,
    action,
    bundle_tests,
    destroy_and_check,
    launch_until_ready,
    refused,
    run,
)

BUNDLE = Path(__file__).resolve().parent.parent / "products" / "gluster" / "10.3"
NODES = ["gluster1", "gluster2"]


def test_gluster_refuses_an_odd_size_naming_the_rule(client):
    from api.catalog import bundle
    assert bundle.sync_bundles(BUNDLE) == {"gluster/10.3": "created"}

    r = client.simulate_post(f"{API}/products/gluster/10.3", json={"size": 3})
    assert r.status_code == 400, r.text
    body = r.json
    assert body["status"] == 400
    assert "size must be an even number" in body["message"] and "got 3" in body["message"], body
    assert body["field"] == "size", body

    # The bundle's schema refuses it before the template's own rule would.
    answer = refused(client, "gluster", "10.3", {"size": 2, "disks": 0}, "disks")
    assert answer["message"] == "option 'disks' must be at least 1 (got 0)", answer


@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_gluster_volume_replicates_detects_a_dead_glusterd_and_is_destroyed(server_factory, docker_client):
    # Two nodes x two disks: a distributed-replicated volume of two replica-2 sets.
    server = server_factory(env={**FAST, "BDP_DISKS": "6"}).start()
    http = server.http()
    http.timeout = 600  # actions answer when their playbook run is over

    path, view, _ = launch_until_ready(http, "gluster", "10.3",
                                       {"size": 2, "disks": 2, "cpu": 0.5, "mem": 512})
    dn = view["dn"]

    code, out = run(docker_client, server, dn, "gluster1", ["gluster", "volume", "info", "gv0"])
    assert code == 0, out
    assert "Type: Distributed-Replicate" in out and "Status: Started" in out, out
    assert "Number of Bricks: 2 x 2 = 4" in out, out
    # Each replica set spans both nodes (same disk on gluster1 and gluster2).
    assert "Brick1: gluster1:/bricks/1/brick" in out and "Brick2: gluster2:/bricks/1/brick" in out, out

    # peerback: gluster2 knows the initiator by name, not by address.
    code, out = run(docker_client, server, dn, "gluster2", ["gluster", "pool", "list"])
    assert code == 0 and "gluster1" in out and "Connected" in out, out

    # The bundle's own proof workload (its tests/, as `bdp products test` runs them).
    bundle_tests(server, dn, REPO / "products" / "gluster" / "10.3")

    # A file written through gluster1's mount is read through gluster2's ...
    code, out = run(docker_client, server, dn, "gluster1", ["sh", "-c", "echo replicated-by-bdp > /mnt/gluster/proof.txt"])
    assert code == 0, out
    code, out = run(docker_client, server, dn, "gluster2", ["cat", "/mnt/gluster/proof.txt"])
    assert code == 0 and out.strip() == "replicated-by-bdp", out
    # ... and is stored on a brick of each node (replica 2).
    for node in NODES:
        code, out = run(docker_client, server, dn, node, ["sh", "-c", "cat /bricks/*/brick/proof.txt"])
        assert code == 0 and out.strip() == "replicated-by-bdp", (node, out)

    # glusterd dies on gluster2: the status action fails and names the node.
    code, out = run(docker_client, server, dn, "gluster2", ["pkill", "-x", "glusterd"])
    assert code == 0, out
    result = action(http, path, "status")
    assert result["result"] == "failed", result
    assert "gluster2" in result["reason"] and "glusterd" in result["reason"], result["reason"]

    # restart (stop + start) brings it back; the data survived.
    result = action(http, path, "restart")
    assert result["result"] == "successful" and result["status"] == "ready", result
    code, out = run(docker_client, server, dn, "gluster2", ["cat", "/mnt/gluster/proof.txt"])
    assert code == 0 and out.strip() == "replicated-by-bdp", out

    # Resizing is refused with the documented reason (the bricks hold the data), and
    # nothing is queued: the file stays readable.
    for size in (1, 4):
        r = http.post(f"{path}/operations", json={"op": "resize", "options": {"size": size}})
        assert r.status_code == 400 and r.json()["field"] == "options.size", r.text
        assert "bricks hold its data" in r.json()["message"], r.text
    assert [o["op"] for o in http.get(f"{path}/operations").json()["operations"]][-1] == "restart"
    code, out = run(docker_client, server, dn, "gluster1", ["cat", "/mnt/gluster/proof.txt"])
    assert code == 0 and out.strip() == "replicated-by-bdp", out

    destroy_and_check(http, docker_client, server, path, dn)

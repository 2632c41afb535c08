"""Container privileges are the administrator's, per product (issue 11, finding 2):
registration refuses docker_opts a product does not grant, naming node, option and value,
and the engines refuse them again. Through the API; no Docker."""
from __future__ import annotations

import pytest

from api.engines.base import NodeSpec
from api.engines.mesos_tasks import task_info
from support.rest import OPTIONS, P, add_product, add_user, as_user, ensure_networks, error

OPTS_TEMPLATE = """{
  "nodes": {"node1": {"docker_image": "bdp/base:bookworm", "docker_opts": "{{ opts.extra }}",
                      "networks": {"eth0": {"networkname": "admin"}}}},
  "services": {}
}"""
GLUSTER = {"capabilities": ["SYS_ADMIN"], "devices": ["/dev/fuse"], "security_opt": ["apparmor=unconfined"]}
EXTRA = {"required": {}, "optional": {"extra": ""}, "advanced": {}, "descriptions": {}}


@pytest.fixture
def fuse(client):
    ensure_networks()
    r = client.simulate_post(f"{P}/products", json={"name": "fuse", "version": "1", "privileges": GLUSTER,
                                                    "options": EXTRA, "template": OPTS_TEMPLATE})
    assert r.status_code == 201, r.text
    assert r.json["privileges"] == GLUSTER
    return client


def count():
    from api.core.models import Cluster, Node
    return Cluster.select().count(), Node.select().count()


@pytest.mark.parametrize("extra", [
    "--cap-add=ALL", "--cap-add SYS_ADMIN --cap-add NET_ADMIN", "--device=/dev/sda",
    "--security-opt seccomp=unconfined", "--security-opt systempaths=unconfined",
    "-e LD_PRELOAD=/data/1/x.so", "--privileged", "-v /:/host"])
def test_a_launch_cannot_give_a_node_what_the_product_does_not_grant(fuse, extra):
    r = fuse.simulate_post(f"{P}/products/fuse/1", json={"extra": extra})
    assert r.status_code == 400
    body = error(r)
    assert body["field"] == "nodes.node1.docker_opts"
    assert body["message"].startswith("node node1: docker_opts: ")
    assert count() == (0, 0)


def test_what_the_product_grants_is_accepted(fuse):
    r = fuse.simulate_post(f"{P}/products/fuse/1", json={
        "extra": "--cap-add SYS_ADMIN --device /dev/fuse --security-opt apparmor=unconfined"})
    assert r.status_code == 202, r.text
    nodes = fuse.simulate_get(r.json["cluster"] + "/nodes").json["nodes"]
    assert nodes[0]["docker_opts"].startswith("--cap-add SYS_ADMIN")


def test_a_template_needing_privileges_the_product_lacks_is_refused_when_written(client):
    ensure_networks()
    template = OPTS_TEMPLATE.replace("{{ opts.extra }}", "--cap-add SYS_ADMIN")
    r = client.simulate_post(f"{P}/products", json={"name": "bare", "version": "1", "options": EXTRA,
                                                    "template": template})
    assert r.status_code == 400 and error(r)["field"] == "nodes.node1.docker_opts"
    assert "this product grants none" in error(r)["message"]
    r = client.simulate_post(f"{P}/products", json={"name": "bare", "version": "1", "options": EXTRA})
    assert r.status_code == 201
    r = client.simulate_patch(f"{P}/products/bare/1", json={"template": template,
                                                           "privileges": {"capabilities": ["SYS_ADMIN"]}})
    assert r.status_code == 200, r.text
    assert r.json["privileges"] == {"capabilities": ["SYS_ADMIN"]}
    # Taking the grant away while the template needs it: refused, nothing changed.
    r = client.simulate_patch(f"{P}/products/bare/1", json={"privileges": {}})
    assert r.status_code == 400 and error(r)["field"] == "nodes.node1.docker_opts"
    assert client.simulate_get(f"{P}/products/bare/1").json["privileges"] == {"capabilities": ["SYS_ADMIN"]}


def test_only_an_admin_sets_privileges(fuse):
    token = add_user(fuse, "mallory")
    r = fuse.simulate_patch(f"{P}/products/fuse/1", json={"privileges": {"capabilities": ["SYS_PTRACE"]}},
                            headers=as_user(token))
    assert r.status_code == 403
    r = fuse.simulate_post(f"{P}/products", json={"name": "mine", "version": "1", "privileges": GLUSTER},
                           headers=as_user(token))
    assert r.status_code == 403


@pytest.mark.parametrize("privileges, field", [
    ({"capabilities": ["ALL"]}, "privileges.capabilities.0"),
    ({"security_opt": ["seccomp=unconfined"]}, "privileges.security_opt.0"),
    ({"devices": ["/etc/shadow"]}, "privileges.devices.0"),
    ({"network": ["host"]}, "privileges.network"),
])
def test_privileges_that_amount_to_privileged_are_refused(client, privileges, field):
    r = client.simulate_post(f"{P}/products", json={"name": "x", "version": "1", "privileges": privileges})
    assert r.status_code == 400 and error(r)["field"] == field


def test_the_bundled_gluster_grants_what_its_fuse_mount_needs(client):
    from api.catalog import bundle
    from support.common import REPO
    ensure_networks()
    assert bundle.sync_bundles(REPO / "products")["gluster/10.3"] in ("created", "updated")
    assert client.simulate_get(f"{P}/products/gluster/10.3").json["privileges"] == GLUSTER
    assert client.simulate_get(f"{P}/products/reference/1.0.0").json["privileges"] == {}


def test_the_engine_refuses_again_what_a_registry_row_asks_beyond_the_grant():
    spec = NodeSpec(cluster_id=1, cluster_dn="clusters/u/p/1/1", name="n1", host="h", image="i", cpu=1,
                    mem=64, docker_opts="--cap-add SYS_ADMIN", privileges={})
    with pytest.raises(ValueError) as exc:
        task_info(spec, "A1", set(), "/x", lambda n: n)
    assert "this product grants none" in str(exc.value)


def test_existing_products_keep_working_through_the_api(client):
    ensure_networks()
    add_product(client, "demo", "1.0", options=OPTIONS)
    assert client.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).status_code == 202

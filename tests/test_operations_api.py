"""Operations in the API without Docker: what may be queued (400/409 naming the field),
resize planning by name, cancel, the queue's view of every kind, operation statuses,
lifetimes and the products' day-2 declarations."""
from __future__ import annotations

import datetime as dt

import pytest

from api.catalog import day2
from api.clusters import lifetimes
from api.core import status as st
from api.core.errors import Invalid
from api.core.models import Cluster, Job, Node, Product, Service
from support.rest import P, add_product, add_user, as_user, ensure_networks, error

URI = f"{P}/clusters/admin/demo/1.0/1"


@pytest.fixture
def demo(client):
    ensure_networks()
    add_product(client)
    r = client.simulate_patch(f"{P}/products/demo/1.0", json={"day2": {"resize": {"options": ["size"]}}})
    assert r.status_code == 200 and r.json["day2"]["resize"]["options"] == ["size"], r.text
    assert client.simulate_post(f"{P}/products/demo/1.0", json={"size": 2}).status_code == 202
    return client


def ready(cluster_status=st.READY):
    Cluster.update(status=cluster_status).where(Cluster.id == 1).execute()


def test_operations_are_queued_with_202_and_listed_with_launch(demo):
    ready()
    r = demo.simulate_post(URI + "/operations", json={"op": "restart"})
    assert r.status_code == 202 and r.headers["location"] == r.json["uri"] == f"{P}/queue/2"
    assert (r.json["status"], r.json["op"], r.json["who"], r.json["done"]) == ("pending", "restart", "admin", False)
    alias = demo.simulate_post(URI + "/actions/status")
    assert alias.status_code == 202 and alias.json["op"] == "status" and alias.json["action"] == "status"
    history = demo.simulate_get(URI + "/operations").json["operations"]
    assert [(o["op"], o["status"]) for o in history] == [
        ("launch", "succeeded"), ("restart", "pending"), ("status", "pending")]
    view = demo.simulate_get(URI).json
    assert view["operation"]["id"] == 2 and view["operation"]["op"] == "restart"
    assert view["health"] == {"status": "healthy", "problems": []}


@pytest.mark.parametrize("body, status, field, words", [
    ({"op": "reboot"}, 400, "op", "unknown operation 'reboot'"),
    ({}, 400, "op", "unknown operation None"),
    ({"op": "restart", "force": True}, 400, "force", "takes no arguments"),
    ({"op": "replace"}, 400, "nodes", "needs 'nodes'"),
    ({"op": "replace", "nodes": ["node9"]}, 400, "nodes", "has no node 'node9'"),
    ({"op": "replace", "nodes": "node1"}, 400, "nodes", "must list node names"),
    ({"op": "resize", "options": {"size": 2}}, 400, "options.size", "nothing to do"),
    ({"op": "resize", "options": {"cpu": 2}}, 400, "options.cpu", "cannot change on a running cluster"),
    ({"op": "resize", "options": {"size": "many"}}, 400, "options.size", "many"),
    ({"op": "resize", "options": {"size": 0}}, 400, "nodes", "at least 1 item"),
    ({"op": "resize", "options": {}}, 400, "options", "options to change"),
    ({"op": "extend", "lifetime": "soon"}, 400, "lifetime", "neither a duration"),
])
def test_bad_operations_are_refused_naming_the_field(demo, body, status, field, words):
    ready()
    r = demo.simulate_post(URI + "/operations", json=body)
    assert r.status_code == status, r.text
    assert error(r)["field"] == field and words in r.json["message"], r.json
    assert Job.select().count() == 1  # nothing queued


def test_failed_clusters_take_only_repair_and_gone_ones_nothing(demo):
    ready(st.FAILED)
    r = demo.simulate_post(URI + "/operations", json={"op": "restart"})
    assert r.status_code == 409 and error(r)["field"] == "status" and "repair" in r.json["message"]
    start = demo.simulate_post(URI + "/actions/start")
    assert start.status_code == 202 and start.json["op"] == "repair"  # start of a failed cluster
    ready(st.DESTROYING)
    assert demo.simulate_post(URI + "/operations", json={"op": "repair"}).status_code == 409


def test_only_pending_operations_can_be_cancelled_and_only_by_their_owner(demo):
    ready()
    alice = add_user(demo, "alice")
    job = demo.simulate_post(URI + "/operations", json={"op": "restart"}).json
    assert demo.simulate_delete(f"{P}/queue/{job['id']}", headers=as_user(alice)).status_code == 404
    r = demo.simulate_delete(f"{P}/queue/{job['id']}")
    assert r.status_code == 200 and r.json["status"] == "cancelled" and r.json["reason"] == "cancelled by admin"
    again = demo.simulate_delete(f"{URI}/operations/{job['id']}")
    assert again.status_code == 409 and error(again)["field"] == "status"
    launch = demo.simulate_delete(f"{P}/queue/1")
    assert launch.status_code == 409 and "only a pending operation" in launch.json["message"]


def test_resize_plans_by_name_and_reshapes_the_registry(demo, platform):
    from api.clusters import resize
    ready()
    cluster = Cluster.get_by_id(1)
    plan = resize.plan(cluster, {"size": 4}, 10)
    assert (plan.added, plan.removed) == (["node3", "node4"], [])
    resize.reshape(cluster, plan)
    rows = {n.name: n.status for n in Node.select()}
    assert rows == {"node1": "queued", "node2": "queued", "node3": "queued", "node4": "queued"}
    assert Node.get(Node.name == "node4").host_id is None
    assert Service.get().nodes == ["node1", "node2", "node3", "node4"]
    assert Cluster.get_by_id(1).options["size"] == 4
    Node.update(status="running").execute()
    plan = resize.reshape(cluster, resize.plan(Cluster.get_by_id(1), {"size": 1}, 10))
    assert plan.removed == ["node2", "node3", "node4"]
    assert {n.name: n.status for n in Node.select()}["node3"] == "draining"
    assert Service.get().nodes == ["node1"]
    # Back to four (a rollback): the draining nodes run on, nothing is added twice.
    plan = resize.reshape(cluster, resize.plan(Cluster.get_by_id(1), {"size": 4}, 10, check_allowed=False))
    assert plan.added == [] and {n.status for n in Node.select()} == {"running"}
    with pytest.raises(Invalid) as caught:
        resize.plan(Cluster.get_by_id(1), {"size": 11}, 10)
    assert caught.value.field == "nodes" and "at most 10" in caught.value.message


def test_a_product_that_cannot_scale_in_says_why(demo):
    ready()
    reason = "bricks hold the data"
    r = demo.simulate_patch(f"{P}/products/demo/1.0", json={"day2": {"resize": {
        "options": ["size"], "scale_in": False, "reason": reason}}})
    assert r.status_code == 200, r.text
    r = demo.simulate_post(URI + "/operations", json={"op": "resize", "options": {"size": 1}})
    assert r.status_code == 400 and error(r)["field"] == "options.size" and reason in r.json["message"]
    assert demo.simulate_post(URI + "/operations", json={"op": "resize", "options": {"size": 3}}).status_code == 202
    bad = demo.simulate_patch(f"{P}/products/demo/1.0", json={"day2": {"resize": {"options": ["size"],
                                                                                    "scale_in": False}}})
    assert bad.status_code == 400 and error(bad)["field"] == "resize.reason"


def test_operation_statuses_move_only_forward(platform):
    from api.core.models import User
    cluster = Cluster.create(user=User.create(name="u"), product=Product.create(name="p", version="1"), seq=1)
    job = Job.create(cluster=cluster, kind="restart", status="pending")
    assert st.move_operation(job.id, "running")
    assert not st.move_operation(job.id, "running", expect="pending")  # someone else started it
    assert st.move_operation(job.id, "succeeded")
    row = Job.get_by_id(job.id)
    assert row.finished is not None and row.owner is None
    with pytest.raises(st.TransitionError):
        st.move_operation(job.id, "pending")
    assert st.OperationStatus.derived("launch", st.CONFIGURING) == "running"
    assert st.OperationStatus.derived("launch", st.DESTROYED, ever_ready=False) == "cancelled"
    assert st.OperationStatus.derived("destroy", st.DESTROYED) == "succeeded"


def test_lifetimes_parse_durations_and_iso_times():
    now = dt.datetime(2026, 1, 1, 12, 0)
    assert lifetimes.parse("8h", now=now) == dt.datetime(2026, 1, 1, 20, 0)
    assert lifetimes.parse("1h30m", now=now) == dt.datetime(2026, 1, 1, 13, 30)
    assert lifetimes.parse("20s", now=now) == dt.datetime(2026, 1, 1, 12, 0, 20)
    assert lifetimes.parse("2026-01-02T00:00:00Z", now=now) == dt.datetime(2026, 1, 2)
    for bad in ("", "0h", "yesterday", "2025-01-01T00:00:00", 8):
        with pytest.raises(Invalid) as caught:
            lifetimes.parse(bad, field="lifetime", now=now)
        assert caught.value.field == "lifetime"
    assert lifetimes.seconds("4h") == 4 * 3600


def test_day2_declarations_are_checked():
    assert day2.check({}) == {"resize": None, "auto_replace": False, "lifetime": ""}
    assert day2.check({"resize": {"options": ["size"]}})["resize"] == {
        "options": ["size"], "scale_in": True, "scale_out": True, "reason": ""}
    for meta, field in (({"resize": {"options": []}}, "resize.options"),
                        ({"resize": {"options": ["size"], "drain": 1}}, "resize.drain"),
                        ({"auto_replace": "yes"}, "auto_replace"), ({"resize": ["size"]}, "resize")):
        with pytest.raises(Invalid) as caught:
            day2.check(meta)
        assert caught.value.field == field


def test_quotas_are_enforced_at_launch_and_resize_with_the_limit_named(demo):
    ready()
    alice = add_user(demo, "alice")
    me = as_user(alice)
    assert demo.simulate_get(f"{P}/users/alice/quota", headers=me).json == {
        "user": "alice", "limits": dict.fromkeys(("clusters", "nodes", "cpus", "memory", "disks")),
        "use": {"clusters": 0, "nodes": 0, "cpus": 0.0, "memory": 0, "disks": 0}, "default": True}
    assert demo.simulate_put(f"{P}/users/alice/quota", json={"cpus": 2}, headers=me).status_code == 403
    r = demo.simulate_put(f"{P}/quotas/default", json={"clusters": 5, "cpus": 2})
    assert r.status_code == 200 and r.json["cpus"] == 2
    r = demo.simulate_put(f"{P}/users/alice/quota", json={"clusters": 2, "cpus": 1.5, "memory": 4096})
    assert r.status_code == 200 and r.json["limits"]["cpus"] == 1.5 and r.json["default"] is False
    launch = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 2}, headers=me)  # 2 x 0.5 cpus
    assert launch.status_code == 202, launch.text
    refused = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 2}, headers=me)
    assert refused.status_code == 403 and error(refused) == {
        "status": 403, "error": "Quota Exceeded", "message": "cpus: 1 requested, 0.5 of 1.5 left", "field": "cpus"}
    assert Cluster.select().count() == 2  # nothing half-written
    Cluster.update(status=st.READY).execute()
    grow = demo.simulate_post(f"{P}/clusters/alice/demo/1.0/1/operations",
                              json={"op": "resize", "options": {"size": 4}}, headers=me)
    assert grow.status_code == 403 and grow.json["message"] == "cpus: 1 requested, 0.5 of 1.5 left"
    assert demo.simulate_post(f"{P}/clusters/alice/demo/1.0/1/operations",
                              json={"op": "resize", "options": {"size": 3}}, headers=me).status_code == 202
    use = demo.simulate_get(f"{P}/users/alice/quota", headers=me).json["use"]
    assert use == {"clusters": 1, "nodes": 2, "cpus": 1.0, "memory": 512, "disks": 2}
    bad = demo.simulate_put(f"{P}/users/alice/quota", json={"cpus": -1})
    assert bad.status_code == 400 and error(bad)["field"] == "cpus"
    assert error(demo.simulate_put(f"{P}/users/alice/quota", json={"gpus": 1}))["field"] == "gpus"


def test_a_lifetime_at_launch_sets_when_the_cluster_expires(demo, platform):
    from api.orchestrator import housekeeping
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "lifetime": "20s"})
    assert r.status_code == 202, r.text
    view = demo.simulate_get(r.headers["location"]).json
    expires = dt.datetime.fromisoformat(view["expires"])
    assert 15 <= (expires - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).total_seconds() <= 20
    assert error(demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "lifetime": "soon"}))["field"] == "lifetime"
    platform.settings.max_lifetime = "1h"
    too_long = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "lifetime": "2h"})
    assert too_long.status_code == 400 and "at most 1h" in too_long.json["message"]
    capped = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1})
    assert demo.simulate_get(capped.headers["location"]).json["expires"] is not None
    # Past its expiry the platform destroys it, saying why.
    Cluster.update(expires=dt.datetime(2000, 1, 1)).where(Cluster.seq == 2).execute()
    assert housekeeping.expire() == 1
    gone = demo.simulate_get(r.headers["location"]).json
    assert gone["status"] == "destroying"
    events = demo.simulate_get(r.headers["location"] + "/events").json["events"]
    assert events[-1]["message"].startswith("destroying: expired: its lifetime ended at")
    ops = demo.simulate_get(r.headers["location"] + "/operations").json["operations"]
    assert ops[-1]["op"] == "destroy" and ops[-1]["who"] == "platform (lifetime)"


def test_options_may_not_take_the_platforms_launch_keys(demo):
    r = demo.simulate_put(f"{P}/products/demo/1.0/options", json={"required": {"size": 2}, "optional": {"lifetime": 1}})
    assert r.status_code == 400 and error(r)["field"] == "options.optional.lifetime"


def test_racing_launches_on_postgresql_cannot_both_pass_a_quota(postgres_url, tmp_path, monkeypatch):
    """Eight launches at once by one user with room for three clusters: three pass, five
    get the 403, whatever the interleaving (a per-user lock in the registration transaction).
    Reading what the user holds is made slow, so that the launches overlap there."""
    import threading
    import time

    from api.clusters import quotas
    counted = quotas.used_by

    def slowly(user):
        use = counted(user)
        time.sleep(0.3)
        return use
    monkeypatch.setattr(quotas, "used_by", slowly)

    from falcon import testing

    from api.core.config import Settings
    from api.http.app import create_app
    from api.platform import Platform
    from support.common import ADMIN_TOKEN
    platform = Platform(Settings(data_dir=tmp_path / "data", database_url=postgres_url, admin_token=ADMIN_TOKEN))
    try:
        client = testing.TestClient(create_app(platform), headers={"x-auth-token": ADMIN_TOKEN})
        ensure_networks()
        # Eight products: launches of one product would queue on its cluster-id index anyway.
        for i in range(8):
            add_product(client, f"quota-race{i}", "1")
        token = add_user(client, "racer")
        assert client.simulate_put(f"{P}/users/racer/quota", json={"clusters": 3}).status_code == 200
        answers = []
        barrier = threading.Barrier(8)

        def go(i):
            barrier.wait()
            answers.append(client.simulate_post(f"{P}/products/quota-race{i}/1", json={"size": 1},
                                                headers=as_user(token)))
        threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        codes = sorted(r.status_code for r in answers)
        assert codes == [202] * 3 + [403] * 5, [r.text for r in answers]
        assert {r.json["message"] for r in answers if r.status_code == 403} == {"clusters: 1 requested, 0 of 3 left"}
        assert client.simulate_get(f"{P}/users/racer/quota").json["use"]["clusters"] == 3
    finally:
        platform.database.close()


def test_quota_arithmetic_names_the_first_limit_short():
    from api.clusters.quotas import Amount, shortfall
    limits = {"clusters": 3, "nodes": None, "cpus": 8, "memory": 4096, "disks": 4}
    used = Amount(clusters=1, nodes=5, cpus=6, memory=1024, disks=4)
    assert shortfall(limits, used, Amount(clusters=1, nodes=3, cpus=6)) == ("cpus", "cpus: 6 requested, 2 of 8 left")
    assert shortfall(limits, used, Amount(clusters=1, memory=4000)) == (
        "memory", "memory: 4000 MB requested, 3072 MB of 4096 MB left")
    assert shortfall(limits, used, Amount(clusters=1, nodes=100, cpus=2)) is None  # nodes: no limit
    assert shortfall(limits, used, Amount(disks=1)) == ("disks", "disks: 1 requested, 0 of 4 left")


def test_auto_replace_queues_a_replace_after_the_grace_period(demo, monkeypatch):
    from api.orchestrator import housekeeping
    ready()
    clock = [1000.0]
    monkeypatch.setattr(housekeeping.time, "monotonic", lambda: clock[0])
    auto = housekeeping.AutoReplace(grace=30)
    Node.update(status="failed", reason="node2's container exited").where(Node.name == "node2").execute()
    assert auto() == 0  # off by default (neither the cluster nor its product asks)
    Cluster.update(auto_replace=True).execute()
    assert auto() == 0  # seen dead now: the grace period starts
    clock[0] += 29
    assert auto() == 0
    clock[0] += 2
    assert auto() == 1
    job = Job.select().order_by(Job.id.desc()).first()
    assert (job.kind, job.params, job.who, job.status) == ("replace", {"nodes": ["node2"]},
                                                          "platform (auto_replace)", "pending")
    clock[0] += 60
    assert auto() == 0  # one at a time: the queued replace is the cluster's head


def test_a_clusters_operations_page_and_its_launch_stays_succeeded_after_retention(demo):
    from api.core.models import Event, utcnow
    from api.core.retention import prune
    Cluster.update(status=st.CONFIGURED).where(Cluster.id == 1).execute()
    assert st.transition(1, st.READY, "orchestrator", "readiness check passed")
    for _ in range(5):
        assert demo.simulate_post(URI + "/operations", json={"op": "status"}).status_code == 202
    pages, url = [], URI + "/operations?limit=2"
    while url and len(pages) < 10:
        r = demo.simulate_get(url)
        assert r.status_code == 200, r.text
        pages.append([o["id"] for o in r.json["operations"]])
        url = r.json["next"]
        assert r.headers.get("link") == (f"<{url}>; rel=next" if url else None)
    assert pages == [[1, 2], [3, 4], [5, 6]]  # launch, then the five checks, each once
    assert demo.simulate_get(URI + "/operations?cursor=nonsense").json["field"] == "cursor"

    # Destroyed; months later its events are pruned, the "ready" one with them: the
    # launch job still says it succeeded (it kept when its cluster became ready).
    assert demo.simulate_delete(URI).status_code == 202
    assert st.transition(1, st.DESTROYED, "framework")
    Event.update(time=utcnow() - dt.timedelta(days=40)).execute()
    assert prune(30, pause=0)["events"] > 0 and not Event.select().where(Event.cluster == 1).exists()
    launch = demo.simulate_get(URI + "/operations?limit=1").json["operations"][0]
    assert (launch["op"], launch["status"], launch["done"]) == ("launch", "succeeded", True)
    assert launch["finished"] and demo.simulate_get(f"{P}/queue/1").json["status"] == "succeeded"

    # A cluster destroyed before it was ever ready: its launch was cancelled.
    assert demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).status_code == 202
    second = Cluster.select().order_by(Cluster.id.desc()).first()
    assert demo.simulate_delete(f"{P}/clusters/admin/demo/1.0/{second.seq}").status_code == 202
    st.transition(second.id, st.DESTROYED, "framework")
    other = demo.simulate_get(f"{P}/clusters/admin/demo/1.0/{second.seq}/operations").json["operations"]
    assert [(o["op"], o["status"]) for o in other][0] == ("launch", "cancelled")

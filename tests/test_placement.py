"""Placement as a pure function: offers and node requests in, a plan or named reasons out.
No database and no Docker."""
from __future__ import annotations

import pytest

from api.framework.placement import BINPACK, Unplaceable, place
from api.framework.request import NodeRequest
from api.infra.host import Offer


def offer(host: str, cpus: float = 4, mem: int = 4096, disks: int = 4, state: str = "active",
          host_id: int | None = None, **kw) -> Offer:
    names = [f"disk{i}" for i in range(disks)]
    return Offer(host_id or hash(host) % 1000, host, cpus, mem, disks, list(names), list(names),
                 total_cpus=cpus, total_mem=mem, state=state, **kw)


def node(name: str, cpu: float = 1, mem: int = 512, disks: int = 0, **kw) -> NodeRequest:
    return NodeRequest(name=name, cpu=cpu, mem=mem, disks=disks, **kw)


def hosts_of(plan) -> dict[str, str]:
    return {name: o.host for name, o in plan.items()}


def test_spread_puts_six_nodes_two_on_each_of_three_hosts():
    plan = place([node(f"n{i}") for i in range(6)], [offer("a"), offer("b"), offer("c")])
    per_host = {}
    for host in hosts_of(plan).values():
        per_host[host] = per_host.get(host, 0) + 1
    assert per_host == {"a": 2, "b": 2, "c": 2}


def test_binpack_fills_one_host_before_the_next():
    plan = place([node(f"n{i}") for i in range(5)], [offer("a"), offer("b")], strategy=BINPACK)
    assert list(hosts_of(plan).values()) == ["a"] * 4 + ["b"]  # 4 cpus each


def test_offers_are_not_spent_by_placing():
    offers = [offer("a", cpus=2)]
    place([node("n1", cpu=2)], offers)
    assert offers[0].cpus == 2 and offers[0].placed == 0


def test_a_plan_never_overcommits_a_host():
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", cpu=0.75), node("n2", cpu=0.75)], [offer("a", cpus=1)])
    assert str(exc.value) == ("node n2 needs 0.75 cpus; largest free offer: 0.25 cpus on host a "
                              "(after placing 1 other nodes of this cluster)")


def test_fractional_cpus_add_up_exactly():
    plan = place([node("n1", cpu=0.1), node("n2", cpu=0.2)], [offer("a", cpus=0.3)])
    assert set(hosts_of(plan).values()) == {"a"}


@pytest.mark.parametrize("request_, expected", [
    (dict(cpu=8), "node n1 needs 8 cpus; largest free offer: 4 cpus on host b"),
    (dict(mem=10**8), "node n1 needs 100000000 MB of memory; largest free offer: 8192 MB of memory on host b"),
    (dict(disks=6), "node n1 needs 6 disks; largest free offer: 4 disks on host a"),
])
def test_the_reason_names_the_need_the_best_offer_and_every_host(request_, expected):
    offers = [offer("a", cpus=2, mem=4096), offer("b", cpus=4, mem=8192, disks=2),
              offer("c", state="drain", state_reason="draining")]
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", **request_)], offers)
    message = str(exc.value)
    assert message.startswith(expected), message
    assert "c: draining" in message
    assert set(exc.value.reasons) == {"a", "b", "c"}
    if "cpu" in request_:
        assert "a: 2 of 2 cpus free" in message and "b: 4 of 4 cpus free" in message


def test_required_host_is_honoured_and_a_missing_one_is_named():
    plan = place([node("n1", required_host="b")], [offer("a", cpus=8), offer("b", cpus=1)])
    assert hosts_of(plan) == {"n1": "b"}
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", required_host="zz")], [offer("a"), offer("b")])
    assert str(exc.value).startswith("node n1 requires host zz, which does not exist (hosts: a, b)")


def test_drained_and_lost_hosts_get_nothing():
    offers = [offer("a", state="drain", state_reason="draining"), offer("b"),
              offer("c", state="lost", state_reason="lost")]
    plan = place([node(f"n{i}") for i in range(3)], offers)
    assert set(hosts_of(plan).values()) == {"b"}
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", required_host="a")], offers)
    assert str(exc.value).startswith("node n1 requires host a, which is draining")
    with pytest.raises(Unplaceable) as exc:
        place([node("n1")], [offers[0], offers[2]])
    assert str(exc.value) == "node n1: no host is available (a: draining; c: lost)"


def test_nodes_of_one_group_never_share_a_host():
    pair = [node("brick1", groups=["replica1"]), node("brick2", groups=["replica1"])]
    plan = place(pair, [offer("a", cpus=16), offer("b", cpus=1)], strategy=BINPACK)
    assert sorted(hosts_of(plan).values()) == ["a", "b"]
    with pytest.raises(Unplaceable) as exc:
        place(pair, [offer("a", cpus=16)])
    assert "must not share a host with the other nodes of group replica1" in str(exc.value)


def test_named_disks_go_where_the_disk_is_and_say_who_holds_it():
    a, b = offer("a", disks=2), offer("b", disks=4)
    plan = place([node("n1", disks=1, named=["disk3"])], [a, b])
    assert hosts_of(plan) == {"n1": "b"}
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", disks=1, named=["disk9"])], [a, b])
    assert str(exc.value).startswith("node n1 needs disk disk9; no host has it "
                                     "(host a: disk0, disk1; host b: disk0..disk3)")
    b.disk_names.remove("disk3")
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", disks=1, named=["disk3"])], [a, b],
              holder=lambda o, d: f"is used on host {o.host} by clusters/x/p/1/1")
    assert str(exc.value).startswith("node n1 needs disk disk3, which is used on host b by clusters/x/p/1/1")
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", disks=1, named=["disk1"]), node("n2", disks=1, named=["disk1"])], [a])
    assert str(exc.value).startswith("node n2 needs disk disk1, which node n1 of this cluster takes on host a")


def test_no_host_at_all():
    with pytest.raises(Unplaceable) as exc:
        place([node("n1")], [])
    assert str(exc.value) == "node n1: no host is available"


def test_anti_affinity_groups_are_the_tags_a_pattern_matches():
    from api.framework.placement import groups_of
    assert groups_of(["responder", "pair2"], ["pair*"]) == ["pair2"]
    assert groups_of(["responder", "pair2"], []) == []
    assert groups_of(["rack-a", "pair1"], ["pair*", "rack-?"]) == ["rack-a", "pair1"]


def test_replica_pairs_split_over_hosts_even_when_binpacking():
    """Gluster's pairs: four nodes, two groups, on hosts big enough for all of them."""
    bricks = [node(f"gluster{i}", groups=[f"pair{(i + 1) // 2}"]) for i in range(1, 5)]
    plan = place(bricks, [offer("a", cpus=16), offer("b", cpus=16), offer("c", cpus=16)],
                 strategy=BINPACK)
    hosts = hosts_of(plan)
    assert hosts["gluster1"] != hosts["gluster2"] and hosts["gluster3"] != hosts["gluster4"]
    assert len(set(hosts.values())) == 2  # binpack still fills as few hosts as it may


def test_every_host_is_named_with_why_it_was_filtered():
    offers = [offer("node-a", cpus=1.5, mem=4096), offer("node-b", state="drain", state_reason="draining"),
              offer("node-c", disks=0)]
    offers[0].total_cpus = 4
    with pytest.raises(Unplaceable) as exc:
        place([node("n1", cpu=2, disks=1)], offers)
    assert exc.value.reasons == {"node-a": "1.5 of 4 cpus free", "node-b": "draining",
                                 "node-c": "no free disk"}
    assert "(node-a: 1.5 of 4 cpus free; node-b: draining; node-c: no free disk)" in str(exc.value)


def test_spread_spreads_each_role_even_beside_the_other_roles():
    """Slurm: a big controller and three compute nodes on three hosts: the computes take
    one host each (counting nodes alone, the third would go beside the second, where more
    cpus are free than beside the controller)."""
    cluster = [node("controller", cpu=2, tags=["controller"])] + [
        node(f"compute{i}", tags=["compute"]) for i in range(1, 4)]
    plan = place(cluster, [offer("a"), offer("b"), offer("c")])
    assert len({plan[f"compute{i}"].host for i in range(1, 4)}) == 3

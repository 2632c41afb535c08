"""Segments without Docker: a tenant network's pool carved into one slice per user, the
pool's reserved last slice, VXLAN identifiers in the platform's own range, and segments
given back when their last address goes."""
from __future__ import annotations

import pytest

from api.core.models import Address, Cluster, Host, Interface, Node, Product, Segment, User
from api.infra import network as networks
from api.infra import segments


def _iface(user: str, net, host=None, device="eth0") -> Interface:
    owner, _ = User.get_or_create(name=user)
    product, _ = Product.get_or_create(name="p", version="1")
    cluster = Cluster.create(user=owner, product=product, seq=Cluster.select().count() + 1)
    node = Node.create(cluster=cluster, name="n1", host=host)
    return Interface.create(node=node, device=device, network=net)


def test_each_tenant_gets_a_slice_of_the_pool_and_the_last_is_reserved(platform):
    net = networks.create_network(name="lab", subnet="10.240.0.0/22", isolation="tenant")
    assert (net.segment_prefix, segments.slices(net)) == (24, 3)
    assert str(segments.reserved_slice(net)) == "10.240.3.0/24"
    got = {u: networks.allocate(_iface(u, net)) for u in ("alice", "bob", "carol")}
    assert got == {"alice": "10.240.0.2", "bob": "10.240.1.2", "carol": "10.240.2.2"}
    assert networks.allocate(_iface("alice", net)) == "10.240.0.3"  # her own segment again
    with pytest.raises(networks.NetworkFull) as exc:
        networks.allocate(_iface("dave", net))
    assert "no free segment for another tenant (3 segments of /24 in 10.240.0.0/22)" in str(exc.value)
    view = networks.network_view(net)
    assert view["segments"] == {"total": 3, "used": 3, "free": 0} and view["used"] == 4


def test_a_shared_network_is_one_segment_for_everyone(platform):
    net = networks.create_network(name="site", subnet="10.241.0.0/24")
    a = networks.allocate(_iface("alice", net))
    b = networks.allocate(_iface("bob", net))
    assert (a, b) == ("10.241.0.2", "10.241.0.3")
    (seg,) = Segment.select()
    assert (seg.owner, seg.subnet, seg.gateway, segments.name(seg)) == (0, "10.241.0.0/24", "10.241.0.1", "")


def test_registered_hosts_get_vxlan_segments_with_vnis_in_the_platforms_range(platform):
    net = networks.create_network(name="lab", subnet="10.242.0.0/16", isolation="tenant")
    host = Host.create(name="node-a", url="tcp://192.0.2.11:2375", address="192.0.2.11")
    base = platform.settings.vni_base
    assert base % 4096 == 0 and 4096 <= base < 2**24 - 4096
    first = _iface("alice", net, host)
    networks.allocate(first, segments.kind_for(net, host), base)
    networks.allocate(_iface("bob", net, host), segments.kind_for(net, host), base)
    vnis = sorted(s.vni for s in Segment.select())
    assert vnis == [base, base + 1]
    # The embedded host's nodes of the same tenant are on a bridge segment of their own.
    networks.allocate(_iface("alice", net, None), segments.kind_for(net, None), base)
    kinds = sorted((segments.owner_name(s), s.kind, s.subnet) for s in Segment.select())
    assert kinds == [("alice", "bridge", "10.242.2.0/24"), ("alice", "vxlan", "10.242.0.0/24"),
                     ("bob", "vxlan", "10.242.1.0/24")]
    assert segments.member_addresses(segments.of_interface(first)) == ["192.0.2.11"]
    Node.update(status="destroyed").execute()  # a destroyed node keeps no host in a segment
    assert segments.member_addresses(segments.of_interface(first)) == []


def test_a_tenants_segment_is_given_back_with_its_last_address(platform):
    net = networks.create_network(name="lab", subnet="10.243.0.0/16", isolation="tenant")
    iface = _iface("alice", net)
    networks.allocate(iface)
    assert Segment.select().count() == 1
    assert networks.release_nodes([iface.node_id]) == 1
    assert Segment.select().count() == 0 and Address.select().count() == 0

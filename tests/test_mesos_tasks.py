"""The Mesos engine's pure parts: the RecordIO reader of the SUBSCRIBE stream, task ids,
agents from GET_AGENTS, and the TaskInfo of a node container. No master, no Docker."""
from __future__ import annotations

import json

from api.engines.base import InterfaceSpec, MountSpec, NodeSpec
from api.engines.mesos_client import read_recordio
from api.engines.mesos_tasks import agents_from, parse_task_id, task_id, task_info


def frame(obj) -> bytes:
    data = json.dumps(obj).encode()
    return str(len(data)).encode() + b"\n" + data


def test_recordio_frames_split_and_joined_across_chunks():
    stream = frame({"type": "SUBSCRIBED"}) + frame({"type": "HEARTBEAT"}) + frame({"n": "é" * 3})
    chunks = [stream[i:i + 5] for i in range(0, len(stream), 5)]
    assert list(read_recordio(chunks)) == [{"type": "SUBSCRIBED"}, {"type": "HEARTBEAT"}, {"n": "ééé"}]
    assert list(read_recordio([stream])) == list(read_recordio(chunks))
    assert list(read_recordio([frame({"a": 1})[:-1]])) == []  # an unfinished record waits


def test_task_ids_round_trip():
    assert task_id(12, "compute-1") == "bdp-12-compute-1"
    assert parse_task_id("bdp-12-compute-1") == (12, "compute-1")
    assert parse_task_id("someone-else") == (None, "")


def test_agents_from_keeps_active_ones_with_their_resources():
    raw = [{"active": True, "agent_info": {"id": {"value": "A1"}, "hostname": "h1",
                                           "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]},
            "total_resources": [{"name": "cpus", "scalar": {"value": 4}}, {"name": "mem", "scalar": {"value": 2048}},
                                {"name": "dataDisks", "set": {"item": ["d2", "d1"]}}]},
           {"active": False, "agent_info": {"id": {"value": "A2"}, "hostname": "h2"}}]
    agents = agents_from(raw)
    assert list(agents) == ["A1"]
    a = agents["A1"]
    assert (a.hostname, a.cpus, a.mem, a.disks, a.attributes) == ("h1", 4, 2048, ["d1", "d2"], {"rack": "r1"})


def test_task_info_carries_limits_labels_address_disks_and_allowed_options():
    spec = NodeSpec(cluster_id=3, cluster_dn="clusters/u/p/1/3", name="n1", host="h1", image="bdp/base:bookworm",
                    cpu=0.5, mem=256, docker_opts="--cap-add SYS_ADMIN -e X=1", privileges={"capabilities": ["SYS_ADMIN"]},
                    interfaces=[InterfaceSpec("eth0", "admin", "10.30.0.0/24", "10.30.0.1", "10.30.0.5")],
                    mounts=[MountSpec("/data/disk0/x", "/data/1", "ro")], env={"BDP_AUTHORIZED_KEYS": "k"})
    info = task_info(spec, "A1", {"disk0"}, "/var/lib/bdp", lambda n: "site-" + n)
    assert info["task_id"] == {"value": "bdp-3-n1"} and info["agent_id"] == {"value": "A1"}
    resources = {r["name"]: r for r in info["resources"]}
    assert resources["cpus"]["scalar"]["value"] == 0.5 and resources["dataDisks"]["set"]["item"] == ["disk0"]
    params = [(p["key"], p["value"]) for p in info["container"]["docker"]["parameters"]]
    assert ("cap-add", "SYS_ADMIN") in params and ("ip", "10.30.0.5") in params
    assert ("label", "org.bdp.platform=/var/lib/bdp") in params
    assert info["container"]["network_infos"][0]["name"] == "site-admin"
    assert info["container"]["volumes"] == [{"container_path": "/data/1", "host_path": "/data/disk0/x", "mode": "RO"}]
    env = {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}
    assert env == {"X": "1", "BDP_AUTHORIZED_KEYS": "k"}

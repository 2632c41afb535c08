"""A cluster waiting for resources costs nothing per pass (issue 11, finding 4): four
clusters with 10 MB options waiting grew the WAL to 2.8 GB in 90 s, because every pass
took and gave back a lease by rewriting the whole cluster row. A real `bdp server` on
SQLite and the real Docker Engine (no container starts: the cluster never places)."""
from __future__ import annotations

import ipaddress
import random
import sqlite3
import time
from pathlib import Path

import pytest

from support.common import wait_for

TEMPLATE = """{
  "nodes": {
    {%- for i in range(1, 3) %}
    "node{{ i }}": {"docker_image": "bdp/base:bookworm", "cpu": 0.1, "mem": 64,
                     "networks": {"eth0": {"networkname": "tiny"}}}{{ "," if not loop.last }}
    {%- endfor %}
  },
  "services": {"all": {"nodes": ["node1", "node2"], "blob": {{ opts.blob | tojson }}}}
}"""
BLOB = 60_000  # characters: near the largest launch value (64 KiB)
WINDOW = 4.0  # seconds watched


def free_subnet(docker_client) -> str:
    used = [ipaddress.ip_network(p["Subnet"]) for n in docker_client.api.networks()
            for p in (n.get("IPAM") or {}).get("Config") or [] if ":" not in p.get("Subnet", ":")]
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/29")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    pytest.fail("no free subnet")


def wal_bytes(data_dir: Path) -> int:
    wal = data_dir / "bdp.sqlite-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_a_waiting_cluster_never_rewrites_its_row(server_factory, docker_client, tmp_path):
    server = server_factory(env={"BDP_POLL_INTERVAL": "0.2"}).start()
    http = server.http()
    subnet = ipaddress.ip_network(free_subnet(docker_client))
    only = str(subnet.network_address + 2)
    # One address for everyone ("shared": too small to give each user a segment).
    assert http.post("/networks", json={"name": "tiny", "subnet": str(subnet), "range_start": only,
                                        "range_end": only, "isolation": "shared"}).status_code == 201
    r = http.post("/products", json={"name": "waits", "version": "1", "template": TEMPLATE,
                                     "options": {"required": {}, "optional": {"blob": ""}, "advanced": {},
                                                 "descriptions": {}}})
    assert r.status_code == 201, r.text
    r = http.post("/products/waits/1", json={"blob": "x" * BLOB})
    assert r.status_code == 202, r.text
    events = r.json()["cluster"].replace("/bigdata/api/v1", "") + "/events"
    wait_for(lambda: any("waiting for resources" in e["message"] for e in http.get(events).json()["events"]),
             60, message="the cluster to wait for an address")

    db = sqlite3.connect(str(server.data_dir / "bdp.sqlite"), timeout=15)
    # Count the writes of the window; each trigger's own write is one more WAL frame in
    # the same transaction, taken off below so the WAL growth is the platform's alone.
    db.executescript("""
        CREATE TABLE test_writes (tbl TEXT PRIMARY KEY, n INTEGER);
        INSERT INTO test_writes VALUES ('cluster', 0), ('lease', 0);
        CREATE TRIGGER test_cluster_writes AFTER UPDATE ON "cluster"
            BEGIN UPDATE test_writes SET n = n + 1 WHERE tbl = 'cluster'; END;
        CREATE TRIGGER test_lease_writes AFTER UPDATE ON "lease"
            BEGIN UPDATE test_writes SET n = n + 1 WHERE tbl = 'lease'; END;
    """)
    frame = db.execute("PRAGMA page_size").fetchone()[0] + 24
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = wal_bytes(server.data_dir)
    time.sleep(WINDOW)
    counts = dict(db.execute("SELECT tbl, n FROM test_writes"))
    written = wal_bytes(server.data_dir) - before - frame * counts["lease"]
    db.close()
    passes = counts["lease"] / 2  # a claim and a release each
    assert passes >= 5, counts  # the framework did look at the cluster, again and again
    assert counts["cluster"] == 0, counts  # ... without writing its row once
    per_pass = written / passes
    print(f"\nwaiting cluster with a {BLOB}-character option: {counts['lease']} lease writes, "
          f"0 cluster-row writes in {WINDOW:g}s; WAL grew {written} bytes in {WINDOW:g}s "
          f"(~{per_pass:.0f} bytes per pass)")
    # Rewriting the row at each claim and release would be over 2 * BLOB bytes a pass.
    assert per_pass < BLOB / 2, (written, passes)
    assert http.get(r.json()["cluster"].replace("/bigdata/api/v1", "")).json()["status"] == "scheduling"

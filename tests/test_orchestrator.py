"""The orchestrator on real containers: configure to ready, failures, actions, logs."""
from __future__ import annotations

import pytest

from api.core import status as st
from api.core.models import Cluster, Event, Run
from api.orchestrator.controller import Orchestrator
from support.orchestrator import cleanup, node_container, node_exec, reference_product, scheduled_cluster


@pytest.fixture
def orch_platform(platform, docker_client):
    platform.settings.start_timeout = 20
    platform.settings.ready_timeout = 15
    yield platform
    cleanup(platform, docker_client)


def test_reference_cluster_reaches_ready_with_marker_everywhere(orch_platform):
    cluster = scheduled_cluster(orch_platform, size=3, marker="hello-from-test")
    assert Orchestrator(orch_platform).step() is True
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY, cluster.reason
    for node in ("node1", "node2", "node3"):
        rc, out = node_exec(orch_platform, cluster, node, ["cat", "/etc/bdp-marker", "/etc/hosts"])
        assert rc == 0 and out.startswith("hello-from-test")
        for other in ("node1", "node2", "node3"):
            assert f" {other} {other}.{cluster.dnsname}" in out
    runs = list(Run.select().where(Run.cluster == cluster).order_by(Run.id))
    assert [r.action for r in runs] == ["start", "status"]
    assert all(r.status == "successful" for r in runs)
    start = runs[0]
    assert "PLAY RECAP" in start.stdout
    tasks = {(e["host"], e["task"]) for e in start.events}
    assert ("node2", "Write the marker file") in tasks
    messages = [e.message for e in Event.select().where(Event.cluster == cluster).order_by(Event.id)]
    assert [m.split(":")[0] for m in messages] == ["configuring", "configured", "ready"]
    # Nothing left to do: the next pass is idle.
    assert Orchestrator(orch_platform).step() is False
    # Runs are kept in the registry; their working directories are not kept on disk.
    assert list((orch_platform.settings.runs_dir / str(cluster.id)).iterdir()) == []


def test_option_values_are_never_templated_by_ansible(orch_platform, tmp_path):
    """A user's option is data: a Jinja2 expression in it must reach the node verbatim,
    not run on the platform host."""
    witness = tmp_path / "pwned"
    payload = f"{{{{ lookup('pipe', 'touch {witness}; echo PWNED') }}}}"
    cluster = scheduled_cluster(orch_platform, size=1, marker=payload)
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY, cluster.reason
    rc, out = node_exec(orch_platform, cluster, "node1", ["cat", "/etc/bdp-marker"])
    assert rc == 0 and out.strip() == payload
    assert not witness.exists()


FAILING_PLAYBOOK = b"""
- hosts: all
  gather_facts: false
  tags: [start]
  roles: [wait_for_ssh]
  tasks:
    - name: Break on the second node
      ansible.builtin.command: sh -c 'echo disk on fire >&2; exit 3'
      when: inventory_hostname == 'node2'
"""


def test_failing_task_fails_the_cluster_naming_host_and_task(orch_platform):
    product = reference_product(FAILING_PLAYBOOK, name="broken")
    cluster = scheduled_cluster(orch_platform, size=2, product=product)
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert "node2" in cluster.reason and "Break on the second node" in cluster.reason
    assert "disk on fire" in cluster.reason
    run = Run.get(Run.cluster == cluster)
    assert run.status == "failed" and run.rc != 0
    failed = [e for e in run.events if e["status"] == "failed"]
    assert failed == [{**failed[0], "host": "node2", "task": "Break on the second node"}]


def test_unreachable_node_fails_the_cluster_naming_the_node(orch_platform, docker_client):
    orch_platform.settings.start_timeout = 8
    cluster = scheduled_cluster(orch_platform, size=2)
    node_container(orch_platform, docker_client, cluster, "node2").stop(timeout=1)
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert "node node2" in cluster.reason and "unreachable" in cluster.reason
    assert "node1" not in cluster.reason


def test_actions_stop_status_start_restart(orch_platform):
    cluster = scheduled_cluster(orch_platform, size=2)
    orch = Orchestrator(orch_platform)
    orch.step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY

    answer = orch.run_action(cluster, "status")
    assert answer["result"] == "successful" and answer["status"] == st.READY

    answer = orch.run_action(cluster, "stop")
    assert answer["result"] == "successful" and answer["status"] == st.STOPPED
    assert node_exec(orch_platform, cluster, "node1", ["test", "-e", "/run/bdp-running"])[0] == 1

    answer = orch.run_action(Cluster.get_by_id(cluster.id), "status")
    assert answer["result"] == "failed" and answer["status"] == st.STOPPED
    assert "not running" in answer["reason"]

    answer = orch.run_action(Cluster.get_by_id(cluster.id), "start")
    assert answer["result"] == "successful" and answer["status"] == st.READY
    assert node_exec(orch_platform, cluster, "node2", ["test", "-e", "/run/bdp-running"])[0] == 0

    answer = orch.run_action(Cluster.get_by_id(cluster.id), "restart")
    assert answer["result"] == "successful" and answer["status"] == st.READY
    actions = [r.action for r in Run.select().where(Run.cluster == cluster).order_by(Run.id)]
    assert actions[-2:] == ["restart", "status"]


def test_actions_at_once_are_capped_so_the_api_keeps_answering(orch_platform):
    """An action holds its request until the playbook is done; past BDP_MAX_ACTIONS the API
    says 503 with Retry-After at once instead of tying up every request thread."""
    import threading

    from falcon import testing

    from api.http.app import create_app
    from support.common import ADMIN_TOKEN, wait_for
    orch_platform.settings.max_actions = 1
    client = testing.TestClient(create_app(orch_platform), headers={"x-auth-token": ADMIN_TOKEN})
    cluster = scheduled_cluster(orch_platform, size=1)
    Orchestrator(orch_platform).step()
    path = f"/bigdata/api/v1/{Cluster.get_by_id(cluster.id).dn}/actions"
    answers = {}
    running = threading.Thread(target=lambda: answers.update(
        restart=client.simulate_post(f"{path}/restart")))
    running.start()
    wait_for(lambda: Run.select().where((Run.cluster == cluster) & (Run.action == "restart")).exists(),
             60, message="the restart run")
    refused = client.simulate_post(f"{path}/status")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
    assert "1 cluster actions are running already" in refused.json["message"]
    running.join(120)
    assert answers["restart"].status_code == 200 and answers["restart"].json["status"] == st.READY
    assert client.simulate_post(f"{path}/status").json["result"] == "successful"

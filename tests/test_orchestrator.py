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


def _op(platform, cluster, op: str, **params):
    """Queue an operation and run it with one executor pass (in this thread)."""
    from api.clusters import operations
    from api.core.models import Job
    from api.orchestrator.operations import Operations
    job = operations.add(Cluster.get_by_id(cluster.id), op, params, "alice")
    assert Operations(platform).step() is True
    return Job.get_by_id(job.id)


def test_operations_stop_status_start_restart(orch_platform):
    cluster = scheduled_cluster(orch_platform, size=2)
    Orchestrator(orch_platform).step()
    assert Cluster.get_by_id(cluster.id).status == st.READY

    job = _op(orch_platform, cluster, "status")
    assert job.status == "succeeded" and job.result["cluster_status"] == st.READY

    job = _op(orch_platform, cluster, "stop")
    assert job.status == "succeeded" and Cluster.get_by_id(cluster.id).status == st.STOPPED
    assert node_exec(orch_platform, cluster, "node1", ["test", "-e", "/run/bdp-running"])[0] == 1

    job = _op(orch_platform, cluster, "status")
    assert job.status == "failed" and job.result["cluster_status"] == st.STOPPED
    assert "not running" in job.reason and Run.get_by_id(job.run).status == "failed"

    job = _op(orch_platform, cluster, "start")
    assert job.status == "succeeded" and Cluster.get_by_id(cluster.id).status == st.READY
    assert node_exec(orch_platform, cluster, "node2", ["test", "-e", "/run/bdp-running"])[0] == 0

    job = _op(orch_platform, cluster, "restart")
    assert job.status == "succeeded" and Cluster.get_by_id(cluster.id).status == st.READY
    actions = [r.action for r in Run.select().where(Run.cluster == cluster).order_by(Run.id)]
    assert actions[-2:] == ["restart", "status"]
    # Nothing more queued: the next pass is idle.
    from api.orchestrator.operations import Operations
    assert Operations(orch_platform).step() is False


BREAKS_ON_START = FAILING_PLAYBOOK.replace(b"tags: [start]", b"tags: [start, restart]") + b"""
- hosts: all
  gather_facts: false
  tags: [status, stop]
  tasks:
    - name: Fine
      ansible.builtin.command: "true"
"""


def test_a_failing_day2_operation_fails_the_operation_not_the_cluster(orch_platform):
    """Item 9 of issue 16: a failing restart on a ready cluster fails the operation (its
    reason and run), the cluster stays ready, and its health names the problem."""
    from api.clusters.views import day2_of
    product = reference_product(BREAKS_ON_START, name="breaks-on-start")
    cluster = scheduled_cluster(orch_platform, size=2, product=product)
    Cluster.update(status=st.READY).where(Cluster.id == cluster.id).execute()
    job = _op(orch_platform, cluster, "restart")
    assert job.status == "failed" and "Break on the second node" in job.reason and "node2" in job.reason
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY and cluster.reason == ""
    health = day2_of([cluster])[cluster.id]["health"]
    assert health["status"] == "degraded"
    assert health["problems"] == [{"operation": job.id, "op": "restart", "status": "failed",
                                   "reason": job.reason}]
    # The next operation that passes clears it.
    assert _op(orch_platform, cluster, "status").status == "succeeded"
    assert day2_of([cluster])[cluster.id]["health"] == {"status": "healthy", "problems": []}


def test_a_database_busy_while_a_playbook_runs_does_not_lose_the_run(orch_platform, monkeypatch):
    """Renewing the run's lease can meet a database busy past its timeout (a loaded
    machine): the run goes on to ready; it is not given up for another pass to kill."""
    from peewee import OperationalError

    from api.core import lease
    orch_platform.settings.lease_seconds = 3  # a renewal every second of the run
    renewals = []
    claim = lease.claim

    def busy(cluster_id, owner, seconds, statuses=None):
        if statuses != st.RUN_HOLDS:  # the controller's own claims go through
            return claim(cluster_id, owner, seconds, statuses)
        renewals.append(cluster_id)  # a running playbook's renewal: the database is busy
        raise OperationalError("database is locked")
    monkeypatch.setattr(lease, "claim", busy)
    cluster = scheduled_cluster(orch_platform, size=1)
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY, cluster.reason
    assert renewals  # the start run did meet the busy database
    assert [(r.action, r.status) for r in Run.select().where(Run.cluster == cluster).order_by(Run.id)][0] == (
        "start", "successful")


def test_ansible_runner_raising_is_told_as_such_not_as_a_signal(orch_platform, monkeypatch):
    import ansible_runner.runner

    def broken(self):
        raise RuntimeError("pexpect lost its child")
    monkeypatch.setattr(ansible_runner.runner.Runner, "run", broken)
    cluster = scheduled_cluster(orch_platform, size=1)
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert cluster.reason == "start: ansible-runner broke off the run: RuntimeError('pexpect lost its child')"
    assert "signal" not in cluster.reason


@pytest.fixture
def end_of_output_times_out(monkeypatch):
    """ansible-runner#1343: after the playbook has ended, ansible-runner's last read of its
    output (`expect(EOF, timeout=5)`) raises TIMEOUT now and then. Here it always does,
    once the output is read."""
    import pexpect
    real = pexpect.spawn.expect

    def expect(self, pattern, *args, **kwargs):
        found = real(self, pattern, *args, **kwargs)
        if pattern is pexpect.EOF and kwargs.get("timeout") == 5:
            raise pexpect.exceptions.TIMEOUT("Timeout exceeded.")
        return found
    monkeypatch.setattr(pexpect.spawn, "expect", expect)


def test_a_run_whose_end_of_output_times_out_stands_by_its_recap(orch_platform, end_of_output_times_out):
    cluster = scheduled_cluster(orch_platform, size=2)
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY, cluster.reason
    assert [r.status for r in Run.select().where(Run.cluster == cluster)] == ["successful", "successful"]


def test_a_failed_run_whose_end_of_output_times_out_names_its_task(orch_platform, end_of_output_times_out):
    cluster = scheduled_cluster(orch_platform, size=2, product=reference_product(FAILING_PLAYBOOK, name="broken"))
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert "Break on the second node" in cluster.reason and "node2" in cluster.reason, cluster.reason

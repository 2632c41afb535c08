"""What a product author sees when their playbook is wrong (issue: product authors).

A missing role names itself and where it was asked for, at a path that exists; a status
play with an error fails the cluster at once instead of waiting out the ready timeout; a
fix loaded while the readiness check retries is what the next retry runs."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from api.core import status as st
from api.core.models import Cluster, Product
from api.orchestrator.controller import Orchestrator
from support.orchestrator import cleanup, reference_product, scheduled_cluster

MISSING_ROLE = b"""
- hosts: all
  gather_facts: false
  tags: [start]
  tasks:
    - name: Stop redis first
      ansible.builtin.import_role: {name: redis, tasks_from: stop}
"""


def start_then_status(status_task: bytes) -> bytes:
    """A playbook whose start pings and whose status play runs `status_task`."""
    return b"""
- hosts: all
  gather_facts: false
  tags: [start]
  tasks:
    - ansible.builtin.ping:
- hosts: all
  gather_facts: false
  tags: [status]
  tasks:
    - name: The daemon answers
""" + status_task


TYPO_IN_STATUS = start_then_status(b"""\
      ansible.builtin.assert:
        that: false
        fial_msg: not yet
""")

NOT_YET = start_then_status(b"""\
      ansible.builtin.command: test -e /tmp/%s
      changed_when: false
""")


@pytest.fixture
def orch_platform(platform, docker_client):
    platform.settings.start_timeout = 20
    platform.settings.ready_timeout = 120
    yield platform
    cleanup(platform, docker_client)


def test_a_missing_role_is_named_with_a_real_origin(orch_platform):
    cluster = scheduled_cluster(orch_platform, size=1, product=reference_product(MISSING_ROLE, name="norole"))
    Orchestrator(orch_platform).step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert cluster.reason.startswith("start: the playbook cannot run: the role 'redis' was not found"), cluster.reason
    origin = re.search(r"Origin: (\S+?):(\d+):\d+", cluster.reason)
    assert origin, cluster.reason
    path, line = Path(origin.group(1)), int(origin.group(2))
    # The failed run's directory is kept, so the path ansible names is real.
    assert path.is_file() and "import_role" in path.read_text().splitlines()[line - 1]


def test_an_error_in_the_status_play_fails_at_once(orch_platform):
    cluster = scheduled_cluster(orch_platform, size=1, product=reference_product(TYPO_IN_STATUS, name="typo"))
    started = time.monotonic()
    Orchestrator(orch_platform).step()
    took = time.monotonic() - started
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert "the readiness check cannot pass" in cluster.reason and "fial_msg" in cluster.reason, cluster.reason
    assert took < 60, f"waited {took:.0f}s for a check that could never pass"


def test_a_fix_loaded_while_waiting_is_what_the_next_retry_runs(orch_platform):
    product = reference_product(NOT_YET % b"never-there", name="fixme")
    cluster = scheduled_cluster(orch_platform, size=1, product=product)
    orchestrator = Orchestrator(orch_platform)
    worker = threading.Thread(target=orchestrator.step)
    worker.start()

    def waiting_with_a_reason():
        c = Cluster.get_by_id(cluster.id)
        return c.status == st.CONFIGURED and "The daemon answers" in c.reason
    deadline = time.monotonic() + 90
    while not waiting_with_a_reason() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert waiting_with_a_reason(), Cluster.get_by_id(cluster.id).reason  # the wait says why
    Product.update(orchestrator=NOT_YET % b"").where(Product.id == product.id).execute()  # `test -e /tmp/`
    worker.join(90)
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.READY, cluster.reason

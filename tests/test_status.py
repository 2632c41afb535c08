"""The cluster state machine (api/core/status.py): which transitions exist, and that a
transition is a conditional update that also records an event."""
from __future__ import annotations

import pytest

from api.core import status as st


def test_every_status_but_destroyed_can_be_destroyed():
    for status, targets in st.TRANSITIONS.items():
        if status in (st.DESTROYING, st.DESTROYED):
            continue
        assert st.DESTROYING in targets, status
    assert st.TRANSITIONS[st.DESTROYED] == set()
    assert st.TRANSITIONS[st.DESTROYING] == {st.DESTROYED}


def test_the_seed_path_is_a_chain_of_allowed_transitions():
    path = [st.REGISTERED, st.SCHEDULING, st.SCHEDULED, st.CONFIGURING, st.CONFIGURED, st.READY]
    for here, there in zip(path, path[1:]):
        assert there in st.TRANSITIONS[here], (here, there)


def test_controller_sets_name_real_statuses():
    every = set(st.TRANSITIONS)
    for name in ("ACTIVE", "FINAL", "FRAMEWORK_CLAIMS", "ORCHESTRATOR_CLAIMS", "WATCHED",
                 "FAIL_ON_DEAD_NODE", "ACTION_FROM", "STATUS_ACTION_FROM", "RUN_HOLDS"):
        assert getattr(st, name) <= every, name


def test_an_illegal_expected_status_is_a_programming_error(platform):
    with pytest.raises(st.TransitionError):
        st.transition(1, st.READY, "test", expect=st.REGISTERED)


def test_transition_is_conditional_and_recorded(platform):
    from api.core.models import Cluster, Event, Product, User
    user = User.create(name="u")
    product = Product.create(name="p", version="1")
    cluster = Cluster.create(user=user, product=product, seq=1)
    assert st.transition(cluster, st.SCHEDULING, "framework", "placing", expect=st.REGISTERED)
    assert cluster.status == st.SCHEDULING
    # A second mover expecting the old status loses, and records nothing.
    assert not st.transition(cluster.id, st.SCHEDULING, "framework", expect=st.REGISTERED)
    assert st.fail(cluster, "framework", "no host")
    row = Cluster.get_by_id(cluster.id)
    assert (row.status, row.reason) == (st.FAILED, "no host")
    assert [e.message for e in Event.select().order_by(Event.id)] == [
        "scheduling: placing", "failed: no host"]
    assert Event.get(Event.message == "failed: no host").level == "error"

"""The survey: one look at the engine's containers every few seconds (one list call
over every host that answers; nodes on the others are unknown, not dead).

It removes orphans (containers of this platform whose cluster is destroyed or gone),
notices nodes that died after scheduling (the node goes `failed` with the reason, the
cluster gets an event naming it, and a cluster not yet `ready` fails), takes back the
nodes of a host that returned and cleans up after clusters destroyed while it was away
(recovery.py; also what a node replaced onto another host left on its lost one), sets
every cluster's health, and now and then removes the network
segments nothing uses any more.
"""
from __future__ import annotations

import logging
import time

from peewee import JOIN

from api.core import status as st
from api.core.models import Cluster, Host, Node
from api.core.status import NodeStatus
from api.engines.base import ContainerState, NodeState
from api.framework import recovery
from api.infra import network, segments

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
SEGMENT_SECONDS = 10  # how often unused network segments are looked for


class Survey:
    def __init__(self, platform):
        self.platform = platform
        self._suspects: set[int] = set()  # nodes seen dead on the last survey
        self._converged = 0.0

    @property
    def engine(self):
        return self.platform.engine

    def __call__(self) -> bool:
        states = self.engine.list_nodes()
        silent = self.engine.silent_hosts()
        did = self.reap_orphans(states)
        did = recovery.reap_strays(self.engine, states, silent) or did
        did = self.watch(states) or did
        did = recovery.readopt(self.engine, states, silent) or did
        if recovery.clean_pending(self.engine, silent):
            did = True
            self._converged = 0.0  # what the cleaned-up nodes used goes now too
        did = recovery.release_left_disks(self.engine, silent) or did
        did = recovery.refresh_health() or did
        if time.monotonic() - self._converged >= SEGMENT_SECONDS:
            did = self.converge() or did
        return did

    def converge(self) -> bool:
        """Network segments: what no holding node uses goes, what is used is complete."""
        self._converged = time.monotonic()
        wanted, vnis = segments.wanted_on_hosts()
        try:
            return bool(self.engine.converge_segments(wanted, vnis, segments.vxlan_members()))
        except Exception as exc:  # the next pass tries again
            log.warning("network segments: %s", exc)
            return False

    def reap_orphans(self, states: list[NodeState]) -> bool:
        """Remove containers of this platform whose cluster is destroyed or unknown."""
        reaped = False
        for state in states:
            cluster = Cluster.get_or_none(Cluster.id == state.cluster_id) \
                if state.cluster_id is not None else None
            if cluster is None or cluster.status == st.DESTROYED:
                log.info("removing orphan container %s (cluster %s)", state.container_id[:12],
                         state.cluster_id)
                self.engine.reap(state)
                reaped = True
        return reaped

    def watch(self, states: list[NodeState]) -> bool:
        """Running nodes of scheduled-or-later clusters whose container is gone or exited."""
        alive = {(s.cluster_id, s.name) for s in states if s.state in ContainerState.ALIVE}
        # Nodes on a host the engine could not ask are not dead, only unknown: a host silent
        # long enough is lost, and its nodes with it (api/framework/hosts.py).
        silent = self.engine.silent_hosts()
        rows = (Node.select(Node.id, Node.name, Node.cluster, Host.name.alias("host_name"))
                .join(Cluster).switch(Node).join(Host, JOIN.LEFT_OUTER, on=(Node.host == Host.id))
                .where((Node.status == NodeStatus.RUNNING) & Cluster.status.in_(st.WATCHED)
                       & (Host.lost_since.is_null()))
                .objects())
        dead = {n.id: n for n in rows
                if (n.cluster_id, n.name) not in alive and n.host_name not in silent}
        # Acted on when seen dead on two surveys in a row: an engine's view can be briefly
        # incomplete (Mesos answers reconciliation a task at a time after a restart).
        suspects, self._suspects = self._suspects, set(dead)
        did = False
        for node_id, node in dead.items():
            if node_id in suspects:
                did = self.node_died(node) or did
        return did

    def node_died(self, node: Node) -> bool:
        state = self.engine.node_state(node.cluster_id, node.name)  # for the reason (logs)
        if state.state in ContainerState.ALIVE:
            return False
        what = {ContainerState.MISSING: "'s container disappeared",
                ContainerState.EXITED: "'s container exited"}.get(state.state, " failed")
        reason = f"node {node.name}{what}" + (f": {state.logs}" if state.logs else "")
        watched = Cluster.select(Cluster.id).where(Cluster.status.in_(st.WATCHED))
        with network.write_transaction():
            # Conditional, so a cluster a DELETE reached meanwhile is left to the destroy.
            changed = Node.update(status=NodeStatus.FAILED, reason=reason).where(
                (Node.id == node.id) & (Node.status == NodeStatus.RUNNING) & Node.cluster.in_(watched)
            ).execute()
            if changed:
                log.warning("cluster %s: %s", node.cluster_id, reason)
                st.record(node.cluster_id, COMPONENT, reason, level="error")
                st.fail(node.cluster_id, COMPONENT, reason, expect=st.FAIL_ON_DEAD_NODE)
        return bool(changed)

"""Hosts die: the framework probes every host every few seconds and decides which are lost.

A probe round (`probe`) asks every host's engine at once, each within a short timeout
(engines/docker_hosts.py), and records who answered and when (`last_seen` is when the
round started, so a host is never younger than its last answer). `judge` runs more
often than probes: a registered host silent for BDP_HOST_TIMEOUT becomes `lost` (no new
node goes there, see feasible.host_state), its nodes `lost` with the reason, and each
affected cluster gets an event (and the platform one of its own, with no cluster: the
admins' event stream shows it); a lost host that answered again is active again. What
its return means for its nodes (adopted, failed, cleaned up) is recovery.py's, run by
the survey. Probing runs in a thread of its own, so a silent host never stalls the
controller's loop.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from api.core import status as st
from api.core.models import Host, Node, utcnow
from api.core.status import NodeStatus
from api.infra import host as hosts
from api.infra.network import write_transaction

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
JUDGE_SECONDS = 0.5


class HostMonitor:
    def __init__(self, platform):
        self.platform = platform
        self.settings = platform.settings

    @property
    def engine(self):
        return self.platform.engine

    def probe(self) -> None:
        """One round: every host's engine, at once; the registry records who answered."""
        started = utcnow()
        hosts.sync_hosts(self.engine, self.engine.hosts(), seen_at=started)

    def run(self, stop: threading.Event) -> None:
        """Probe every BDP_PROBE_INTERVAL and judge every JUDGE_SECONDS until `stop`."""
        prober = ThreadPoolExecutor(1, thread_name_prefix="bdp-fw-probe")
        pending, next_probe = None, 0.0
        try:
            while not stop.is_set():
                if pending is None and time.monotonic() >= next_probe:
                    next_probe = time.monotonic() + self.settings.probe_interval
                    pending = prober.submit(self.probe)
                if pending is not None and pending.done():
                    if pending.exception() is not None:
                        log.warning("probing hosts: %s", pending.exception())
                    pending = None
                try:
                    if self.judge():
                        self.platform.wake("framework")
                except Exception:
                    log.exception("judging hosts failed")
                stop.wait(JUDGE_SECONDS)
        finally:
            prober.shutdown(wait=False, cancel_futures=True)

    def judge(self) -> bool:
        """Lost hosts become lost, lost hosts that answered are back; True if any changed."""
        changed = False
        now = utcnow()
        timeout = self.settings.host_timeout
        for host in Host.select().where((Host.url != "") & (Host.active == True)):  # noqa: E712
            if host.lost_since is None and (now - host.last_seen).total_seconds() >= timeout:
                changed = self.lose(host, now) or changed
            elif host.lost_since is not None and host.last_seen > host.lost_since:
                changed = self.back(host) or changed
        return changed

    def lose(self, host: Host, now) -> bool:
        silent = (now - host.last_seen).total_seconds()
        reason = (f"host {host.name} lost: no answer for {silent:.0f}s "
                  f"(since {host.last_seen.isoformat(timespec='seconds')}Z)")
        with write_transaction():
            if not Host.update(lost_since=now).where((Host.id == host.id)
                                                     & Host.lost_since.is_null()).execute():
                return False
            lost = list(Node.select(Node.id, Node.name, Node.cluster).where(
                (Node.host == host) & Node.status.in_((NodeStatus.QUEUED, NodeStatus.RUNNING,
                                                       NodeStatus.STOPPED))))
            if lost:
                Node.update(status=NodeStatus.LOST, reason=reason).where(
                    Node.id.in_([n.id for n in lost])).execute()
            st.record(None, COMPONENT, f"{reason}; {len(lost)} node(s) lost", level="error")
            for cluster_id, names in _by_cluster(lost).items():
                st.record(cluster_id, COMPONENT, f"{reason}; node(s) {', '.join(names)} lost",
                          level="error")
        log.warning("%s; %d node(s) lost", reason, len(lost))
        return True

    def back(self, host: Host) -> bool:
        if not Host.update(lost_since=None).where((Host.id == host.id)
                                                  & Host.lost_since.is_null(False)).execute():
            return False
        st.record(None, COMPONENT, f"host {host.name} answers again")
        self.engine.host_returned(host.name)
        waiting = list(Node.select(Node.name, Node.cluster).where(
            (Node.host == host) & (Node.status == NodeStatus.LOST)))
        for cluster_id, names in _by_cluster(waiting).items():
            st.record(cluster_id, COMPONENT, f"host {host.name} answers again; looking at "
                      f"node(s) {', '.join(names)}")
        log.warning("host %s answers again", host.name)
        return True


def _by_cluster(nodes) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for n in nodes:
        out.setdefault(n.cluster_id, []).append(n.name)
    return out

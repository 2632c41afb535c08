"""Retention: what is older than `BDP_RETENTION_DAYS` (default 30; 0 keeps everything)
goes, a small batch per transaction so no write lock is held for long:

* destroyed clusters destroyed before the window, with everything they own (nodes, events,
  runs, jobs, documents: the foreign keys cascade), but never one whose nodes still hold a
  disk or an address: their host was away when it was destroyed, and what they hold is
  cleaned and given back on its return (api/framework/recovery.py); deleting the nodes
  would hand out a disk with its data, and an address a container may still use;
* events older than the window;
* playbook runs that finished before the window, but never a cluster's last run: with the
  cluster's own `reason` (and its nodes' reasons) it says why a cluster is as it is, for
  as long as the cluster exists.

`Retention(platform).run(stop)` prunes once a while in a thread of `bdp server` and of
`bdp framework`; two processes pruning at once only delete the same rows.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from peewee import fn

from api.core import status
from api.core.models import Address, Cluster, Disk, Event, Interface, Node, Run, db, utcnow

log = logging.getLogger("bdp.retention")

BATCH = 200  # rows (clusters: 20) per transaction
PAUSE = 0.05  # seconds between batches: other writers get their turn
EVERY = 600.0  # seconds between passes


def _batches(select_ids, delete, size: int, pause: float) -> int:
    """Delete in batches of `size` ids until none are left; the count deleted."""
    total = 0
    while True:
        with db.atomic():
            ids = [i for (i,) in select_ids().limit(size).tuples()]
            if ids:
                total += delete(ids)
        if len(ids) < size:
            return total
        time.sleep(pause)


def _still_holding():
    """The clusters whose nodes still hold a host disk or an address."""
    disks = Disk.select(Disk.node).where(Disk.node.is_null(False))
    addresses = (Interface.select(Interface.node)
                 .join(Address, on=(Address.interface == Interface.id)))
    return Node.select(Node.cluster).where(Node.id.in_(disks) | Node.id.in_(addresses))


def prune(days: float, now: dt.datetime | None = None, batch: int = BATCH, pause: float = PAUSE) -> dict:
    """One pass; returns how many clusters, events and runs it removed."""
    if days <= 0:
        return {"clusters": 0, "events": 0, "runs": 0}
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    clusters = _batches(
        lambda: Cluster.select(Cluster.id).where((Cluster.status == status.DESTROYED)
                                                 & (Cluster.status_since < cutoff)
                                                 & Cluster.id.not_in(_still_holding())).order_by(Cluster.id),
        lambda ids: Cluster.delete().where(Cluster.id.in_(ids)).execute(), max(1, batch // 10), pause)
    events = _batches(
        lambda: Event.select(Event.id).where(Event.time < cutoff).order_by(Event.id),
        lambda ids: Event.delete().where(Event.id.in_(ids)).execute(), batch, pause)
    last_runs = Run.select(fn.MAX(Run.id)).group_by(Run.cluster)
    runs = _batches(
        lambda: Run.select(Run.id).where(Run.finished.is_null(False) & (Run.finished < cutoff)
                                         & Run.id.not_in(last_runs)).order_by(Run.id),
        lambda ids: Run.delete().where(Run.id.in_(ids)).execute(), batch, pause)
    return {"clusters": clusters, "events": events, "runs": runs}


class Retention:
    """The background task: a pass at start and then every EVERY seconds."""

    def __init__(self, platform, every: float = EVERY):
        self.days = platform.settings.retention_days
        self.every = every

    def run(self, stop) -> None:
        if self.days <= 0:
            log.info("retention off (BDP_RETENTION_DAYS=0): nothing is pruned")
            return
        while not stop.is_set():
            try:
                removed = prune(self.days)
                if any(removed.values()):
                    log.info("pruned what is older than %g days: %s", self.days, removed)
            except Exception as exc:  # noqa: BLE001 - try again next pass; the registry is unharmed
                log.warning("retention pass failed: %s", exc)
            stop.wait(self.every)

"""Disks service views: GET /hosts and GET /hosts/<host>/disks."""
from __future__ import annotations

import logging
import time

from api.core.config import API_PREFIX
from api.core.errors import NotFound
from api.core.models import Disk, Host
from api.infra import disk as disks
from api.infra import host as hosts

log = logging.getLogger("bdp.hosts")
SYNC_SECONDS = 30


class _Sync:
    """Refresh the hosts from the engine at most every SYNC_SECONDS."""

    def __init__(self, platform):
        self.platform = platform
        self.last = 0.0

    def __call__(self):
        if time.monotonic() - self.last < SYNC_SECONDS:
            return
        try:
            hosts.sync_hosts(self.platform.engine)
            self.last = time.monotonic()
        except Exception as exc:  # serve what the registry has; say why it may be stale
            log.warning("cannot refresh hosts from the %s engine: %s", self.platform.settings.engine, exc)


class HostsResource:
    def __init__(self, sync):
        self.sync = sync

    def on_get(self, req, resp):
        self.sync()
        offers = {o.host_id: o for o in hosts.offers()}
        resp.media = [hosts.host_view(h, offers.get(h.id)) for h in Host.select().order_by(Host.name)]


class _OneHost:
    def __init__(self, sync):
        self.sync = sync

    def host(self, name: str) -> Host:
        self.sync()
        h = Host.get_or_none(Host.name == name)
        if h is None:
            raise NotFound(f"no host {name}")
        return h


class HostResource(_OneHost):
    def on_get(self, req, resp, host):
        h = self.host(host)
        offer = next((o for o in hosts.offers() if o.host_id == h.id), None)
        resp.media = hosts.host_view(h, offer)


class DisksResource(_OneHost):
    def on_get(self, req, resp, host):
        h = self.host(host)
        resp.media = [disks.disk_view(d, viewer=req.context.user)
                      for d in Disk.select().where(Disk.host == h).order_by(Disk.id)]


def add_routes(app, platform) -> None:
    sync = _Sync(platform)
    app.add_route(f"{API_PREFIX}/hosts", HostsResource(sync))
    app.add_route(f"{API_PREFIX}/hosts/{{host}}", HostResource(sync))
    app.add_route(f"{API_PREFIX}/hosts/{{host}}/disks", DisksResource(sync))

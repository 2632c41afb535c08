"""Hosts: POST /hosts (admin: register a Docker endpoint), GET /hosts[/<name>] (totals,
used, free, state, last seen), PATCH /hosts/<name> (admin: drain, activate, labels,
overrides), DELETE /hosts/<name> (admin; refused while nodes live there), and
GET /hosts/<name>/disks. Users see hosts without how to reach them (url, address)."""
from __future__ import annotations

import logging
import time

import falcon
from spectree import Response

from api.core.auth import is_admin
from api.core.config import API_PREFIX
from api.core.errors import Conflict
from api.core.models import Disk, Host
from api.engines.base import Capability
from api.http.middleware import require_admin
from api.http.openapi import validate
from api.http.pagination import paginate
from api.http.schemas import DiskList, HostList, HostView
from api.infra import disk as disks
from api.infra import host as hosts
from api.infra import host_registration as registration

log = logging.getLogger("bdp.hosts")
SYNC_SECONDS = 30
ADMIN_ONLY = ("url", "address", "tls", "disk_paths", "warning", "overrides")


class _Sync:
    """Refresh found hosts (the embedded engine, Mesos agents) at most every SYNC_SECONDS.
    Registered hosts are probed by the framework, never from a request thread: a lost
    host must not hold up the API."""

    def __init__(self, platform):
        self.platform = platform
        self.last = 0.0

    def __call__(self):
        if time.monotonic() - self.last < SYNC_SECONDS or hosts.registered_hosts():
            return
        try:
            hosts.sync_hosts(self.platform.engine)
            self.last = time.monotonic()
        except Exception as exc:  # serve what the registry has; say why it may be stale
            log.warning("cannot refresh hosts from the %s engine: %s", self.platform.settings.engine, exc)


def _view(req, host: Host, offer=None, taken=None) -> dict:
    out = hosts.host_view(host, offer, taken)
    if not is_admin(req.context.user):
        for key in ADMIN_ONLY:
            out.pop(key, None)
    return out


class HostsResource:
    def __init__(self, platform, sync):
        self.platform = platform
        self.sync = sync

    @validate(resp=Response(HTTP_200=HostList))
    def on_get(self, req, resp):
        """Every host with totals, what is used and free, state and last seen, a page at a
        time in name order (the next page's URL is in the Link header, as the answer is a list)."""
        self.sync()
        rows, _ = paginate(Host.select(), Host.name, req, resp, kind=str)
        offers = {o.host_id: o for o in hosts.offers([h.id for h in rows])}
        taken = hosts.used()
        resp.media = [_view(req, h, offers.get(h.id), taken) for h in rows]

    @validate(resp=Response(HTTP_201=HostView))
    def on_post(self, req, resp):
        """Register a host: name, url, disks, labels, tls, cpus and mem overrides (admin)."""
        require_admin(req)
        wanted = registration.parse_host(req.get_media())
        engine = self.platform.engine
        if Capability.HOSTS not in engine.capabilities:
            raise Conflict(f"the {engine.name} engine finds its hosts itself; hosts are "
                           "registered with the docker engine only", field="url")
        host = registration.register(engine, wanted)
        self.platform.wake("framework")
        resp.status = falcon.HTTP_201
        resp.location = f"{API_PREFIX}/hosts/{host.name}"
        resp.media = _view(req, host)


class _OneHost:
    def __init__(self, platform, sync):
        self.platform = platform
        self.sync = sync

    def host(self, name: str) -> Host:
        self.sync()
        return registration.find(name)


class HostResource(_OneHost):
    @validate(resp=Response(HTTP_200=HostView))
    def on_get(self, req, resp, host):
        """One host."""
        h = self.host(host)
        offer = next((o for o in hosts.offers() if o.host_id == h.id), None)
        resp.media = _view(req, h, offer)

    @validate(resp=Response(HTTP_200=HostView))
    def on_patch(self, req, resp, host):
        """{"state": "drain"} takes no new node there; {"state": "active"} takes them again."""
        require_admin(req)
        h = registration.update(registration.find(host), req.get_media())
        self.platform.wake("framework")
        resp.media = _view(req, h)

    @validate(resp=Response("HTTP_204"))
    def on_delete(self, req, resp, host):
        """Remove a host with no node (admin); its network agent goes too."""
        require_admin(req)
        h = registration.find(host)
        endpoint = None
        if Capability.HOSTS in self.platform.engine.capabilities and h.url:
            endpoint = self.platform.engine.endpoint(h.name)
        registration.remove(h)
        if endpoint is not None:
            self.platform.engine.forget_host(h.name, endpoint)
        resp.status = falcon.HTTP_204


class DisksResource(_OneHost):
    @validate(resp=Response(HTTP_200=DiskList))
    def on_get(self, req, resp, host):
        """A host's data disks and who uses them, a page at a time (Link header)."""
        h = self.host(host)
        rows, _ = paginate(Disk.select().where(Disk.host == h), Disk.id, req, resp)
        resp.media = [disks.disk_view(d, viewer=req.context.user) for d in rows]


def add_routes(app, platform) -> None:
    sync = _Sync(platform)
    app.add_route(f"{API_PREFIX}/hosts", HostsResource(platform, sync))
    app.add_route(f"{API_PREFIX}/hosts/{{host}}", HostResource(platform, sync))
    app.add_route(f"{API_PREFIX}/hosts/{{host}}/disks", DisksResource(platform, sync))

"""Networks service: POST /networks (admin), GET /networks[/<name>[/addresses]]."""
from __future__ import annotations

import logging

import falcon

from api.core.config import API_PREFIX
from api.core.errors import Conflict, Invalid, NotFound
from api.core.models import Network
from api.http.middleware import require_admin
from api.infra import network as networks

log = logging.getLogger("bdp.networks")
FIELDS = ("name", "description", "subnet", "gateway", "range_start", "range_end")


def _engine_subnets(platform) -> list[str]:
    """Subnets the engine already uses (another platform sharing the Docker Engine)."""
    if platform.settings.engine != "docker":
        return []
    try:
        return platform.engine.used_subnets()
    except Exception as exc:  # the API works without the engine; the framework will complain
        log.warning("cannot list the engine's networks: %s", exc)
        return []


def _get(name: str) -> Network:
    net = Network.get_or_none(Network.name == name)
    if net is None:
        raise NotFound(f"no network {name}")
    return net


class NetworksResource:
    def __init__(self, platform):
        self.platform = platform

    def on_get(self, req, resp):
        resp.media = [networks.network_view(n) for n in Network.select().order_by(Network.name)]

    def on_post(self, req, resp):
        require_admin(req)
        body = req.get_media()
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object with name and subnet", field="body")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise Invalid(f"unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})",
                              field=unknown[0])
        for key in ("name", "subnet"):
            if not body.get(key):
                raise Invalid(f"{key} is required", field=key)
        values = networks.validate(**{k: body.get(k) for k in FIELDS if body.get(k) is not None})
        for other, subnet in [(n.name, n.subnet) for n in Network.select()]:
            if other != values["name"] and networks._overlaps(values["subnet"], [subnet]):
                raise networks.NetworkError(
                    f"subnet {values['subnet']} overlaps network {other} ({subnet})", "subnet")
        if networks._overlaps(values["subnet"], _engine_subnets(self.platform)):
            raise Conflict(f"subnet {values['subnet']} overlaps a network the "
                           "Docker Engine already has", field="subnet")
        net = networks.create_network(**values)
        resp.status = falcon.HTTP_201
        resp.location = f"{API_PREFIX}/networks/{net.name}"
        resp.media = networks.network_view(net)


class NetworkResource:
    def on_get(self, req, resp, name):
        resp.media = networks.network_view(_get(name))


class AddressesResource:
    def on_get(self, req, resp, name):
        net = _get(name)
        which = [k for k in ("free", "used", "full") if k in req.params] or ["full"]
        if len(which) > 1:
            raise Invalid("ask for one of ?free, ?used or ?full", field="query")
        resp.media = networks.addresses(net, which[0], viewer=req.context.user)


def add_routes(app, platform) -> None:
    # A fresh install gets the default networks (admin, storage) here, so launches can
    # name them before the framework ever ran.
    networks.ensure_defaults(platform.settings, _engine_subnets(platform))
    app.add_route(f"{API_PREFIX}/networks", NetworksResource(platform))
    app.add_route(f"{API_PREFIX}/networks/{{name}}", NetworkResource())
    app.add_route(f"{API_PREFIX}/networks/{{name}}/addresses", AddressesResource())

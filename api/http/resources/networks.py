"""Networks service: POST /networks (admin), GET /networks[/<name>[/addresses]]."""
from __future__ import annotations

import ipaddress
import logging

import falcon
from spectree import Response

from api.core.config import API_PREFIX
from api.core.errors import Conflict, Invalid, NotFound
from api.core.models import Network
from api.http.middleware import require_admin
from api.http.openapi import validate
from api.http.pagination import paginate, paginate_items
from api.http.schemas import AddressList, NetworkList, NetworkView
from api.infra import network as networks

log = logging.getLogger("bdp.networks")
FIELDS = ("name", "description", "subnet", "gateway", "range_start", "range_end", "driver",
          "isolation", "segment_prefix", "parent")


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

    @validate(resp=Response(HTTP_200=NetworkList))
    def on_get(self, req, resp):
        """Every network: subnet, range, free addresses (a page at a time: the next page's
        URL is in the Link header, as the answer is a list)."""
        rows, _ = paginate(Network.select(), Network.name, req, resp, kind=str)
        resp.media = [networks.network_view(n) for n in rows]

    @validate(resp=Response(HTTP_201=NetworkView))
    def on_post(self, req, resp):
        """Add a named network (admin)."""
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
        # Tenant segments unless the admin opts into one network every tenant shares.
        body.setdefault("isolation", "tenant" if body.get("driver", "bridge") == "bridge" else "shared")
        values = networks.validate(**{k: body.get(k) for k in FIELDS if body.get(k) is not None})
        for other, subnet in [(n.name, n.subnet) for n in Network.select()]:
            if other != values["name"] and networks._overlaps(values["subnet"], [subnet]):
                raise networks.NetworkError(
                    f"subnet {values['subnet']} overlaps network {other} ({subnet})", "subnet")
        # A macvlan network is a site L2 the hosts already have addresses on: it overlaps
        # their own routes by design.
        if values["driver"] != "macvlan" and networks._overlaps(values["subnet"],
                                                                _engine_subnets(self.platform)):
            raise Conflict(f"subnet {values['subnet']} overlaps a network the "
                           "Docker Engine already has", field="subnet")
        net = networks.create_network(**values)
        resp.status = falcon.HTTP_201
        resp.location = f"{API_PREFIX}/networks/{net.name}"
        resp.media = networks.network_view(net)


class NetworkResource:
    @validate(resp=Response(HTTP_200=NetworkView))
    def on_get(self, req, resp, name):
        """One network."""
        resp.media = networks.network_view(_get(name))


class AddressesResource:
    @validate(resp=Response(HTTP_200=AddressList))
    def on_get(self, req, resp, name):
        """The network's addresses: ?free, ?used or ?full (the default), in address order,
        a page at a time (the next page's URL is in the Link header, as the answer is a list)."""
        net = _get(name)
        which = [k for k in ("free", "used", "full") if k in req.params] or ["full"]
        if len(which) > 1:
            raise Invalid("ask for one of ?free, ?used or ?full", field="query")
        rows, _ = paginate_items(
            lambda after: networks.addresses(net, which[0], viewer=req.context.user, after=after),
            lambda entry: int(ipaddress.IPv4Address(entry["address"])), req, resp)
        resp.media = rows


def add_routes(app, platform) -> None:
    # A fresh install gets the default networks (admin, storage) here, so launches can
    # name them before the framework ever ran.
    networks.ensure_defaults(platform.settings, _engine_subnets(platform),
                             platform.settings.default_isolation)
    app.add_route(f"{API_PREFIX}/networks", NetworksResource(platform))
    app.add_route(f"{API_PREFIX}/networks/{{name}}", NetworkResource())
    app.add_route(f"{API_PREFIX}/networks/{{name}}/addresses", AddressesResource())

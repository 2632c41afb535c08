"""/clusters: listing by owner/product/version, one cluster, its nodes, services and
events, and DELETE (-> destroying). Users see only their own clusters."""
from __future__ import annotations

import datetime as dt

import falcon
from spectree import Response

from api.clusters.queries import cluster_page, cluster_stamp, cluster_state, find_cluster
from api.clusters.registration import destroy
from api.clusters.views import (
    cluster_nodes,
    cluster_row_view,
    cluster_services,
    day2_of_members,
    job_uri,
    uri,
)
from api.core import status
from api.core.config import API_PREFIX
from api.core.models import Event, Node, utcnow
from api.http.filters import choices, flag, since, text
from api.http.openapi import validate
from api.http.pagination import cut, page_of, paginate
from api.http.schemas import ClusterList, ClusterView, DestroyAccepted, EventList, NodeList, ServiceList
from api.http.view_cache import CLUSTERS, page_body, send, send_cluster


def _list(req, resp, settings, **filters):
    """A page of clusters: `?status=a,b`, `?product=`, `?active=true` (not destroyed),
    `?all=true` (also those destroyed longer ago than the list window). The page's
    operations and health come in one compiled query, whatever its size."""
    statuses = choices(req, "status", status.ALL)
    if flag(req, "active"):
        statuses = (statuses or status.ALL) - {status.DESTROYED}
    if "product" not in filters:
        filters["product"] = text(req, "product")
    window = None if flag(req, "all") else utcnow() - dt.timedelta(hours=settings.list_window_hours)
    page = page_of(req)
    stamps = cluster_page(req.context.user, page.limit + 1, page.after, statuses=statuses,
                          destroyed_since=window, **filters)
    stamps, more = cut(stamps, page.limit, lambda row: row[0], req, resp)
    send(resp, page_body(stamps, more))


class _Lists:
    inline = True  # a page of the registry: served on the event loop (api/http/inline.py)

    def __init__(self, platform):
        self.settings = platform.settings


class AllClusters(_Lists):
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp):
        """Every cluster (admin) or the caller's own, a page at a time."""
        _list(req, resp, self.settings)


class UserClusters(_Lists):
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp, user):
        """Clusters of one user."""
        _list(req, resp, self.settings, user=user)


class ProductClusters(_Lists):
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp, user, product):
        """Clusters of one user and product."""
        _list(req, resp, self.settings, user=user, product=product)


class VersionClusters(_Lists):
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp, user, product, version):
        """Clusters of one user, product and version."""
        _list(req, resp, self.settings, user=user, product=product, version=version)


class ClusterResource:
    inline = True  # its GET: served on the event loop (api/http/inline.py)

    def __init__(self, platform):
        self.platform = platform

    @validate(resp=Response(HTTP_200=ClusterView, HTTP_304=None))
    def on_get(self, req, resp, user, product, version, seq):
        """One cluster: status, progress, options, node and service names. Answers carry
        an ETag; with `If-None-Match` of the current one, the answer is 304 Not Modified."""
        cluster_id, stamp = cluster_stamp(req.context.user, user, product, version, seq)
        kept = CLUSTERS.get(cluster_id, stamp)
        if kept is None:
            row, m, stamp = cluster_state(cluster_id)
            view = cluster_row_view(row, day2_of_members(row[0], row[5], m), m.nodes, m.services)
            kept = CLUSTERS.put(row[0], stamp, view)
        send_cluster(req, resp, kept)

    @validate(resp=Response(HTTP_202=DestroyAccepted))
    def on_delete(self, req, resp, user, product, version, seq):
        """Destroy the cluster (status destroying, then destroyed); repeating it is harmless."""
        c = find_cluster(req.context.user, user, product, version, seq)
        job_id = destroy(req.context.user, c)
        self.platform.wake("framework")
        resp.status = falcon.HTTP_202
        resp.location = uri(c)
        resp.media = {"cluster": uri(c), "queue": job_uri(job_id) if job_id else None, "id": c.seq,
                      "status": c.status}


class NodesResource:
    inline = True  # a page of the registry: served on the event loop

    @validate(resp=Response(HTTP_200=NodeList))
    def on_get(self, req, resp, user, product, version, seq):
        """The cluster's nodes with host, container id, disks and interfaces, a page at a time."""
        c = find_cluster(req.context.user, user, product, version, seq)
        rows, more = paginate(Node.select().where(Node.cluster == c.id), Node.id, req, resp)
        resp.media = {"nodes": cluster_nodes(c.id, rows), "next": more}


class ServicesResource:
    inline = True  # served on the event loop

    @validate(resp=Response(HTTP_200=ServiceList))
    def on_get(self, req, resp, user, product, version, seq):
        """The cluster's services: node groups and their properties."""
        c = find_cluster(req.context.user, user, product, version, seq)
        resp.media = {"services": cluster_services(c.id)}


def event_view(e: Event) -> dict:
    return {"id": e.id, "time": e.time.isoformat(), "component": e.component, "level": e.level,
            "message": e.message}


class EventsResource:
    inline = True  # a page of the registry (a follow is a stream): served on the event loop

    @validate(resp=Response(HTTP_200=EventList))
    def on_get(self, req, resp, user, product, version, seq):
        """Every status change and notable step, oldest first (`?since=` an ISO time);
        `?follow=true` is a stream of server-sent events (api/http/streams.py)."""
        c = find_cluster(req.context.user, user, product, version, seq)
        query = Event.select().where(Event.cluster == c.id)
        after = since(req)
        if after is not None:
            query = query.where(Event.time >= after)
        rows, more = paginate(query, Event.id, req, resp)
        resp.media = {"events": [event_view(e) for e in rows], "next": more}


def add_routes(app, platform) -> None:
    base = f"{API_PREFIX}/clusters"
    one = base + "/{user}/{product}/{version}/{seq}"
    app.add_route(base, AllClusters(platform))
    app.add_route(base + "/{user}", UserClusters(platform))
    app.add_route(base + "/{user}/{product}", ProductClusters(platform))
    app.add_route(base + "/{user}/{product}/{version}", VersionClusters(platform))
    app.add_route(one, ClusterResource(platform))
    app.add_route(one + "/nodes", NodesResource())
    app.add_route(one + "/services", ServicesResource())
    app.add_route(one + "/events", EventsResource())

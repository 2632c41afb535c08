"""/clusters: listing by owner/product/version, one cluster, its nodes, services and
events, and DELETE (-> destroying). Users see only their own clusters."""
from __future__ import annotations

import falcon
from spectree import Response

from api.clusters.queries import find_cluster, list_clusters
from api.clusters.registration import destroy
from api.clusters.views import cluster_nodes, cluster_services, cluster_view, job_uri, uri
from api.core.config import API_PREFIX
from api.core.models import Event, Node, Service
from api.http.openapi import validate
from api.http.schemas import ClusterList, ClusterView, EventList, NodeList, ServiceList


def _list(req, resp, **filters):
    resp.media = {"clusters": [cluster_view(c) for c in list_clusters(req.context.user, **filters)]}


class AllClusters:
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp):
        """Every cluster (admin) or the caller's own."""
        _list(req, resp)


class UserClusters:
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp, user):
        """Clusters of one user."""
        _list(req, resp, user=user)


class ProductClusters:
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp, user, product):
        """Clusters of one user and product."""
        _list(req, resp, user=user, product=product)


class VersionClusters:
    @validate(resp=Response(HTTP_200=ClusterList))
    def on_get(self, req, resp, user, product, version):
        """Clusters of one user, product and version."""
        _list(req, resp, user=user, product=product, version=version)


class ClusterResource:
    def __init__(self, platform):
        self.platform = platform

    @validate(resp=Response(HTTP_200=ClusterView))
    def on_get(self, req, resp, user, product, version, seq):
        """One cluster: status, progress, options, node and service names."""
        c = find_cluster(req.context.user, user, product, version, seq)
        nodes = [n for (n,) in Node.select(Node.name).where(Node.cluster == c.id).order_by(Node.id).tuples()]
        services = [s for (s,) in Service.select(Service.name).where(Service.cluster == c.id)
                    .order_by(Service.id).tuples()]
        resp.media = cluster_view(c, nodes, services)

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
    @validate(resp=Response(HTTP_200=NodeList))
    def on_get(self, req, resp, user, product, version, seq):
        """The cluster's nodes with host, container id, disks and interfaces."""
        c = find_cluster(req.context.user, user, product, version, seq)
        resp.media = {"nodes": cluster_nodes(c.id)}


class ServicesResource:
    @validate(resp=Response(HTTP_200=ServiceList))
    def on_get(self, req, resp, user, product, version, seq):
        """The cluster's services: node groups and their properties."""
        c = find_cluster(req.context.user, user, product, version, seq)
        resp.media = {"services": cluster_services(c.id)}


class EventsResource:
    @validate(resp=Response(HTTP_200=EventList))
    def on_get(self, req, resp, user, product, version, seq):
        """Every status change and notable step, oldest first."""
        c = find_cluster(req.context.user, user, product, version, seq)
        events = Event.select().where(Event.cluster == c.id).order_by(Event.time, Event.id)
        resp.media = {"events": [{"time": e.time.isoformat(), "component": e.component, "level": e.level,
                                  "message": e.message} for e in events]}


def add_routes(app, platform) -> None:
    base = f"{API_PREFIX}/clusters"
    one = base + "/{user}/{product}/{version}/{seq}"
    app.add_route(base, AllClusters())
    app.add_route(base + "/{user}", UserClusters())
    app.add_route(base + "/{user}/{product}", ProductClusters())
    app.add_route(base + "/{user}/{product}/{version}", VersionClusters())
    app.add_route(one, ClusterResource(platform))
    app.add_route(one + "/nodes", NodesResource())
    app.add_route(one + "/services", ServicesResource())
    app.add_route(one + "/events", EventsResource())

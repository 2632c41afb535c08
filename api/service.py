"""Service views: a named group of nodes plus the properties its playbook reads."""
from __future__ import annotations

from .models import Service


def service_view(s: Service) -> dict:
    return {"name": s.name, "nodes": s.nodes, "properties": s.properties}


def cluster_services(cluster_id: int) -> list[dict]:
    return [service_view(s) for s in Service.select().where(Service.cluster == cluster_id).order_by(Service.id)]

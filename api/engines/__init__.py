"""Engines run node containers. `get_engine` picks one by name (BDP_ENGINE)."""
from __future__ import annotations

from api.engines.base import Engine


def get_engine(settings) -> Engine:
    if settings.engine == "docker":
        from api.engines.docker import DockerEngine
        return DockerEngine(settings)
    if settings.engine == "mesos":
        from api.engines.mesos import MesosEngine
        return MesosEngine(settings)
    raise ValueError(f"unknown engine {settings.engine!r}: use 'docker' or 'mesos'")

"""Engines run node containers on hosts, behind one small interface (base.py) that
declares what each can do: docker (the local or a registered Docker Engine), mesos (a
Mesos framework, with its v1 scheduler client). Also node images (images.py) and
docker_opts parsing. Engines report container states; the framework turns them into
node statuses. `get_engine` picks one by name (BDP_ENGINE)."""
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

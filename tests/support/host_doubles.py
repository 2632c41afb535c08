"""Test doubles for the host monitor and the survey's recovery, without Docker: what
the framework asks of an engine (which containers run, removals, a host's return) and of
its platform (settings, wake-ups). What tests use them for is the framework's own
bookkeeping in the registry."""
from __future__ import annotations

from api.engines.base import NodeState


class EngineDouble:
    """What the framework asks of an engine here: which containers run, and removals."""
    name = "docker"

    def __init__(self):
        self.running: set[tuple[int, str]] = set()
        self.removed: list[tuple[int, str]] = []
        self.cleaned: list[tuple[str, list[str]]] = []
        self.returned: list[str] = []

    def states(self):
        return [NodeState(state="running", cluster_id=c, name=n) for c, n in self.running]

    def host_returned(self, host):
        self.returned.append(host)

    def remove_node(self, cluster_id, name):
        self.removed.append((cluster_id, name))

    def clean_disks(self, host, paths):
        self.cleaned.append((host, paths))


class PlatformDouble:
    def __init__(self, settings, engine):
        self.settings, self.engine = settings, engine

    def wake(self, component=None):
        pass

"""The running platform: settings, the database, the engine and controller wake-ups.

One `Platform` is built per process and handed to the API resources and the
controllers, so nothing reaches for globals.
"""
from __future__ import annotations

import threading
from functools import cached_property

from api.core.config import Settings
from api.core.db import open_database


class Platform:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.settings.ensure_dirs()
        self.database = open_database(self.settings.db_url)
        # Set by the API after it registers or changes a cluster so that in-process
        # controllers act at once instead of waiting for their next poll.
        self._wake = {"framework": threading.Event(), "orchestrator": threading.Event(),
                      "operations": threading.Event()}

    @cached_property
    def engine(self):
        from api.engines import get_engine
        return get_engine(self.settings)

    def wake(self, component: str | None = None) -> None:
        for name, event in self._wake.items():
            if component in (None, name):
                event.set()

    def wait(self, component: str, timeout: float) -> None:
        """Sleep until woken or `timeout` passes (the level-triggered poll)."""
        event = self._wake[component]
        event.wait(timeout)
        event.clear()

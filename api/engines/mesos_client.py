"""A thin client for the Mesos v1 scheduler HTTP API, over httpx.

Why our own: pymesos does not install on CPython 3.11 (douban/pymesos#130), and
avmesos parses the RecordIO stream line by line (it breaks when a frame holds a
newline or a non-ASCII character), always acknowledges updates itself, tears the
framework down on stop (which kills every task) and pulls in kazoo, pyjwt and
cryptography. The API itself is small: one streaming SUBSCRIBE POST that yields
RecordIO frames (`<length>\\n<json>`), and plain POSTs for every other call carrying
the `Mesos-Stream-Id` the master handed out on SUBSCRIBE.

Reference: https://mesos.apache.org/documentation/latest/scheduler-http-api/
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("bdp.mesos")

SCHEDULER_PATH = "/api/v1/scheduler"


class MesosError(Exception):
    pass


class FrameworkRemoved(MesosError):
    """The master no longer knows our framework id (torn down or failed over too long)."""


def read_recordio(chunks: Iterable[bytes]) -> Iterator[dict]:
    """Decode a RecordIO stream: each record is `<decimal length>\\n<length bytes of JSON>`."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                break
            length = int(buffer[:newline])
            end = newline + 1 + length
            if len(buffer) < end:
                break
            record = buffer[newline + 1:end]
            buffer = buffer[end:]
            yield json.loads(record)


class SchedulerClient:
    """One framework's connection to the master.

    `run(stop)` keeps a SUBSCRIBE stream open (re-subscribing with the same framework
    id after any break) and hands every event to `on_event(event_dict)` on that thread.
    The other methods are the scheduler calls; each needs a live subscription.
    """

    def __init__(self, master: str, framework_info: dict, on_event: Callable[[dict], None],
                 *, on_disconnect: Callable[[], None] | None = None, timeout: float = 10.0):
        self.master = master.rstrip("/")
        self.framework_info = dict(framework_info)
        self.on_event = on_event
        self.on_disconnect = on_disconnect
        self.stream_id: str | None = None
        self.heartbeat_interval = 15.0
        self.subscribed = threading.Event()
        self._http = httpx.Client(timeout=timeout)
        self._response: httpx.Response | None = None
        self._stop = threading.Event()

    @property
    def framework_id(self) -> str | None:
        return (self.framework_info.get("id") or {}).get("value")

    # -- the subscription ---------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        backoff = 0.5
        while not stop.is_set():
            try:
                self._subscribe_once()
                backoff = 0.5
            except FrameworkRemoved as exc:
                log.warning("mesos: %s; subscribing as a new framework", exc)
                self.framework_info.pop("id", None)
            except (httpx.HTTPError, MesosError, ValueError) as exc:
                if not stop.is_set():
                    log.warning("mesos: subscription to %s broke: %s", self.master, exc)
            finally:
                self.subscribed.clear()
                self.stream_id = None
                if self.on_disconnect:
                    self.on_disconnect()
            stop.wait(backoff)
            backoff = min(backoff * 2, 10)

    def _subscribe_once(self) -> None:
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.framework_info}}
        if self.framework_id:
            body["framework_id"] = {"value": self.framework_id}
        # The read timeout doubles as the heartbeat watchdog: the master sends a
        # HEARTBEAT every `heartbeat_interval_seconds`; three missed means it is gone.
        timeout = httpx.Timeout(10.0, read=max(self.heartbeat_interval * 3, 5))
        url = self.master + SCHEDULER_PATH
        for _ in range(3):  # a non-leading master answers 307 with the leader's address
            request = self._http.build_request(
                "POST", url, json=body, timeout=timeout,
                headers={"Accept": "application/json"})
            response = self._http.send(request, stream=True)
            if response.status_code in (301, 302, 307) and response.headers.get("Location"):
                response.close()
                location = urlsplit(response.headers["Location"])
                scheme = location.scheme or urlsplit(self.master).scheme
                self.master = f"{scheme}://{location.netloc}"
                url = self.master + SCHEDULER_PATH
                continue
            break
        try:
            if response.status_code != 200:
                text = response.read().decode(errors="replace")
                raise MesosError(f"SUBSCRIBE answered {response.status_code}: {text.strip()}")
            self.stream_id = response.headers.get("Mesos-Stream-Id")
            self._response = response
            for event in read_recordio(response.iter_bytes()):
                if self._stop.is_set():
                    return
                kind = event.get("type")
                if kind == "SUBSCRIBED":
                    sub = event["subscribed"]
                    self.framework_info["id"] = sub["framework_id"]
                    self.heartbeat_interval = float(sub.get("heartbeat_interval_seconds", 15))
                    self.subscribed.set()
                elif kind == "ERROR":
                    message = event.get("error", {}).get("message", "")
                    if "removed" in message.lower() or "teardown" in message.lower():
                        raise FrameworkRemoved(message)
                    raise MesosError(f"master error: {message}")
                self.on_event(event)
            raise MesosError("the master closed the subscription stream")
        finally:
            self._response = None
            response.close()

    def disconnect(self) -> None:
        """Close the stream without tearing the framework down (its tasks keep running)."""
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # closing a half-read stream from another thread may race
                pass

    # -- calls ------------------------------------------------------------

    def call(self, kind: str, payload: dict | None = None) -> None:
        if not self.stream_id or not self.framework_id:
            raise MesosError("not subscribed to the Mesos master")
        body = {"framework_id": {"value": self.framework_id}, "type": kind}
        if payload is not None:
            body[kind.lower()] = payload
        response = self._http.post(self.master + SCHEDULER_PATH, json=body,
                                   headers={"Mesos-Stream-Id": self.stream_id})
        if response.status_code not in (200, 202):
            raise MesosError(f"{kind} answered {response.status_code}: {response.text.strip()}")

    def accept(self, offer_ids: list[str], operations: list[dict], refuse_seconds: float) -> None:
        self.call("ACCEPT", {"offer_ids": [{"value": o} for o in offer_ids],
                             "operations": operations,
                             "filters": {"refuse_seconds": refuse_seconds}})

    def decline(self, offer_ids: list[str], refuse_seconds: float) -> None:
        self.call("DECLINE", {"offer_ids": [{"value": o} for o in offer_ids],
                              "filters": {"refuse_seconds": refuse_seconds}})

    def kill(self, task_id: str, agent_id: str | None = None) -> None:
        payload = {"task_id": {"value": task_id}}
        if agent_id:
            payload["agent_id"] = {"value": agent_id}
        self.call("KILL", payload)

    def acknowledge(self, agent_id: str, task_id: str, uuid: str) -> None:
        self.call("ACKNOWLEDGE", {"agent_id": {"value": agent_id},
                                  "task_id": {"value": task_id}, "uuid": uuid})

    def reconcile(self, tasks: list[tuple[str, str | None]] = ()) -> None:
        """Ask for the state of `tasks` ((task id, agent id) pairs); none = every task."""
        items = []
        for task_id, agent_id in tasks:
            item = {"task_id": {"value": task_id}}
            if agent_id:
                item["agent_id"] = {"value": agent_id}
            items.append(item)
        self.call("RECONCILE", {"tasks": items})

    def suppress(self) -> None:
        self.call("SUPPRESS")

    def revive(self) -> None:
        self.call("REVIVE")

    def teardown(self) -> None:
        """End the framework: the master kills all its tasks. Not used on shutdown."""
        self.call("TEARDOWN")

    def close(self) -> None:
        self.disconnect()
        self._http.close()


def get_agents(master: str, timeout: float = 10.0) -> list[dict]:
    """The master's agents with their total resources (operator API `GET_AGENTS`).

    Offers only show what is free now; the framework's placement needs each agent's
    totals (it subtracts the registry's own use), and after a restart the scheduler
    API cannot say what its running tasks hold.
    """
    response = httpx.post(master.rstrip("/") + "/api/v1", json={"type": "GET_AGENTS"},
                          headers={"Accept": "application/json"}, timeout=timeout)
    if response.status_code != 200:
        raise MesosError(f"GET_AGENTS answered {response.status_code}: {response.text.strip()}")
    return response.json().get("get_agents", {}).get("agents", [])

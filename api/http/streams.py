"""Live events as server-sent events: `GET .../clusters/<user>/<product>/<version>/<id>/events?follow=true`
(one cluster), `GET .../clusters/<user>/events?follow=true` (every cluster of a user) and
`GET .../events?follow=true` (every cluster the caller may see: an admin's, all, and the
platform's own events, which belong to no cluster: a host lost, back, drained, active).

Each stream is a small native ASGI handler, not a request thread: an idle follower costs
a queue and a coroutine. ONE poller per process (`EventHub`) reads the Event rows written
since its last look, every `interval` seconds, and hands each to the followers it
concerns, so 500 followers cost one query per tick, and events written by other
processes of a split control plane are seen as well as our own.

Resume: every message carries `id: <event id>`; a client that reconnects with
`Last-Event-ID` gets the events after it, then the live ones, each exactly once (the
backlog is read after subscribing, and what both hold is sent once). Heartbeats are SSE
comments. A follower too slow to keep up is closed, and reconnects where it stopped.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from api.core.errors import DomainError, Invalid
from api.http import headers as security
from api.http.raw import request_headers, send_error

log = logging.getLogger("bdp.streams")

PREFIX = "/bigdata/api/v1/clusters/"
CLUSTER_PATH = re.compile(r"^/bigdata/api/v1/clusters/([^/]+)/([^/]+)/([^/]+)/([^/]+)/events/?$")
USER_PATH = re.compile(r"^/bigdata/api/v1/clusters/([^/]+)/events/?$")
ALL_PATH = re.compile(r"^/bigdata/api/v1/events/?$")
HEARTBEAT = 15.0  # seconds between comments on an idle stream
QUEUE = 1000  # events a follower may fall behind before it is closed
BATCH = 500
GAP_SECONDS = 10.0  # how long a missing id may still commit (PostgreSQL sequences)


def is_stream(scope) -> bool:
    """Whether an ASGI request is one of ours: a GET of an events path with follow=true."""
    if scope.get("method") != "GET":
        return False
    path = scope["path"]
    if not (ALL_PATH.match(path) or (path.startswith(PREFIX) and (CLUSTER_PATH.match(path)
                                                                   or USER_PATH.match(path)))):
        return False
    follow = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("follow", [""])[-1]
    return follow.lower() in ("true", "1", "yes")


@dataclass(eq=False)
class Follower:
    cluster_id: int | None  # one cluster, or
    user_id: int | None  # every cluster of one user (both None: every cluster)
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE))
    overflowed: bool = False

    def wants(self, event: dict) -> bool:
        """Its cluster's events; its user's; or every event (the platform's own too: an
        admin's stream of everything)."""
        if self.cluster_id is not None:
            return event["cluster_id"] == self.cluster_id
        return self.user_id is None or event["user_id"] == self.user_id


def read_events(after: int | None, gaps=(), cluster_id: int | None = None, user_id: int | None = None,
                limit: int = BATCH) -> list[dict]:
    """Events after id `after` (or with an id in `gaps`), oldest first, with their cluster
    (None for the platform's own events: a host lost, back, drained; admins see those)."""
    from peewee import JOIN

    from api.core.models import Cluster, Event, Product, User
    outer = JOIN.LEFT_OUTER
    query = (Event.select(Event.id, Event.time, Event.component, Event.level, Event.message,
                          Cluster.id, Cluster.seq, Cluster.user, User.name, Product.name, Product.version)
             .join(Cluster, outer).join(User, outer).switch(Cluster).join(Product, outer))
    cond = Event.id > (after or 0)
    if gaps:
        cond = cond | Event.id.in_(list(gaps))
    query = query.where(cond)
    if cluster_id is not None:
        query = query.where(Event.cluster == cluster_id)
    if user_id is not None:
        query = query.where(Cluster.user == user_id)
    out = []
    for (eid, when, component, level, message, cid, seq, uid, uname, pname, version) in (
            query.order_by(Event.id).limit(limit).tuples()):
        where = f"/bigdata/api/v1/clusters/{uname}/{pname}/{version}/{seq}" if cid is not None else None
        out.append({"id": eid, "time": when.isoformat(), "component": component, "level": level,
                    "message": message, "cluster": where, "cluster_id": cid, "user_id": uid})
    return out


def last_event_id() -> int:
    from peewee import fn

    from api.core.models import Event
    return Event.select(fn.MAX(Event.id)).scalar() or 0


class EventHub:
    """The one poller of a process; followers subscribe and get their events."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.followers: set[Follower] = set()
        self.last: int | None = None
        self.gaps: dict[int, float] = {}  # id not seen yet -> until when it may still appear
        # One thread for the poller's queries: it keeps one database connection.
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="bdp-events")
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.last = await loop.run_in_executor(self.pool, last_event_id)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        self.pool.shutdown(wait=False)

    def subscribe(self, follower: Follower) -> None:
        self.followers.add(follower)

    def unsubscribe(self, follower: Follower) -> None:
        self.followers.discard(follower)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                events = await loop.run_in_executor(self.pool, read_events, self.last, tuple(self.gaps))
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end every stream
                log.warning("cannot read new events: %s", exc)
                continue
            self._advance(events)
            for event in events:
                self.publish(event)

    def _advance(self, events: list[dict]) -> None:
        """Move past what was read; ids skipped on the way may still commit for a while."""
        now = time.monotonic()
        self.gaps = {i: t for i, t in self.gaps.items() if t > now}
        for event in events:
            self.gaps.pop(event["id"], None)
            if event["id"] > self.last:
                for missing in range(self.last + 1, min(event["id"], self.last + 1 + 1000)):
                    self.gaps[missing] = now + GAP_SECONDS
                self.last = event["id"]

    def publish(self, event: dict) -> None:
        for follower in list(self.followers):
            if follower.wants(event):
                try:
                    follower.queue.put_nowait(event)
                except asyncio.QueueFull:
                    follower.overflowed = True
                    self.unsubscribe(follower)


def message(event: dict) -> bytes:
    body = {k: v for k, v in event.items() if k not in ("cluster_id", "user_id")}
    return f"id: {event['id']}\ndata: {json.dumps(body, ensure_ascii=True)}\n\n".encode()


class StreamHandler:
    """Serves one stream request: authenticate, find what it follows, send the backlog
    and then live events until the client goes away."""

    def __init__(self, hub: EventHub, authenticate):
        self.hub = hub
        self.authenticate = authenticate  # (headers: dict) -> User, in a thread; raises DomainError
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing: asyncio.Event | None = None

    def close(self) -> None:
        """End every stream (the server is stopping); callable from any thread."""
        if self.loop is not None and self.closing is not None:
            self.loop.call_soon_threadsafe(self.closing.set)

    async def __call__(self, scope, receive, send) -> None:
        if self.closing is None:
            self.loop, self.closing = asyncio.get_running_loop(), asyncio.Event()
        headers = request_headers(scope)
        try:
            follower, after = await asyncio.to_thread(self._target, scope["path"], headers)
        except DomainError as exc:
            await send_error(send, exc)
            return
        self.hub.subscribe(follower)
        try:
            await self._stream(follower, after, receive, send)
        finally:
            self.hub.unsubscribe(follower)

    def _target(self, path: str, headers: dict) -> tuple[Follower, int | None]:
        from api.clusters.queries import check_tenant, find_cluster
        from api.core.auth import is_admin
        from api.core.models import User
        user = self.authenticate(headers)
        after = _last_id(headers.get("last-event-id"))
        if ALL_PATH.match(path):
            # From now on (the newest event so far) unless resumed.
            return Follower(None, None if is_admin(user) else user.id), _now_if(after)
        one = CLUSTER_PATH.match(path)
        if one:
            cluster = find_cluster(user, *one.groups())
            return Follower(cluster.id, None), after or 0
        name = USER_PATH.match(path).group(1)
        name = user.name if name == "me" else name
        check_tenant(user, name)
        owner = User.get_or_none(User.name == name)
        # A user without a row yet follows nothing (and learns nothing of others).
        return Follower(None, owner.id if owner else -1), _now_if(after)

    async def _stream(self, follower: Follower, after: int | None, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *[(k.lower().encode(), v.encode()) for k, v in security.HEADERS.items()]]})
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        sent: set[int] = set()
        floor = after  # the client has (or, for "from now", does not want) what is up to here
        while after is not None:  # the backlog, a batch at a time
            batch = await asyncio.to_thread(read_events, after, (), follower.cluster_id,
                                            follower.user_id, BATCH)
            for event in batch:
                sent.add(event["id"])
                await send({"type": "http.response.body", "body": message(event), "more_body": True})
            after = batch[-1]["id"] if len(batch) == BATCH else None
        gone = asyncio.ensure_future(_disconnected(receive))
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            while not (gone.done() or closing.done() or follower.overflowed):
                getter = asyncio.ensure_future(follower.queue.get())
                done, _ = await asyncio.wait({getter, gone, closing}, timeout=HEARTBEAT,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if not done:
                        await send({"type": "http.response.body", "body": b": keepalive\n\n",
                                    "more_body": True})
                    continue
                event = getter.result()
                if event["id"] in sent or event["id"] <= floor:
                    continue
                await send({"type": "http.response.body", "body": message(event), "more_body": True})
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-send
        finally:
            gone.cancel()
            closing.cancel()


def _now_if(after: int | None) -> int:
    return last_event_id() if after is None else after


def _last_id(raw: str | None) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise Invalid("Last-Event-ID must be the id of an event this stream sent", field="Last-Event-ID")
    return int(raw.strip())


async def _disconnected(receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return

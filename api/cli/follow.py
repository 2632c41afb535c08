"""`--wait`: watching a cluster until it reaches a status, printing each transition as it
happens and a live progress line.

The cluster's event stream (`GET .../events?follow=true`, server-sent events) says when
something happened, so the watch reads the cluster when an event comes (and every few
seconds for the progress line) instead of once a second; a dropped stream is resumed
with `Last-Event-ID`, so no event is shown twice or missed. A server that does not
stream gets the old once-a-second polling.
"""
from __future__ import annotations

import json
import queue
import sys
import threading
import time

import httpx

from api.cli.output import fmt_time, print_json, print_nodes, progress_bar
from api.cli.session import APIClient, ClientError, as_list, short_dn
from api.core.status import TRANSITIONS

# Statuses after which `--wait` stops watching (a launch also stops at `ready`).
LAUNCH_END = {"ready", "failed", "destroyed", "stopped"}
STATUSES = set(TRANSITIONS)
REFRESH = 5.0  # seconds between reads of the cluster while the stream is quiet


class EventStream:
    """A thread that follows a cluster's events and queues them; `supported` is False
    when the server does not stream (then the watch polls)."""

    def __init__(self, api: APIClient, path: str):
        self.api, self.path = api, path
        self.events: queue.Queue = queue.Queue()
        self.last_id: int | None = None
        self.supported: bool | None = None
        self.known = threading.Event()  # set once `supported` is known
        self.stopping = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.known.wait(10)

    def _run(self) -> None:
        failures = 0
        while not self.stopping.is_set() and failures < 10:
            headers = {"Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = str(self.last_id)
            try:
                with self.api.http.stream("GET", self.path + "/events", params={"follow": "true"},
                                          headers=headers, timeout=httpx.Timeout(10, read=60)) as r:
                    if r.status_code != 200 or not r.headers.get("content-type", "").startswith(
                            "text/event-stream"):
                        break
                    self.supported, failures = True, 0
                    self.known.set()
                    self._read(r.iter_lines())
            except httpx.HTTPError:
                failures += 1
                self.stopping.wait(1)
        if not self.supported:
            self.supported = False
        self.known.set()

    def _read(self, lines) -> None:
        current: dict = {}
        for line in lines:
            if self.stopping.is_set():
                return
            if line.startswith("id:"):
                current["id"] = int(line[3:].strip())
            elif line.startswith("data:"):
                current.update(json.loads(line[5:].strip()))
            elif line == "" and "id" in current:
                self.last_id = current["id"]
                self.events.put(current)
                current = {}

    def wait(self, timeout: float) -> list[dict]:
        """The events that came within `timeout` (returns at the first one)."""
        try:
            first = self.events.get(timeout=timeout)
        except queue.Empty:
            return []
        return [first, *self.drain()]

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.stopping.set()


def wait_quietly(api: APIClient, path: str, until: set[str], timeout: float) -> int:
    """Wait for a status in `until` printing nothing; a failure's reason goes to stderr."""
    deadline = time.monotonic() + timeout
    stream = EventStream(api, path)
    try:
        return _wait_quietly(api, path, until, timeout, deadline, stream)
    finally:
        stream.close()


def _wait_quietly(api, path, until, timeout, deadline, stream) -> int:
    while True:
        c = api.get(path)
        if c.get("status") in until:
            return 0
        if c.get("status") == "failed":
            print(f"error: {short_dn(path)} failed: {c.get('reason', '')}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"error: {short_dn(path)} is still {c.get('status')} after {timeout:g}s", file=sys.stderr)
            return 1
        if stream.supported:
            stream.wait(REFRESH)
        else:
            time.sleep(1)


def watch(api: APIClient, path: str, until: set[str], timeout: float, as_json: bool = False,
          gone_ok: bool = False) -> int:
    """Poll a cluster, printing each status change as it happens and a live progress line,
    until it reaches a status in `until` (0) or `failed` (1)."""
    return Watch(api, path, until, timeout, as_json, gone_ok).run()


class Watch:
    """One `--wait`: what the previous poll showed, so each poll prints only what changed."""

    def __init__(self, api: APIClient, path: str, until: set[str], timeout: float,
                 as_json: bool, gone_ok: bool):
        self.api, self.path, self.until = api, path, until
        self.timeout, self.as_json, self.gone_ok = timeout, as_json, gone_ok
        self.tty = sys.stdout.isatty()
        self.deadline = time.monotonic() + timeout
        self.last_status, self.last_progress = None, None
        self.live = False  # a progress line is on screen, not yet ended by a newline
        self.seen_events = None

    def run(self) -> int:
        stream = EventStream(self.api, self.path)
        try:
            while True:
                c = self.poll()
                self.show(c, stream.drain() if stream.supported else None)
                code = self.outcome(c)
                if code is not None:
                    return code
                if stream.supported:
                    for event in stream.wait(REFRESH):
                        stream.events.put(event)  # shown by the next show(), after its read
                else:
                    time.sleep(1)
        finally:
            stream.close()

    def poll(self) -> dict:
        try:
            return self.api.get(self.path)
        except ClientError as exc:
            # Destroying ends with the cluster gone: its 404 is the last status.
            if self.gone_ok and str(exc).startswith("404"):
                return {"status": "destroyed"}
            raise

    def show(self, c: dict, streamed: list[dict] | None = None) -> None:
        status, percent, step = c.get("status"), c.get("progress") or 0, c.get("step") or ""
        # Every transition is an event, so reading them (not just polling the status)
        # shows each one, even those that came and went between two polls. Warnings
        # (e.g. "waiting for resources: ...") tell the user why nothing moves.
        if streamed is not None:
            fresh = streamed
        else:
            self.seen_events, fresh = new_events(self.api, self.path, self.seen_events)
        lines = event_lines(fresh or ())
        if fresh is None and status != self.last_status:  # no events to read: say what the cluster says
            lines.append(f"{time.strftime('%H:%M:%S')}  {status}")
        if lines:
            self.end_live_line()
        for line in lines:
            print(line, flush=True)
        if self.tty and status not in self.until | {"failed"}:
            sys.stdout.write(f"\r  {status:<12} {progress_bar(percent)} {step:>7}")
            sys.stdout.flush()
            self.live = True
        elif not self.tty and status == self.last_status and (percent, step) != self.last_progress:
            print(f"          {status} {percent}% {step}".rstrip(), flush=True)
        self.last_status, self.last_progress = status, (percent, step)

    def outcome(self, c: dict) -> int | None:
        """The exit code once the watch is over, None while it goes on."""
        status = c.get("status")
        if status in self.until:
            self.end_live_line()
            if self.as_json:
                print_json(c)
            elif status == "ready":
                self.print_ready(c)
            return 0
        if status == "failed":
            self.end_live_line()
            print(f"error: cluster failed: {c.get('reason') or 'no reason given'}", file=sys.stderr)
            return 1
        if status in LAUNCH_END:
            print(f"error: cluster is {status}", file=sys.stderr)
            return 1
        if time.monotonic() > self.deadline:
            self.end_live_line()
            print(f"error: gave up waiting after {self.timeout:.0f}s; the cluster is still {status}",
                  file=sys.stderr)
            return 1
        return None

    def end_live_line(self) -> None:
        if self.live:
            print()
            self.live = False

    def print_ready(self, c: dict) -> None:
        print(f"Cluster {short_dn(c.get('dn') or c.get('uri') or self.path)} is ready.")
        nodes = c.get("nodes")
        if not nodes or not isinstance(nodes[0], dict):
            nodes = as_list(self.api.get(self.path + "/nodes"), "nodes")
        print_nodes(nodes)


def new_events(api: APIClient, path: str, seen: int | None) -> tuple[int | None, list[dict] | None]:
    """The cluster's events that appeared since the last look (None: none to be had)."""
    try:
        events = api.get_all(path + "/events", "events")
    except ClientError:
        return seen, None
    return len(events), events[seen or 0:]


def event_lines(events) -> list[str]:
    """The lines worth showing while watching: statuses reached, and warnings."""
    lines = []
    for event in events:
        reached = transition_of(event)
        if reached:
            lines.append(f"{fmt_time(event.get('time'))[11:]}  {reached}")
        elif event.get("level", "info") not in ("info", "error"):
            lines.append(f"{fmt_time(event.get('time'))[11:]}  {event.get('level')}: {event.get('message')}")
    return lines


def transition_of(event: dict) -> str | None:
    """The status an event records reaching ("scheduled" or "failed: <reason>"), if any."""
    head = str(event.get("message", "")).split(":", 1)[0].strip()
    return head if head in STATUSES else None



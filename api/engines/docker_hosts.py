"""The docker engine's hosts: one Docker SDK client per host, and calls to many at once.

A host is either the embedded local engine (the environment's DOCKER_HOST or socket:
what `make run` uses with no host registered) or a host an admin registered, reached by
its `url` (unix://, tcp:// with optional TLS client certificates, ssh:// through the
ssh binary) as the registry says. A host that does not answer must never stall a
controller: every client connects within CONNECT_TIMEOUT, probes answer within
PROBE_TIMEOUT, calls to several hosts run in parallel (`each`), and a host the last
probe found silent is refused at once (`HostUnreachable`) instead of waited on.
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import docker
from docker.errors import DockerException

from api.engines.base import HostUnreachable

CONNECT_TIMEOUT = 3.05  # seconds to open a connection to a host's engine
CALL_TIMEOUT = 120  # seconds an ordinary call may take to answer (create, start, inspect)
LOAD_TIMEOUT = 900  # seconds an image load may take
PROBE_TIMEOUT = 4.0  # seconds a probe (ping, info) may take in all
INFO_SECONDS = 30.0  # how often a probe asks for `docker info` (cpus, memory) rather than a ping


class EngineError(RuntimeError):
    """The engine refused to do something; the message says what and why."""


@dataclass(frozen=True)
class Endpoint:
    """How to reach one host's engine."""
    name: str
    url: str = ""  # "" = the embedded local engine (the environment's)
    tls: tuple = ()  # sorted (key, path) pairs: hashable, so clients can be cached by it
    address: str = ""

    @property
    def embedded(self) -> bool:
        return not self.url

    @classmethod
    def of(cls, name: str, url: str = "", tls: dict | None = None, address: str = "") -> "Endpoint":
        return cls(name, url, tuple(sorted((tls or {}).items())), address)


def make_client(endpoint: Endpoint, timeout) -> docker.DockerClient:
    """A client of the endpoint's engine; connects (and learns the API version) now."""
    # The version lookup at construction takes a plain number; calls then get
    # (connect, read) so a silent host fails within the connect timeout.
    kwargs: dict = {"timeout": timeout if isinstance(timeout, (int, float)) else timeout[0],
                    "max_pool_size": 32}
    if endpoint.embedded:
        client = docker.from_env(**kwargs)
        client.api.timeout = timeout
        return client
    tls = dict(endpoint.tls)
    if tls:
        kwargs["tls"] = docker.tls.TLSConfig(
            client_cert=(tls["cert"], tls["key"]), ca_cert=tls.get("ca"),
            verify=tls.get("ca") or False)
    if endpoint.url.startswith("ssh://"):
        kwargs["use_ssh_client"] = True  # the ssh binary, with the user's ssh config and agent
    # Not from the environment: REQUESTS_CA_BUNDLE would replace the host's CA (seen here:
    # "unable to get local issuer certificate"), HTTP_PROXY would send tcp:// through a
    # proxy. So the client is made without asking the version, told so, then asks it.
    client = docker.DockerClient(base_url=endpoint.url,
                                 version=docker.constants.MINIMUM_DOCKER_API_VERSION, **kwargs)
    client.api.trust_env = False
    client.api.timeout = timeout  # (connect, read) from the very first call
    client.api._version = client.api._retrieve_server_version()
    return client


@dataclass
class _Seen:
    ok: bool
    at: float
    error: str = ""
    info: dict = field(default_factory=dict)
    info_at: float = 0.0


class HostPool:
    """Clients of every host's engine, their last probe, and parallel calls."""

    def __init__(self, workers: int = 32):
        self._clients: dict[tuple, docker.DockerClient] = {}
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="bdp-docker-host")

    def client(self, endpoint: Endpoint, *, purpose: str = "call") -> docker.DockerClient:
        """The cached client for calls (`call`), probes (`probe`) or image loads (`load`).
        Raises HostUnreachable when the engine cannot be reached."""
        key = (endpoint, purpose)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        timeout = {"call": (CONNECT_TIMEOUT, CALL_TIMEOUT), "probe": PROBE_TIMEOUT,
                   "load": (CONNECT_TIMEOUT, LOAD_TIMEOUT)}[purpose]
        try:
            made = make_client(endpoint, timeout)
        except DockerException as exc:
            self.note(endpoint.name, False, _why(exc))
            raise HostUnreachable(f"host {endpoint.name} ({endpoint.url or 'local engine'}) "
                                  f"does not answer: {_why(exc)}") from None
        with self._lock:
            return self._clients.setdefault(key, made)

    def forget(self, name: str) -> None:
        """Drop the clients and what is known of a host (removed, or checked anew)."""
        with self._lock:
            for key in [k for k in self._clients if k[0].name == name]:
                self._clients.pop(key).close()
        self._seen.pop(name, None)

    # -- reachability --------------------------------------------------------------------
    def note(self, name: str, ok: bool, error: str = "", info: dict | None = None,
             info_at: float | None = None) -> None:
        previous = self._seen.get(name)
        self._seen[name] = _Seen(ok, time.monotonic(), error,
                                 info if info is not None else (previous.info if previous else {}),
                                 info_at if info_at is not None else (previous.info_at if previous else 0.0))

    def silent(self, name: str) -> str | None:
        """Why the host was silent at its last probe, or None when it answered (or was
        never probed)."""
        seen = self._seen.get(name)
        return seen.error if seen is not None and not seen.ok else None

    def info(self, name: str) -> dict:
        """The host's last `docker info` ({} if never asked)."""
        seen = self._seen.get(name)
        return seen.info if seen is not None else {}

    def checked(self, endpoint: Endpoint) -> docker.DockerClient:
        """The call client of a host that answered its last probe; HostUnreachable at once
        for a silent one (a call would wait for the connect timeout on every try)."""
        why = self.silent(endpoint.name)
        if why is not None:
            raise HostUnreachable(f"host {endpoint.name} does not answer: {why}")
        return self.client(endpoint)

    def probe(self, endpoint: Endpoint) -> dict:
        """Whether the host answers, within PROBE_TIMEOUT, and its `docker info` (asked
        again every INFO_SECONDS only: a ping is far cheaper for a busy engine); records
        the outcome."""
        seen = self._seen.get(endpoint.name)
        fresh = seen is not None and seen.info and time.monotonic() - seen.info_at < INFO_SECONDS
        try:
            client = self.client(endpoint, purpose="probe")
            if fresh:
                client.ping()
                info = seen.info
            else:
                info = client.info()
        except HostUnreachable as exc:
            self.note(endpoint.name, False, str(exc))
            raise
        except Exception as exc:  # requests' and urllib3's errors, OSError...
            self.note(endpoint.name, False, _why(exc))
            raise HostUnreachable(f"host {endpoint.name} does not answer: {_why(exc)}") from None
        self.note(endpoint.name, True, info=info, info_at=None if fresh else time.monotonic())
        return info

    # -- parallel calls ------------------------------------------------------------------
    def each(self, endpoints, call, timeout: float = PROBE_TIMEOUT + 1) -> dict:
        """`call(endpoint)` on every endpoint at once; {name: result or the exception}.
        A call still running after `timeout` counts as HostUnreachable (it finishes in
        the background; its result is dropped)."""
        futures = {e.name: self._pool.submit(call, e) for e in endpoints}
        deadline = time.monotonic() + timeout
        out = {}
        for name, future in futures.items():
            try:
                out[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                self.note(name, False, f"no answer within {timeout:g}s")
                out[name] = HostUnreachable(f"host {name} does not answer within {timeout:g}s")
            except Exception as exc:
                out[name] = exc
        return out

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


_REASON = re.compile(r"\[Errno -?\d+\] [^'\"()]+|timed out|Connection refused|Connection aborted"
                     r"|No such file or directory|Permission denied")


def _why(exc: Exception) -> str:
    """The useful part of a connection error ("[Errno 113] No route to host", "timed out")."""
    text = str(exc)
    found = _REASON.findall(text)
    if found:
        return found[-1].strip()
    return text[:300] or exc.__class__.__name__

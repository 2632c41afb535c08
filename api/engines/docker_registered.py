"""What the docker engine does with the hosts an admin registered: reads them from the
registry, checks a new one (its `docker info`: cpus, memory), makes its data-disk
directories, sends it node images, deletes a destroyed node's disk data, runs network
changes in its network agent, and finds the swarm manager an overlay network is made on. A mixin of DockerEngine (docker.py), which has the clients (`pool`).
"""
from __future__ import annotations

import logging
import shlex
import threading
from pathlib import Path

from api.core.models import Host, db
from api.engines.base import HostInfo
from api.engines.docker_helper import agent_exec, remove_agent, run_helper
from api.engines.docker_hosts import Endpoint, EngineError, HostUnreachable, _why, make_client

log = logging.getLogger("bdp.engine.docker")
DISK_MOUNT = "/bdp-disk"
# A new host's first `docker info`: a wrong address fails within the connect timeout; a
# daemon that has just started (or a busy host) may take longer than a probe to answer.
REGISTER_TIMEOUT = (10, 30)


class RegisteredHosts:
    """Mixin: expects `settings`, `pool`, `client`, `platform_label`, `_client_of`."""

    def registered(self) -> list[Endpoint]:
        """The hosts an admin registered (url set), from the registry."""
        if db.obj is None:  # an engine used without a registry (tools, some tests)
            return []
        return [Endpoint.of(h.name, h.url, h.tls, h.address) for h in
                Host.select(Host.name, Host.url, Host.tls, Host.address)
                .where((Host.url != "") & (Host.engine == self.name)).order_by(Host.name)]

    def describe_host(self, name: str, url: str, tls: dict | None, address: str = ""):
        """A host not registered yet, as the engine sees it (HostInfo); HostUnreachable
        when its engine does not answer."""
        ep = Endpoint.of(name, url, tls, address)
        try:
            client = make_client(ep, REGISTER_TIMEOUT)
            info = client.info()
        except Exception as exc:
            raise HostUnreachable(f"the Docker engine at {url} does not answer: {_why(exc)}") from None
        client.close()
        self.pool.forget(name)
        return self.host_info(ep, info)

    def host_info(self, ep: Endpoint, info: dict) -> HostInfo:
        """A host's totals from its `docker info` (cpus × BDP_CPU_OVERCOMMIT)."""
        return HostInfo(
            name=ep.name, cpus=float(info["NCPU"] * self.settings.cpu_overcommit),
            mem=int(info["MemTotal"] // 2**20), disks=[], address=ep.address, registered=True,
            attributes={"engine": "docker", "server_version": info.get("ServerVersion", ""),
                        "daemon": info.get("Name", ""), "engine_cpus": info["NCPU"],
                        "swarm": (info.get("Swarm") or {}).get("LocalNodeState", "")})

    def _swarm_manager(self) -> Endpoint:
        answering = [ep for ep in self.registered() if self.pool.silent(ep.name) is None]
        for fresh in (False, True):  # what the probes saw, else ask now (a swarm just formed)
            for ep in answering:
                info = self.pool.client(ep, purpose="probe").info() if fresh else self.pool.info(ep.name)
                if (info.get("Swarm") or {}).get("ControlAvailable"):
                    return ep
        raise EngineError("an overlay network needs the hosts to form a Docker Swarm, and no "
                          "registered host that answers is a swarm manager")

    def host_returned(self, name: str) -> None:
        """Back after being lost: its VXLAN devices are checked afresh on the next pass."""
        self.forget_segments(name)

    def forget_host(self, name: str, endpoint: Endpoint | None = None) -> None:
        """A host was removed from the registry: its network agent goes (when it answers),
        then its clients and what was known of it."""
        if endpoint is not None:
            try:
                self._drop_agent(endpoint)
            except Exception as exc:  # gone or silent: nothing more to do there
                log.warning("host %s: cannot remove the network agent: %s", name, exc)
        self.pool.forget(name)
        self.networks.forget(name)
        self._silent.discard(name)

    def _helper(self, ep: Endpoint, script: str, **kwargs) -> str:
        """Run a helper container of the base image on a host (sending the image first)."""
        from api.engines.images import BASE_IMAGE, ensure_base_image
        ensure_base_image(self.client, log=log.debug)
        self._send_image(ep, BASE_IMAGE)
        client = self.client if ep.embedded else self.pool.client(ep)
        return run_helper(client, BASE_IMAGE, script, platform=self.platform_label, **kwargs)

    def _agent(self, ep: Endpoint, script: str, purpose: str) -> str:
        """Run a network change in the host's namespace, through its network agent."""
        from api.engines.images import BASE_IMAGE, ensure_base_image
        ensure_base_image(self.client, log=log.debug)
        self._send_image(ep, BASE_IMAGE)
        client = self.client if ep.embedded else self.pool.client(ep)
        return agent_exec(client, BASE_IMAGE, script, platform=self.platform_label,
                          name=f"bdp-agent-{self.network_suffix}", purpose=purpose)

    def _drop_agent(self, ep: Endpoint) -> None:
        remove_agent(self.client if ep.embedded else self.pool.client(ep),
                     f"bdp-agent-{self.network_suffix}")

    def prepare_disks(self, host: str, paths: list[str], url: str = "", tls: dict | None = None) -> None:
        """Create the data-disk directories on the host (docker makes a missing bind
        source) and check they can be written. `url`/`tls` reach a host not registered yet."""
        if not paths:
            return
        ep = Endpoint.of(host, url, tls) if url else self.endpoint(host)
        binds = {p: f"{DISK_MOUNT}{i}" for i, p in enumerate(paths)}
        script = " && ".join(f"touch {d}/.bdp-probe && rm {d}/.bdp-probe" for d in binds.values())
        self._helper(ep, script, binds=binds, purpose=f"disks of {host}")

    def clean_disks(self, host: str, paths: list[str]) -> None:
        """Delete directories on the host's disks (a destroyed node's data)."""
        ep = self.endpoint(host)
        if ep.embedded:
            return super().clean_disks(host, paths)
        binds, targets = {}, []
        for path in paths:
            parent = str(Path(path).parent)
            mount = binds.setdefault(parent, f"{DISK_MOUNT}{len(binds)}")
            targets.append(f"{mount}/{Path(path).name}")
        if targets:
            self.pool.checked(ep)  # HostUnreachable at once for a silent host
            self._helper(ep, "rm -rf -- " + " ".join(shlex.quote(t) for t in targets),
                         binds=binds, purpose=f"cleaning disks on {host}")

    def ensure_image_on(self, host: str, image: str) -> str | None:
        """Send `image` to a registered host lacking it (docker save once, load there)."""
        return self._send_image(self.endpoint(host), image)

    def _send_image(self, ep: Endpoint, image: str) -> str | None:
        if ep.embedded:
            return None
        from api.engines.image_transfer import ensure_on
        with self._images_lock:
            lock = self._image_locks.setdefault((ep.name, image), threading.Lock())
        with lock:  # two clusters placed at once send an image to a host once
            return ensure_on(self.client, self.pool.client(ep), self.pool.client(ep, purpose="load"),
                             image, ep.name, self.settings.data_dir / "images")

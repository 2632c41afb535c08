"""Short-lived helper containers: how the platform does things *on* a host when all it
has is the host's Docker API (create data-disk directories, delete a destroyed node's
disk data, set up VXLAN devices in the host's network namespace).

A helper runs the base image with its entrypoint replaced by `sh -c SCRIPT`, labelled
with the platform, and is removed when done; its exit code and output come back. Network
changes, which a launch waits for, go to the host's network agent instead: one idle
container in the host's network namespace, reached by exec (`agent_exec`).
"""
from __future__ import annotations

from docker.errors import APIError, NotFound

from api.engines.base import LABEL_PLATFORM

HELPER_LABEL = "org.bdp.helper"
HELPER_TIMEOUT = 60  # seconds a helper may run


class HelperFailed(RuntimeError):
    pass


def run_helper(client, image: str, script: str, *, platform: str, binds: dict | None = None,
               host_network: bool = False, cap_add: list[str] | None = None,
               purpose: str = "helper", timeout: float = HELPER_TIMEOUT) -> str:
    """Run `script` in a throwaway container of `image`; its output, or HelperFailed."""
    api = client.api
    host_config = api.create_host_config(
        binds={src: {"bind": dst, "mode": "rw"} for src, dst in (binds or {}).items()},
        network_mode="host" if host_network else "none", cap_add=cap_add or None,
        auto_remove=False)
    created = api.create_container(
        image, entrypoint=["sh", "-c", script], user="root", host_config=host_config,
        labels={LABEL_PLATFORM: platform, HELPER_LABEL: purpose}, detach=True)
    cid = created["Id"]
    try:
        api.start(cid)
        result = api.wait(cid, timeout=timeout)
        output = api.logs(cid, stdout=True, stderr=True).decode(errors="replace").strip()
        if result.get("StatusCode") != 0:
            raise HelperFailed(f"{purpose} failed (exit {result.get('StatusCode')}): "
                               f"{output[-1000:] or 'no output'}")
        return output
    finally:
        try:
            api.remove_container(cid, force=True)
        except (NotFound, APIError):
            pass


AGENT_PURPOSE = "network agent"
# Sleeps until stopped, answering SIGTERM at once (it is PID 1: no default handler).
_IDLE = "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"


def _agent(client, image: str, platform: str, name: str) -> str:
    api = client.api
    try:
        data = api.inspect_container(name)
        if (data["Config"].get("Labels") or {}).get(LABEL_PLATFORM) != platform:
            raise HelperFailed(f"container {name} on this host is not this platform's")
        if data["State"]["Status"] == "running":
            return data["Id"]
        api.remove_container(data["Id"], force=True)
    except NotFound:
        pass
    host_config = api.create_host_config(network_mode="host", cap_add=["NET_ADMIN"])
    try:
        cid = api.create_container(image, name=name, entrypoint=["sh", "-c", _IDLE], user="root",
                                   host_config=host_config, detach=True,
                                   labels={LABEL_PLATFORM: platform, HELPER_LABEL: AGENT_PURPOSE})["Id"]
    except APIError as exc:
        if exc.status_code != 409:  # made meanwhile by another thread: use that one
            raise
        return _agent(client, image, platform, name)
    api.start(cid)
    return cid


def agent_exec(client, image: str, script: str, *, platform: str, name: str,
               purpose: str = "network change") -> str:
    """Run `script` in the host's network agent: one long-lived container of `image` in the
    host's network namespace with NET_ADMIN, made on first use, so a VXLAN change costs an
    exec rather than a container. Its output, or HelperFailed."""
    api = client.api
    cid = _agent(client, image, platform, name)
    exec_id = api.exec_create(cid, ["sh", "-c", script], user="root")["Id"]
    output = api.exec_start(exec_id).decode(errors="replace").strip()
    code = api.exec_inspect(exec_id).get("ExitCode")
    if code != 0:
        raise HelperFailed(f"{purpose} failed (exit {code}): {output[-1000:] or 'no output'}")
    return output


def remove_agent(client, name: str) -> None:
    try:
        client.api.remove_container(name, force=True)
    except (NotFound, APIError):
        pass

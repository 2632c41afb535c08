"""`docker_opts` of a node template turned into Docker SDK keyword arguments. Which
options and values a node may have is decided by `api/core/privileges.py` (checked
again here, against the product's privileges the NodeSpec carries: defence in depth);
anything else (--privileged, --network, -v ...) would bypass what the platform manages
(limits, addresses, disks). Pure; the Mesos engine passes the same options on as
parameters."""
from __future__ import annotations

from docker.types import Ulimit

from api.core.privileges import parse

# Options a node template may pass to docker, and the create_host_config keyword each fills.
_LIST_OPTS = {"--cap-add": "cap_add", "--cap-drop": "cap_drop", "--device": "devices",
              "--security-opt": "security_opt"}


def parse_docker_opts(text: str, privileges: dict | None = None) -> dict:
    """Turn a template's ``docker_opts`` string into docker-py keyword arguments:
    ``{"host_config": {...}, "environment": {...}}``. Raises ValueError naming the
    option (and value) at fault."""
    host: dict = {}
    env: dict[str, str] = {}
    for opt, value in parse(text, privileges):
        if opt in _LIST_OPTS:
            key = _LIST_OPTS[opt]
            if key == "devices" and ":" not in value:
                value = f"{value}:{value}:rwm"
            host.setdefault(key, []).append(value)
        elif opt == "--tmpfs":
            path, _, options = value.partition(":")
            host.setdefault("tmpfs", {})[path] = options
        elif opt == "--shm-size":
            host["shm_size"] = value
        elif opt in ("-e", "--env"):
            name, _, val = value.partition("=")
            env[name] = val
        elif opt == "--ulimit":
            name, _, limits = value.partition("=")
            soft, _, hard = limits.partition(":")
            host.setdefault("ulimits", []).append(Ulimit(name=name, soft=int(soft), hard=int(hard or soft)))
    return {"host_config": host, "environment": env}

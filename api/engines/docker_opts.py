"""`docker_opts` of a node template: the few `docker run` options a node may have,
parsed into Docker SDK keyword arguments. Anything else (--privileged, --network, -v
...) would bypass what the platform manages (limits, addresses, disks), so it is
refused by name. Pure; the Mesos engine passes the same options on as parameters."""
from __future__ import annotations

import shlex

from docker.types import Ulimit

# Options a node template may pass to docker, and the create_host_config keyword each fills.
_LIST_OPTS = {"--cap-add": "cap_add", "--cap-drop": "cap_drop", "--device": "devices",
              "--security-opt": "security_opt"}
_SUPPORTED = sorted([*_LIST_OPTS, "--tmpfs", "--shm-size", "-e", "--env", "--ulimit"])


def parse_docker_opts(text: str) -> dict:
    """Turn a template's ``docker_opts`` string into docker-py keyword arguments:
    ``{"host_config": {...}, "environment": {...}}``. Raises ValueError naming the
    option at fault."""
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise ValueError(f"docker_opts: cannot parse {text!r}: {exc}") from None
    host: dict = {}
    env: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and "=" in word:
            opt, value = word.split("=", 1)
            i += 1
        else:
            opt = word
            if opt not in _SUPPORTED:
                raise ValueError(f"docker_opts: option {opt!r} is not allowed "
                                 f"(allowed: {', '.join(_SUPPORTED)})")
            if i + 1 >= len(words):
                raise ValueError(f"docker_opts: option {opt!r} needs a value")
            value = words[i + 1]
            i += 2
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
            name, sep, val = value.partition("=")
            if not name:
                raise ValueError(f"docker_opts: bad environment variable {value!r}")
            env[name] = val
        elif opt == "--ulimit":
            name, _, limits = value.partition("=")
            soft, _, hard = limits.partition(":")
            try:
                host.setdefault("ulimits", []).append(
                    Ulimit(name=name, soft=int(soft), hard=int(hard or soft)))
            except ValueError:
                raise ValueError(f"docker_opts: bad --ulimit {value!r} "
                                 "(expected name=soft[:hard])") from None
        else:
            raise ValueError(f"docker_opts: option {opt!r} is not allowed "
                             f"(allowed: {', '.join(_SUPPORTED)})")
    return {"host_config": host, "environment": env}

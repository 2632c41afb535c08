"""docker_opts parsing: the few `docker run` options a node template may use become
Docker SDK arguments; anything else is refused by name. Pure, no Docker."""
from __future__ import annotations

import pytest

from api.engines.docker_opts import parse_docker_opts


def test_allowed_options_become_host_config_and_environment():
    out = parse_docker_opts("--cap-add SYS_ADMIN --device /dev/fuse --security-opt apparmor=unconfined "
                            "--tmpfs /run:size=64m --shm-size=256m -e A=1 --env B=two --ulimit nofile=1024:2048")
    host = out["host_config"]
    assert host["cap_add"] == ["SYS_ADMIN"]
    assert host["devices"] == ["/dev/fuse:/dev/fuse:rwm"]
    assert host["security_opt"] == ["apparmor=unconfined"]
    assert host["tmpfs"] == {"/run": "size=64m"} and host["shm_size"] == "256m"
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in host["ulimits"]] == [("nofile", 1024, 2048)]
    assert out["environment"] == {"A": "1", "B": "two"}


def test_empty_is_nothing():
    assert parse_docker_opts("") == {"host_config": {}, "environment": {}}


@pytest.mark.parametrize("text, fragment", [
    ("--privileged", "option '--privileged' is not allowed"),
    ("--network host", "option '--network' is not allowed"),
    ("-v /:/host", "option '-v' is not allowed"),
    ("--cap-add", "option '--cap-add' needs a value"),
    ("--ulimit nofile=lots", "bad --ulimit 'nofile=lots'"),
    ("-e =x", "bad environment variable '=x'"),
    ("--cap-add 'SYS", "cannot parse"),
])
def test_everything_else_is_refused_by_name(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse_docker_opts(text)
    assert fragment in str(exc.value) and str(exc.value).startswith("docker_opts: ")

"""docker_opts by value (issue 11, finding 2): the few `docker run` options a node
template may use become Docker SDK arguments, each value allowed only as the product's
privileges grant it; anything else is refused naming option and value. Pure, no Docker."""
from __future__ import annotations

import pytest

from api.core import privileges
from api.core.errors import Invalid
from api.engines.docker_opts import parse_docker_opts

GLUSTER = {"capabilities": ["SYS_ADMIN"], "devices": ["/dev/fuse"], "security_opt": ["apparmor=unconfined"]}


def test_granted_options_become_host_config_and_environment():
    out = parse_docker_opts("--cap-add SYS_ADMIN --device /dev/fuse --security-opt apparmor=unconfined "
                            "--tmpfs /run:size=64m --shm-size=256m -e A=1 --env B=two --ulimit nofile=1024:2048 "
                            "--cap-drop NET_RAW --security-opt no-new-privileges", GLUSTER)
    host = out["host_config"]
    assert host["cap_add"] == ["SYS_ADMIN"] and host["cap_drop"] == ["NET_RAW"]
    assert host["devices"] == ["/dev/fuse:/dev/fuse:rwm"]
    assert host["security_opt"] == ["apparmor=unconfined", "no-new-privileges"]
    assert host["tmpfs"] == {"/run": "size=64m"} and host["shm_size"] == "256m"
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in host["ulimits"]] == [("nofile", 1024, 2048)]
    assert out["environment"] == {"A": "1", "B": "two"}


def test_empty_is_nothing():
    assert parse_docker_opts("") == {"host_config": {}, "environment": {}}


@pytest.mark.parametrize("text, fragment", [
    # Finding 2: each of these was accepted by option name alone.
    ("--cap-add=ALL", "--cap-add 'ALL': the capability is not among the product's privileges"),
    ("--cap-add SYS_MODULE", "--cap-add 'SYS_MODULE': the capability is not among"),
    ("--device=/dev/sda", "--device '/dev/sda': the device is not among the product's privileges "
                          "(this product grants /dev/fuse)"),
    ("--device /dev/fuse:/dev/fuse:rwm --device /dev/mem", "--device '/dev/mem'"),
    ("--security-opt seccomp=unconfined", "--security-opt 'seccomp=unconfined': the security option"),
    ("--security-opt systempaths=unconfined", "--security-opt 'systempaths=unconfined'"),
    ("--security-opt apparmor:docker-default", "--security-opt 'apparmor:docker-default'"),
    ("-e LD_PRELOAD=/tmp/x.so", "LD_PRELOAD changes what programs load or run at start-up"),
    ("--env PATH=/tmp", "PATH changes what programs load"),
    ("-e PYTHONSTARTUP=/x", "PYTHONSTARTUP changes"),
    ("-e BDP_AUTHORIZED_KEYS=x", "BDP_AUTHORIZED_KEYS changes"),
    ("-e 1A=x", "not a variable name"),
    ("--tmpfs /run", "give size=, at most 16g"),
    ("--tmpfs /run:size=64g", "give size=, at most 16g"),
    ("--tmpfs /proc/x:size=1m", "outside /proc, /sys and /dev"),
    ("--tmpfs /run:size=1m,dev", "tmpfs option 'dev' is not allowed"),
    ("--shm-size 100g", "at most 16g"),
    ("--ulimit nofile=10:5", "soft <= hard"),
    ("--ulimit bogus=1", "unknown ulimit"),
    ("--ulimit nofile=lots", "expected name=soft[:hard]"),
    ("--privileged", "option '--privileged' is not allowed"),
    ("--network host", "option '--network' is not allowed"),
    ("-v /:/host", "option '-v' is not allowed"),
    ("--cap-add", "option '--cap-add' needs a value"),
    ("--cap-add 'SYS", "cannot parse"),
])
def test_everything_else_is_refused_naming_option_and_value(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse_docker_opts(text, GLUSTER)
    assert fragment in str(exc.value) and str(exc.value).startswith("docker_opts: ")


def test_a_product_without_privileges_grants_none():
    with pytest.raises(ValueError) as exc:
        parse_docker_opts("--cap-add SYS_ADMIN")
    assert "this product grants none" in str(exc.value)


def test_privileges_are_normalised_and_what_amounts_to_privileged_cannot_be_granted():
    assert privileges.check({"capabilities": ["cap_sys_admin", "SYS_ADMIN"], "security_opt": ["apparmor:x"]}) == \
        {"capabilities": ["SYS_ADMIN"], "security_opt": ["apparmor=x"]}
    for doc, field in [({"capabilities": ["ALL"]}, "privileges.capabilities.0"),
                       ({"security_opt": ["seccomp=unconfined"]}, "privileges.security_opt.0"),
                       ({"security_opt": ["systempaths=unconfined"]}, "privileges.security_opt.0"),
                       ({"devices": ["/etc/passwd"]}, "privileges.devices.0"),
                       ({"devices": ["/dev/../etc"]}, "privileges.devices.0"),
                       ({"network": ["host"]}, "privileges.network"),
                       ({"devices": "/dev/fuse"}, "privileges.devices")]:
        with pytest.raises(Invalid) as exc:
            privileges.check(doc)
        assert exc.value.field == field, doc

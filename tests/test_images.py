"""api.engines.images against the real Docker Engine (no mocks).

The first run builds bdp/base:bookworm (debootstrap + build, about a minute); later runs
find it cached. Every container started here is removed again.
"""
import socket
import subprocess
import time
import uuid

import docker
import pytest

from api.engines import images

pytestmark = pytest.mark.docker

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdpTestKeyOnlyForTestsXXXXXXXXXXXXXXXXXXXX test@bdp"


@pytest.fixture(scope="module")
def client():
    return docker.from_env(timeout=images.BUILD_TIMEOUT)


@pytest.fixture(scope="module")
def base(client):
    """Ensure the base image once for the module (builds it on a fresh engine)."""
    return images.ensure_base_image(client)


@pytest.fixture
def run_container(client):
    """Start containers with detach=True; all are force-removed at teardown."""
    started = []

    def run(image, **kwargs):
        container = client.containers.run(image, detach=True, **kwargs)
        started.append(container)
        return container

    yield run
    for container in started:
        container.remove(force=True)


@pytest.fixture
def temp_tag(client):
    """A unique image tag, removed at teardown."""
    tag = f"bdp/test-{uuid.uuid4().hex[:8]}:latest"
    yield tag
    if images.image_exists(tag, client):
        client.images.remove(tag, force=True)


def _ssh_banner(ip, timeout=20.0):
    """The first line sshd sends, retried until sshd listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((ip, 22), timeout=2) as sock:
                return sock.recv(256).decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_base_image_present(base, client):
    assert base == images.BASE_IMAGE
    assert images.image_exists(base, client)
    assert client.images.get(base).labels.get(images.HASH_LABEL)
    assert not images.image_exists("bdp/no-such-image:never", client)


def test_base_container_runs_sshd(base, run_container):
    container = run_container(base, environment={"BDP_AUTHORIZED_KEYS": KEY})
    container.reload()
    ip = container.attrs["NetworkSettings"]["IPAddress"]
    assert ip, container.attrs["NetworkSettings"]

    assert _ssh_banner(ip).startswith("SSH-2.0")

    code, out = container.exec_run("cat /root/.ssh/authorized_keys")
    assert code == 0 and out.decode().strip() == KEY
    code, out = container.exec_run("stat -c %a /root/.ssh /root/.ssh/authorized_keys")
    assert out.decode().split() == ["700", "600"]
    # No host keys in the image: each container made its own.
    code, out = container.exec_run("sh -c 'ls /etc/ssh/ssh_host_*_key'")
    assert code == 0 and "ssh_host_ed25519_key" in out.decode()


def test_root_login_with_key(base, run_container, tmp_path):
    """A real key login as root (checks PAM works in an unprivileged container)."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    container = run_container(
        base, environment={"BDP_AUTHORIZED_KEYS": KEY + "\n" + key.with_suffix(".pub").read_text()})
    container.reload()
    ip = container.attrs["NetworkSettings"]["IPAddress"]
    _ssh_banner(ip)
    out = subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", f"root@{ip}",
         "id -u && python3 -c 'print(6*7)'"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "42"]


def test_entrypoint_runs_arguments(base, client):
    out = client.containers.run(base, ["cat", "/etc/debian_version"], remove=True)
    assert out.decode().startswith("12.")


def test_second_ensure_is_cached(base, client):
    before = client.images.get(base).id
    started = time.monotonic()
    assert images.ensure_base_image(client, log=lambda line: None) == base
    assert time.monotonic() - started < 3
    assert client.images.get(base).id == before


def test_build_image_and_cache(base, client, temp_tag, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN echo hi > /hi\n")
    lines = []
    assert images.build_image(tmp_path, temp_tag, client, log=lines.append) == temp_tag
    assert any("Successfully tagged" in line for line in lines)
    first = client.images.get(temp_tag).id
    assert client.containers.run(temp_tag, ["cat", "/hi"], remove=True) == b"hi\n"

    lines.clear()
    started = time.monotonic()
    assert images.build_image(tmp_path, temp_tag, client, log=lines.append) == temp_tag
    assert time.monotonic() - started < 3
    assert client.images.get(temp_tag).id == first
    assert lines == []  # skipped entirely, not even a cached docker build


def test_build_failure_raises(base, client, temp_tag, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nRUN echo bdp-$((6*7))-marker && exit 3\n")
    with pytest.raises(images.ImageBuildError) as err:
        images.build_image(tmp_path, temp_tag, client, log=lambda line: None)
    message = str(err.value)
    assert "\nbdp-42-marker\n" in message  # the command's output, not just its text
    assert "non-zero code: 3" in message
    assert not images.image_exists(temp_tag, client)


def test_product_image(base, client, tmp_path):
    # A bundle without image/ runs on the base image itself.
    assert images.ensure_product_image(tmp_path, "plain", "1.0", client) == base
    assert images.product_image_tag("Hadoop", "3.3.6+bdp 1") == "bdp/hadoop:3.3.6-bdp-1"

    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "Dockerfile").write_text(f"FROM {base}\nRUN touch /product\n")
    name = f"test-{uuid.uuid4().hex[:8]}"
    tag = images.ensure_product_image(tmp_path, name, "0.1", client, log=lambda line: None)
    try:
        assert tag == f"bdp/{name}:0.1"
        assert images.image_exists(tag, client)
    finally:
        client.images.remove(tag, force=True)

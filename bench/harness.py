"""What the in-process benchmarks share: a platform on a scratch data directory with the
bundled products and the reference image, and waiting for a cluster status."""
from __future__ import annotations

import threading
import time
from pathlib import Path

BENCH_TOKEN = "bench-admin-token-0123456789"


def bench_platform(workdir: Path, disks: int, poll_interval: float):
    """(settings, platform, admin user) with products loaded and the reference image built."""
    from api.catalog import bundle
    from api.core import auth
    from api.core.config import Settings
    from api.engines import images
    from api.platform import Platform
    settings = Settings(data_dir=workdir / "data", disks=disks, poll_interval=poll_interval,
                        admin_token=BENCH_TOKEN)
    platform = Platform(settings)
    bundle.sync_bundles(settings.products_dir)
    user = auth.add_user("bench", admin=True)
    images.ensure_product_image(settings.products_dir / "reference" / "1.0.0",
                                "reference", "1.0.0", log=lambda *_: None)
    return settings, platform, user


def wait_status(cluster_id: int, wanted: set[str], timeout: float, interval: float) -> str:
    """Poll the registry until the cluster reaches a status in `wanted`."""
    from api.core.models import Cluster
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster = Cluster.get_by_id(cluster_id)
        if cluster.status in wanted:
            return cluster.status
        if cluster.status == "failed":
            raise RuntimeError(f"cluster failed: {cluster.reason}")
        time.sleep(interval)
    raise RuntimeError(f"cluster {cluster_id} not {wanted} within {timeout}s")


class ControllerBench:
    """A platform on a scratch directory whose controllers run in threads of this process,
    as `bdp server` runs them: the framework, and the orchestrator when asked for."""

    def __init__(self, workdir: Path, disks: int, poll_interval: float, orchestrator: bool):
        from api.framework.controller import Framework
        from api.orchestrator.controller import Orchestrator
        self.workdir = workdir
        self.settings, self.platform, self.user = bench_platform(workdir, disks, poll_interval)
        self.framework = Framework(self.platform)
        self.framework._prepare()  # hosts and networks, as a running server has them
        controllers = [self.framework]
        if orchestrator:
            from api.orchestrator.operations import Operations
            self.orchestrator = Orchestrator(self.platform)
            self.operations = Operations(self.platform)
            controllers += [self.orchestrator, self.operations]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=c.run, args=(self.stop,), daemon=True)
                        for c in controllers]
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        """Stop the controllers and remove every container and network of this platform."""
        import docker

        from api.engines.base import LABEL_PLATFORM
        self.stop.set()
        self.platform.wake()
        for thread in self.threads:
            thread.join(30)
        label = f"{LABEL_PLATFORM}={self.settings.data_dir}"
        for c in docker.from_env().containers.list(all=True, filters={"label": label}):
            c.remove(force=True)
        self.platform.engine.remove_networks()
        self.platform.database.close()

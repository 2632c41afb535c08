"""What the in-process benchmarks share: a platform on a scratch data directory with the
bundled products and the reference image, and waiting for a cluster status."""
from __future__ import annotations

import time
from pathlib import Path

BENCH_TOKEN = "bench-admin-token-0123456789"


def bench_platform(workdir: Path, disks: int, poll_interval: float):
    """(settings, platform, admin user) with products loaded and the reference image built."""
    from api import auth, images, product
    from api.config import Settings
    from api.platform import Platform
    settings = Settings(data_dir=workdir / "data", disks=disks, poll_interval=poll_interval,
                        admin_token=BENCH_TOKEN)
    platform = Platform(settings)
    product.sync_bundles(settings.products_dir)
    user = auth.add_user("bench", admin=True)
    images.ensure_product_image(settings.products_dir / "reference" / "1.0.0",
                                "reference", "1.0.0", log=lambda *_: None)
    return settings, platform, user


def wait_status(cluster_id: int, wanted: set[str], timeout: float, interval: float) -> str:
    """Poll the registry until the cluster reaches a status in `wanted`."""
    from api.models import Cluster
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster = Cluster.get_by_id(cluster_id)
        if cluster.status in wanted:
            return cluster.status
        if cluster.status == "failed":
            raise RuntimeError(f"cluster failed: {cluster.reason}")
        time.sleep(interval)
    raise RuntimeError(f"cluster {cluster_id} not {wanted} within {timeout}s")

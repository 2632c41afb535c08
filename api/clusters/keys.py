"""Per-cluster SSH key pairs.

The orchestrator reaches a cluster's nodes with a key of the cluster's own, so a
leaked key opens one cluster only. The private key stays in the data directory,
readable by the platform alone (0600 in a 0700 directory), and is never returned by
the API; the public key is installed in every node at start.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from api.core.models import Cluster


def private_key_path(settings, cluster_id: int) -> Path:
    return settings.keys_dir / f"cluster-{cluster_id}"


def ensure_cluster_key(settings, cluster: Cluster) -> str:
    """Create the cluster's key pair if it has none; return the public key."""
    path = private_key_path(settings, cluster.id)
    if not path.exists():
        settings.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        for stale in (tmp, tmp.with_name(tmp.name + ".pub")):
            stale.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"bdp-{cluster.dn}",
                        "-f", str(tmp)], check=True, capture_output=True)
        tmp.chmod(0o600)
        # Renames are atomic: a crash leaves either no key or a whole one.
        tmp.with_name(tmp.name + ".pub").rename(path.with_name(path.name + ".pub"))
        tmp.rename(path)
    public = path.with_name(path.name + ".pub").read_text().strip()
    if cluster.ssh_public_key != public:
        Cluster.update(ssh_public_key=public).where(Cluster.id == cluster.id).execute()
        cluster.ssh_public_key = public
    return public


def authorized_keys(settings, cluster: Cluster) -> list[str]:
    """Keys every node of the cluster accepts: the platform's and its owner's."""
    return [ensure_cluster_key(settings, cluster), *cluster.user.ssh_keys]


def remove_cluster_key(settings, cluster_id: int) -> None:
    path = private_key_path(settings, cluster_id)
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)

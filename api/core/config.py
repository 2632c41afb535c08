"""Settings read from the environment, in one place.

Every process (server, framework, orchestrator, CLI) builds a `Settings` once and
passes it down; nothing else reads `os.environ` for platform settings.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

API_PREFIX = "/bigdata/api/v1"
# Where clusters' http endpoints are served (api/http/proxy.py); outside API_PREFIX, so a
# proxied page never shares a cookie path with the API.
PROXY_PREFIX = "/bigdata/proxy"
REPO_ROOT = Path(__file__).resolve().parents[2]  # api/core/config.py -> the checkout


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("BDP_DATA_DIR") or Path.home() / ".local/share/bdp"))
    database_url: str | None = field(default_factory=lambda: os.environ.get("BDP_DATABASE_URL") or None)
    engine: str = field(default_factory=lambda: os.environ.get("BDP_ENGINE", "docker"))
    mesos_master: str | None = field(default_factory=lambda: os.environ.get("BDP_MESOS_MASTER") or None)
    # Mesos agents serve registry network N on the docker network "<prefix>N".
    mesos_network_prefix: str = field(default_factory=lambda: os.environ.get("BDP_MESOS_NETWORK_PREFIX", ""))
    # Number of data-disk directories the embedded local docker host offers; None = sized
    # from the data directory's free space (directories cost nothing; see disk_count).
    disks: int | None = field(default_factory=lambda: _int("BDP_DISKS", 0) or None)
    # The docker host's cpus/memory come from the engine unless overridden here.
    host_cpus: float | None = field(default_factory=lambda: _float("BDP_HOST_CPUS", 0) or None)
    host_mem: int | None = field(default_factory=lambda: _int("BDP_HOST_MEM", 0) or None)
    # Data-system nodes idle most of the time; offering more cpus than the machine has
    # lets a 2-core workstation run a 4-node trial cluster. Per-container limits still hold.
    cpu_overcommit: float = field(default_factory=lambda: _float("BDP_CPU_OVERCOMMIT", 4.0))
    # Subnets of the default networks on a fresh install ("" = pick free ones, 10.30.0.0/24
    # and 10.31.0.0/24 unless the engine already uses those).
    admin_subnet: str = field(default_factory=lambda: os.environ.get("BDP_ADMIN_SUBNET", ""))
    storage_subnet: str = field(default_factory=lambda: os.environ.get("BDP_STORAGE_SUBNET", ""))
    # A registered host silent this long is `lost`; hosts are probed every probe_interval.
    host_timeout: float = field(default_factory=lambda: _float("BDP_HOST_TIMEOUT", 20))
    probe_interval: float = field(default_factory=lambda: _float("BDP_PROBE_INTERVAL", 3))
    # The platform host's address towards the hosts (VXLAN); "" = the source address the
    # kernel picks to reach each host.
    vtep_address: str = field(default_factory=lambda: os.environ.get("BDP_VTEP_ADDRESS", ""))
    # Default networks on a fresh install: "tenant" (each user a segment of their own: the
    # docker engine's default) or "shared" (the Mesos engine's: its agents' networks are fixed).
    network_isolation: str = field(default_factory=lambda: os.environ.get("BDP_NETWORK_ISOLATION", ""))
    scheduling_timeout: float = field(default_factory=lambda: _float("BDP_SCHEDULING_TIMEOUT", 600))
    ready_timeout: float = field(default_factory=lambda: _float("BDP_READY_TIMEOUT", 300))
    start_timeout: float = field(default_factory=lambda: _float("BDP_START_TIMEOUT", 120))
    # The longest a cluster may live ("" = no maximum), e.g. 7d; and how long a dead node
    # of an auto_replace cluster is left before it is replaced.
    max_lifetime: str = field(default_factory=lambda: os.environ.get("BDP_MAX_LIFETIME", ""))
    replace_grace: float = field(default_factory=lambda: _float("BDP_REPLACE_GRACE", 30))
    # The most nodes one cluster may have (more is refused at launch).
    max_nodes: int = field(default_factory=lambda: max(1, _int("BDP_MAX_NODES", 500)))
    # Run output, events and destroyed clusters older than this are pruned (api/core/retention.py).
    retention_days: float = field(default_factory=lambda: _float("BDP_RETENTION_DAYS", 30))
    # Cluster lists leave out clusters destroyed longer ago than this unless ?all=true.
    list_window_hours: float = field(default_factory=lambda: _float("BDP_LIST_WINDOW_HOURS", 24))
    # How often each API process reads new events for its followers (api/http/streams.py).
    event_poll: float = field(default_factory=lambda: _float("BDP_EVENT_POLL", 0.25))
    lease_seconds: float = field(default_factory=lambda: _float("BDP_LEASE_SECONDS", 30))
    poll_interval: float = field(default_factory=lambda: _float("BDP_POLL_INTERVAL", 1.0))
    admin_token: str | None = field(default_factory=lambda: os.environ.get("BDP_ADMIN_TOKEN") or None)
    no_auth: bool = False
    products_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("BDP_PRODUCTS_DIR") or REPO_ROOT / "products"))

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'bdp.sqlite'}"

    @property
    def keys_dir(self) -> Path:
        """Per-cluster SSH private keys; mode 0700, files 0600."""
        return self.data_dir / "keys"

    @property
    def disks_dir(self) -> Path:
        return self.data_dir / "disks"

    @property
    def runs_dir(self) -> Path:
        """ansible-runner private data directories, one per orchestrator run."""
        return self.data_dir / "runs"

    VNI_SPAN = 4096  # VXLAN identifiers per platform

    @property
    def vni_base(self) -> int:
        """Where this platform's VXLAN identifiers start: two platforms on one site (or one
        machine, as in the tests) must not share VXLAN devices. 1..4001 times VNI_SPAN."""
        import hashlib
        digest = int(hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:8], 16)
        return (digest % 4000 + 1) * self.VNI_SPAN

    @property
    def default_isolation(self) -> str:
        return self.network_isolation or ("tenant" if self.engine == "docker" else "shared")

    def disk_count(self) -> int:
        """Data-disk directories of the embedded host: BDP_DISKS, else one per 4 GB free
        in the data directory, 8 to 64 (the seed's minimal product at size 3 takes 6)."""
        if self.disks:
            return self.disks
        import shutil
        free_gb = shutil.disk_usage(self.data_dir).free // 2**30
        return max(8, min(64, free_gb // 4))

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.keys_dir.mkdir(mode=0o700, exist_ok=True)
        self.disks_dir.mkdir(exist_ok=True)
        self.runs_dir.mkdir(mode=0o700, exist_ok=True)

"""`bdp launch --wait` / `bdp destroy --wait` follow the cluster's event stream: every
transition is printed once as it happens, the cluster is read when an event comes (not
once a second), and a server that does not stream still gets watched by polling. An
operation's `--wait` reads it again on its owner's events too."""
from __future__ import annotations

import threading
import time

from support import seed
from support.common import ADMIN_TOKEN
from support.sse import ThreadServer

P = "/bigdata/api/v1"


def _drive(cluster_id: int, steps: list[str], pause: float) -> threading.Thread:
    from api.core import status

    def go():
        for to in steps:
            time.sleep(pause)
            assert status.transition(cluster_id, to, "test")
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


class CountingClient:
    """The CLI's APIClient, counting the GETs of the cluster itself."""

    def __new__(cls, url: str):
        from api.cli.session import APIClient
        api = APIClient(url, ADMIN_TOKEN)
        api.reads = 0
        get = api.get

        def counted(path, **kw):
            if path.rstrip("/").endswith("/1"):
                api.reads += 1
            return get(path, **kw)
        api.get = counted
        return api


def test_wait_follows_the_stream_and_prints_every_transition_once(platform, capsys):
    from api.cli.follow import watch
    (cid,) = seed.add_clusters(seed.user("alice"), seed.product(), 1)
    steps = ["scheduling", "scheduled", "configuring", "configured", "ready"]
    with ThreadServer(platform) as server:
        api = CountingClient(server.url)
        driver = _drive(cid, steps, pause=0.6)
        t0 = time.monotonic()
        code = watch(api, "/clusters/alice/perf/1.0.0/1", until={"ready"}, timeout=60)
        elapsed = time.monotonic() - t0
        driver.join(5)
    out = capsys.readouterr().out
    assert code == 0, out
    reached = [line.split()[-1] for line in out.splitlines() if line[:2].isdigit()]
    assert reached == ["registered", *steps], out  # each once, in order
    # One read at the start and about one per event: polling once a second would be ~elapsed.
    assert api.reads <= len(steps) + 3 and elapsed < 10, (api.reads, elapsed)


def test_destroy_wait_ends_when_the_cluster_is_destroyed(platform, capsys):
    from api.cli.follow import wait_quietly
    (cid,) = seed.add_clusters(seed.user("bob"), seed.product(), 1, status="ready")
    with ThreadServer(platform) as server:
        api = CountingClient(server.url)
        driver = _drive(cid, ["destroying", "destroyed"], pause=0.5)
        assert wait_quietly(api, "/clusters/bob/perf/1.0.0/1", {"destroyed"}, timeout=30) == 0
        driver.join(5)


def test_a_server_without_streams_is_polled(client, capsys, monkeypatch):
    """The falcon test client answers follow=true with the JSON list (no ASGI layer), as
    a server from before streams would: the watch falls back to polling."""
    import httpx

    from api.cli.follow import EventStream
    from api.cli.session import APIClient
    (cid,) = seed.add_clusters(seed.user("carol"), seed.product(), 1)
    api = APIClient("http://testserver", ADMIN_TOKEN)
    app = client.app
    api.http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://testserver" + P,
                            headers={"x-auth-token": ADMIN_TOKEN})
    stream = EventStream(api, "/clusters/carol/perf/1.0.0/1")
    assert stream.supported is False
    from api.cli.follow import watch
    driver = _drive(cid, ["scheduling", "scheduled", "configuring", "configured", "ready"], pause=0.3)
    assert watch(api, "/clusters/carol/perf/1.0.0/1", until={"ready"}, timeout=30) == 0
    driver.join(5)
    assert "ready" in capsys.readouterr().out


def test_an_operations_wait_reads_it_again_when_its_event_comes(platform, capsys):
    """`bdp resize|replace|... --wait` and `bdp ops show --wait`: the operation is read when
    an event of its owner's clusters comes (queued, started, finished...) and every
    STEP_REFRESH seconds for its progress, not once a second."""
    from api.cli import operations as cli_ops
    from api.clusters import operations
    from api.core import status as st
    from api.core.models import Cluster, Job
    (cid,) = seed.add_clusters(seed.user("dora"), seed.product(), 1, status="ready")
    job = operations.add(Cluster.get_by_id(cid), "restart", who="dora")
    finished_at = []

    def run():  # an executor's part: started, a long quiet step, finished
        time.sleep(0.5)
        assert operations.claim(job.id, "test", 60)
        st.record(cid, "operations", f"operation restart #{job.id} started")
        operations.progress(job.id, "running the playbook (restart)", 30)
        time.sleep(8)
        assert operations.finish(Job.get_by_id(job.id), st.OperationStatus.SUCCEEDED)
        finished_at.append(time.monotonic())

    with ThreadServer(platform) as server:
        from api.cli.session import APIClient
        api = APIClient(server.url, ADMIN_TOKEN)
        reads, get = [], api.get
        api.get = lambda path, **kw: (reads.append(path) if path == f"/queue/{job.id}" else None) or get(path, **kw)
        driver = threading.Thread(target=run, daemon=True)
        driver.start()
        code = cli_ops.follow(api, api.get(f"/queue/{job.id}"), timeout=60)
        ended = time.monotonic()
        driver.join(5)
    out = capsys.readouterr().out
    assert code == 0, out
    shown = [line.split()[3] for line in out.splitlines() if line[:2].isdigit()]
    assert shown == ["pending", "running", "succeeded"], out
    # Polling once a second would read it ~11 times (8.5 s); the finish is seen on its event.
    assert len(reads) <= 9 and ended - finished_at[0] < 1.5, (len(reads), ended - finished_at[0])

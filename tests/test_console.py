"""The web console, driven in Debian's Chromium by Playwright against a real `bdp server`.

Screenshots go to a temporary directory; set BDP_SCREENSHOTS=docs/screenshots to refresh
the ones in the user guide.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from support.common import ADMIN_TOKEN, REPO

pytestmark = pytest.mark.timeout(900)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make test` (scripts/setup-system.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path):
    target = Path(os.environ.get("BDP_SCREENSHOTS") or tmp_path / "shots")
    if not target.is_absolute():
        target = REPO / target
    target.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str, full_page: bool = False):
        if full_page:  # from the top, so the sticky bar is where a reader expects it
            page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(target / f"{name}.png"), full_page=full_page)
    return shot


@pytest.fixture
def server(server_factory):
    return server_factory().start()


def new_user(server, name: str) -> str:
    with server.http() as http:
        assert http.post("/users", json={"name": name}).status_code == 201
        return http.post(f"/users/{name}/tokens", json={"name": "console"}).json()["token"]


def sign_in(page, url: str, token: str) -> None:
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("#who-name")).to_be_visible()


def open_endpoint(page, url: str, token: str, cluster: str, endpoint: str):
    """Sign in, open the cluster's page, click its endpoint's link: the page that opens."""
    sign_in(page, url, token)
    page.goto(f"{url}/#/clusters/{cluster}")
    link = page.locator(f"#endpoints a[data-endpoint={endpoint}]")
    expect(link).to_be_visible(timeout=30_000)
    with page.context.expect_page() as opened:
        link.click()
    return opened.value


def test_console_is_served_without_token_but_api_is_not(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/js/app.js">' in page.text
    script = httpx.get(server.url + "/console/js/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(server.url + "/console/css/console.css").status_code == 200
    assert httpx.get(server.url + "/console/../../api/config.py").status_code == 404
    assert httpx.get(server.url + "/bigdata/api/v1/clusters").status_code == 401


def test_launch_watch_and_destroy_from_the_browser(server, browser, shots, tmp_path, docker_client):
    token = new_user(server, "alice")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The console works under its Content-Security-Policy: nothing it does is refused.
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    # Sign-in refuses a wrong token, then takes the right one.
    page.goto(server.url + "/")
    shots(page, "signin")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("#who-name")).to_have_text("alice")
    expect(page.locator("[data-section=infrastructure]")).to_be_hidden()  # not an admin

    # SSH keys page: add a public key.
    key = tmp_path / "id_alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(key)],
                   check=True)
    page.click("text=SSH keys")
    page.fill("#new-key", (tmp_path / "id_alice.pub").read_text())
    page.click("text=Add key")
    expect(page.locator("tr[data-key='alice@laptop']")).to_be_visible()
    shots(page, "ssh-keys")

    # Catalog with the reference product's card.
    page.click("text=Catalog")
    card = page.locator("article[data-product=reference]")
    expect(card).to_contain_text("Reference product: minimal")
    shots(page, "catalog")

    # Launch form from the options document: required first, others folded.
    card.locator("a", has_text="Launch").click()
    expect(page.locator("fieldset[data-group=required] #opt-size")).to_be_visible()
    expect(page.locator("details[data-group=optional]")).not_to_have_attribute("open", "")
    expect(page.locator("[data-field=size] .field-desc")).to_have_text("Number of nodes")
    page.click("details[data-group=optional] summary")
    expect(page.locator("[data-field=mem] .field-desc")).to_have_text("Memory per node (MB)")
    # A bad value: the API's message appears next to the field it names.
    page.fill("#opt-size", "two")
    page.click("#launch-submit")
    error = page.locator("[data-field=size] .field-error")
    expect(error).to_contain_text("size")
    expect(error).to_contain_text("two")
    expect(page.locator("[data-field=size]")).to_have_class(re.compile("invalid"))
    shots(page, "launch-form-error")

    page.fill("#opt-size", "2")
    page.click("#launch-submit")
    page.wait_for_url("**/#/clusters/alice/reference/1.0.0/1")
    expect(page.locator("#cluster-title")).to_have_text("alice/reference/1.0.0/1")

    # Live status: the page follows the cluster to `ready` without a reload.
    status = page.locator("#cluster-summary [data-status]")
    seen = set()
    for _ in range(600):
        current = status.get_attribute("data-status")
        seen.add(current)
        if current in ("ready", "failed"):
            break
        if current == "scheduling" and "shot-progress" not in seen:
            seen.add("shot-progress")
            shots(page, "cluster-launching")
        page.wait_for_timeout(1000)
    assert status.get_attribute("data-status") == "ready", \
        page.locator("#cluster-reason").all_inner_texts() or server.log()
    assert seen & {"scheduling", "scheduled", "configuring", "configured"}, seen
    nodes = page.locator(".nodes-table tbody tr")
    expect(nodes).to_have_count(2)
    expect(page.locator("tr[data-node=node1]")).to_contain_text("running")
    expect(page.locator("tr[data-node=node1]")).to_contain_text(re.compile(r"eth0\s*10\.\d+\.\d+\.\d+"))
    expect(page.locator("tr[data-node=node1]")).to_contain_text("/data/1")
    expect(page.locator(".events-table")).to_contain_text("ready")
    expect(page.locator("details.run").first).to_contain_text("start")
    page.locator("details.run summary").first.click()
    expect(page.locator("pre.log").first).to_contain_text("PLAY")
    shots(page, "cluster", full_page=True)

    # Actions: buttons wait for the playbook's result, then the page shows the new status.
    page.click("#action-stop")
    expect(page.locator("#action-start")).to_be_disabled()  # one action at a time
    expect(page.locator("#action-result")).to_contain_text("Stop: running")
    result = page.locator("#action-result [data-result]")
    expect(result).to_contain_text("Stop: ok", timeout=300_000)
    expect(result).to_contain_text("the cluster is stopped")
    expect(status).to_have_attribute("data-status", "stopped")
    expect(page.locator("#action-start")).to_be_enabled()
    page.click("#action-status")
    expect(result).to_contain_text("Check status: failed", timeout=300_000)
    expect(result).to_contain_text("not running")
    expect(status).to_have_attribute("data-status", "stopped")
    shots(page, "cluster-actions")
    page.click("#action-start")
    expect(result).to_contain_text("Start: ok", timeout=300_000)
    expect(status).to_have_attribute("data-status", "ready")
    expect(page.locator("details.run summary", has_text="stop").first).to_be_visible()

    # Day 2: the resize form (from the product's schema) grows it to 3; the operations
    # history shows what ran; a node killed out of band gets a Replace button.
    expect(page.locator("#cluster-health")).to_have_attribute("data-health", "healthy")
    expect(page.locator("#cluster-expires")).to_have_text("never expires")
    expect(page.locator("#resize-size")).to_have_value("2")
    expect(page.locator("#resize-size")).to_have_attribute("max", "5000")
    page.fill("#resize-size", "3")
    # The page follows the operation on its owner's event stream: it reads the operation
    # when an event of the cluster says it moved (and every 5 s within a step), not once a second.
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/queue/" in r.url or "follow=true" in r.url else None)
    api = f"{server.url}/bigdata/api/v1/clusters/alice/reference/1.0.0/1"
    earlier = httpx.get(f"{api}/events", params={"limit": 1000}, headers={"x-auth-token": token}).json()["events"]
    started = time.monotonic()
    page.click("#resize-submit")
    expect(page.locator("#op-result [data-op-result]")).to_contain_text("succeeded", timeout=300_000)
    took = time.monotonic() - started
    events = httpx.get(f"{api}/events", params={"limit": 1000}, headers={"x-auth-token": token}).json()["events"]
    assert any(u.startswith(f"{server.url}/bigdata/api/v1/clusters/alice/events?follow=true") for u in reads), reads
    op_reads = [u for u in reads if "/queue/" in u]
    assert 1 <= len(op_reads) <= len(events) - len(earlier) + took / 5 + 2, (op_reads, took)
    expect(nodes).to_have_count(3)
    expect(page.locator(".ops-table tr[data-op]").first).to_contain_text("resize")
    from api.engines.base import LABEL_NODE, LABEL_PLATFORM
    victim, = docker_client.containers.list(filters={"label": [
        f"{LABEL_PLATFORM}={server.data_dir}", f"{LABEL_NODE}=node3"]})
    victim.kill()
    expect(page.locator("#cluster-health")).to_have_attribute("data-health", "degraded", timeout=30_000)
    shots(page, "cluster-degraded")
    page.click("#replace-node3")
    expect(page.locator("#op-result [data-op-result]")).to_contain_text("Replace node3: succeeded",
                                                                          timeout=300_000)
    expect(page.locator("#cluster-health")).to_have_attribute("data-health", "healthy", timeout=10_000)
    shots(page, "cluster-operations", full_page=True)

    # The clusters list shows it, live.
    page.click("nav >> text=Clusters")
    row = page.locator("tr[data-cluster='alice/reference/1.0.0/1']")
    expect(row.locator("[data-status]")).to_have_text("ready")
    expect(page.locator("#quota-use [data-quota=nodes]")).to_contain_text("nodes 3 of ∞")
    shots(page, "clusters")

    # An admin sees every user's clusters and the hosts and networks with free capacity.
    admin = browser.new_page(viewport={"width": 1280, "height": 800})
    admin.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(admin, server.url, ADMIN_TOKEN)
    admin.click("text=Infrastructure")
    expect(admin.locator("#hosts tbody tr").first).to_contain_text("free of")
    expect(admin.locator("tr[data-network=admin]")).to_contain_text("free of")
    expect(admin.locator("tr[data-network=storage]")).to_be_visible()
    shots(admin, "infrastructure")
    admin.click("nav >> text=Clusters")
    expect(admin.locator("tr[data-cluster='alice/reference/1.0.0/1']")).to_contain_text("alice")
    admin.close()

    # Destroy, with a confirmation that can be cancelled.
    row.locator("a").click()
    page.click("#destroy")
    expect(page.locator("#destroy-dialog")).to_be_visible()
    shots(page, "destroy-confirm")
    page.click("#destroy-dialog button[value=cancel]")
    expect(page.locator("#destroy-dialog")).to_have_count(0)
    assert status.get_attribute("data-status") == "ready"
    page.click("#destroy")
    page.click("#confirm-destroy")
    expect(status).to_have_attribute("data-status", re.compile("destroying|destroyed"))
    expect(status).to_have_attribute("data-status", "destroyed", timeout=300_000)
    expect(page.locator("#destroy")).to_be_hidden()
    assert errors == [], errors
    page.close()

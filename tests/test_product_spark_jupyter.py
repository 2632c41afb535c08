"""Jupyter on Spark (issue 14), as a user meets it: a Spark cluster launched with
`jupyter: true` through the REST API, its `jupyter` endpoint opened from the console's
cluster page in Chromium (through the API's proxy, WebSockets included: the kernel's
channels), and a notebook cell whose SparkSession counts on the cluster's workers."""
from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from test_client import new_user
from test_console import CHROMIUM, CHROMIUM_ARGS, open_endpoint

from support.common import wait_status
from support.products import FAST, action, launch

pytestmark = pytest.mark.timeout(900)
CELL = ('from pyspark.sql import SparkSession; sc = SparkSession.builder.appName("notebook").getOrCreate()'
        '.sparkContext; hosts = sorted(set(sc.parallelize(range(64), 16).map(lambda _: '
        '__import__("socket").gethostname()).collect())); '
        'print("counted", sc.parallelize(range(1000), 8).map(lambda x: x * 2).count(), "on", ",".join(hosts))')


def test_a_notebook_opened_from_the_cluster_page_counts_on_the_workers(server_factory, tmp_path):
    server = server_factory(env=FAST).start()
    alice = new_user(server, "alice")
    http = server.http(alice)
    # Too little memory on the master for JupyterLab beside the driver: refused, naming it.
    r = http.post("/products/spark/4.3.0", json={"workers": 2, "jupyter": True})
    assert r.status_code == 400 and r.json()["field"] == "master.mem", r.text
    path = launch(http, "spark", "4.3.0", {"workers": 2, "jupyter": True, "master.mem": 2048})
    wait_status(http, path, {"ready"}, timeout=400)
    endpoints = {e["name"]: e for e in http.get(path + "/endpoints").json()["endpoints"]}
    assert endpoints["jupyter"]["url"] == "/bigdata/proxy/alice/spark/4.3.0/1/jupyter/lab"
    # JupyterLab has no token of its own: the proxy is its door, and it opens to alice only.
    bob = new_user(server, "bob")
    lab_url = server.url + endpoints["jupyter"]["url"]
    assert httpx.get(lab_url, headers={"x-auth-token": bob}, timeout=30).status_code == 403
    assert httpx.get(lab_url, timeout=30).status_code == 401

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            lab = open_endpoint(browser.new_page(), server.url, alice, "alice/spark/4.3.0/1", "jupyter")
            lab.set_default_timeout(120_000)
            # A new notebook from the launcher, with the python kernel.
            lab.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
            expect(lab.locator(".jp-Notebook-ExecutionIndicator[data-status=idle]")).to_be_visible()
            editor = lab.locator(".jp-Notebook .jp-Cell .cm-content").first
            editor.click()
            lab.keyboard.type(CELL)
            expect(editor).to_contain_text("counted")
            # Run once the kernel is connected (the toolbar's indicator says idle earlier,
            # and a cell run before the kernel is there is silently not run).
            expect(lab.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
            editor.press("Shift+Enter")
            # Spark's start-up warnings come first, on stderr; the cell's print is on stdout.
            output = lab.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]').first
            try:
                expect(output).to_contain_text("counted 1000 on", timeout=180_000)
            except AssertionError:
                lab.screenshot(path=tmp_path / "jupyterlab.png")  # what the user saw
                raise
            hosts = re.search(r"counted 1000 on (\S+)", output.inner_text()).group(1).split(",")
            # The work ran in executors on the workers, not in the notebook's own process.
            assert hosts and set(hosts) <= {"spark-worker1", "spark-worker2"}, hosts
        finally:
            browser.close()
    # The application ran on the cluster: the master lists it (its UI, through the proxy).
    master = httpx.get(server.url + "/bigdata/proxy/alice/spark/4.3.0/1/spark-ui/json/",
                       headers={"x-auth-token": alice}, timeout=30).json()
    assert "notebook" in [a["name"] for a in master["activeapps"] + master["completedapps"]], master

    # restart stops JupyterLab first and starts it again after the workers; status checks it.
    result = action(http, path, "restart")
    assert result["result"] == "successful" and result["status"] == "ready", result
    lab_api = httpx.get(server.url + "/bigdata/proxy/alice/spark/4.3.0/1/jupyter/api",
                        headers={"x-auth-token": alice}, timeout=30)
    assert lab_api.status_code == 200 and "version" in lab_api.json(), lab_api.text

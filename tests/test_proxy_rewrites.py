"""What the proxy changes in a node's answers and a browser's WebSocket handshake (pure
functions of api/http/proxy.py and proxy_ws.py; no Docker). The end-to-end proof is
tests/test_remote_access.py."""
from __future__ import annotations

from api.http.proxy import Target, rewrite_cookie, rewrite_location, strip_cookies
from api.http.proxy_ws import node_origin

BASE = "/bigdata/proxy/alice/spark/4.3.0/1/jupyter"
TARGET = Target(BASE, "10.32.0.2:8888")


def test_a_node_cookie_is_scoped_to_its_endpoint_and_loses_its_domain():
    assert rewrite_cookie("s=1; Path=/; HttpOnly", TARGET) == f"s=1; Path={BASE}/; HttpOnly"
    assert rewrite_cookie("s=1; path=/api; Domain=10.32.0.2", TARGET) == f"s=1; Path={BASE}/api"
    # Jupyter already sets its base_url: kept as it is; no Path: the browser's default.
    assert rewrite_cookie(f"_xsrf=2|a; Path={BASE}/", TARGET) == f"_xsrf=2|a; Path={BASE}/"
    assert rewrite_cookie("s=1; Secure", TARGET) == "s=1; Secure"
    # A path that only starts like the base is another path, put under it.
    assert rewrite_cookie(f"s=1; Path={BASE}x", TARGET) == f"s=1; Path={BASE}{BASE}x"


def test_redirects_come_back_under_the_proxy_path():
    assert rewrite_location("http://10.32.0.2:8888/lab", TARGET) == f"{BASE}/lab"
    assert rewrite_location("/lab?x=1", TARGET) == f"{BASE}/lab?x=1"
    assert rewrite_location(f"{BASE}/lab", TARGET) == f"{BASE}/lab"
    assert rewrite_location("https://example.org/", TARGET) == "https://example.org/"
    assert rewrite_location("//example.org/x", TARGET) == "//example.org/x"


def test_the_platform_cookies_never_reach_a_node():
    assert strip_cookies("bdp_proxy=t; _xsrf=1; bdp_stream=u") == "_xsrf=1"
    assert strip_cookies("bdp_proxy=t") == ""


def test_a_page_of_the_api_origin_is_said_to_come_from_the_node_others_pass():
    api = {"host": "laptop.example:5000", "origin": "http://laptop.example:5000"}
    assert node_origin(api, TARGET) == "http://10.32.0.2:8888"
    other = {"host": "laptop.example:5000", "origin": "https://evil.example"}
    assert node_origin(other, TARGET) == "https://evil.example"
    assert node_origin({"host": "laptop.example:5000"}, TARGET) is None

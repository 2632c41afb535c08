"""The client's session with a platform: where it is, who the user is, how to ask it.

Owns the config file written by `bdp login` (`BDP_CONFIG`), the resolution of the URL and
token (`BDP_URL`, `BDP_TOKEN`, then the file), `APIClient` over httpx, `ClientError` and
how a command reports it (one line on stderr, exit code 1), and cluster references.
Everything talks HTTP: nothing opens the registry directly, so the same commands work
against a remote site.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx

from api.core.config import API_PREFIX, Settings

DEFAULT_URL = "http://127.0.0.1:5000"
CLUSTER_REF_HELP = "user/product/version/id, or product/version/id for your own"


class ClientError(Exception):
    """A failure worth one line to the user (API error, unreachable server, bad input)."""


def command(func):
    """Turn ClientError into one line on stderr and exit code 1."""
    def wrapper(args) -> int:
        try:
            return func(args)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
    wrapper.__name__ = func.__name__
    return wrapper


# --- configuration -----------------------------------------------------------------

def config_path() -> Path:
    return Path(os.environ.get("BDP_CONFIG") or Path.home() / ".config/bdp/config.json").expanduser()


def read_config() -> dict:
    path = config_path()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {exc}") from exc


def write_config(data: dict) -> Path:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def resolve_url(explicit: str | None = None) -> str:
    url = explicit or os.environ.get("BDP_URL") or read_config().get("url") or DEFAULT_URL
    return url.rstrip("/")


def resolve_token(explicit: str | None = None) -> str | None:
    token = explicit or os.environ.get("BDP_TOKEN") or read_config().get("token")
    if token:
        return token
    # On the platform's own machine the admin token file is a convenient last resort
    # (readable only by the platform's user).
    try:
        return (Settings().data_dir / "admin.token").read_text().strip() or None
    except OSError:
        return None


# --- HTTP --------------------------------------------------------------------------

class APIClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30):
        self.url = resolve_url(url)
        self.token = resolve_token(token)
        headers = {"x-auth-token": self.token} if self.token else {}
        self.http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, timeout=timeout)
        self._me: dict | None = None

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the API at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ClientError(error_line(response))
        return response

    @staticmethod
    def _body(response: httpx.Response):
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {"text": response.text}

    def request(self, method: str, path: str, **kwargs):
        return self._body(self._send(method, path, **kwargs))

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def get_all(self, path: str, key: str, limit: int = 1000) -> list:
        """Every item of a paged list, following each page's `next`, or the `Link:
        rel=next` header of lists that answer an array (/hosts, /networks); servers that
        do not page answer everything at once, with neither."""
        items: list = []
        params: dict | None = {"limit": limit}
        while path:
            response = self._send("GET", path, params=params)
            page = self._body(response)
            items += as_list(page, key)
            nxt = (page.get("next") if isinstance(page, dict)
                   else response.links.get("next", {}).get("url"))
            path = nxt[len(API_PREFIX):] if nxt and nxt.startswith(API_PREFIX) else nxt
            params = None  # the next URL carries them
        return items

    def me(self) -> dict:
        """The signed-in user ({"name", "role", ...})."""
        if self._me is None:
            self._me = self.get("/users/me")
        return self._me


def error_line(response: httpx.Response) -> str:
    """The API's JSON error as one readable line, naming the field at fault."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
        return f"{response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
    status = body.get("status", response.status_code)
    title = body.get("error") or response.reason_phrase
    message = body.get("message") or body.get("description") or body.get("title") or ""
    head = title if str(title).startswith(str(status)) else f"{status} {title}"
    line = head + (f": {message}" if message and message != title else "")
    if body.get("field") and str(body["field"]) not in message:
        line += f" (field: {body['field']})"
    return " ".join(line.split())


def as_list(data, key: str) -> list:
    """Lists come as `{"<key>": [...]}` or bare; accept both."""
    if isinstance(data, dict):
        data = data.get(key, data.get("items", []))
    return list(data or [])


# --- cluster references -------------------------------------------------------------

def cluster_path(api: APIClient, ref: str) -> str:
    """`user/product/version/id`, `product/version/id` (the caller's own) or a full
    `clusters/...` DN or URL -> the cluster's API path `/clusters/user/product/version/id`."""
    ref = ref.strip()
    if "/clusters/" in ref:
        ref = ref.split("/clusters/", 1)[1]
    elif ref.startswith("clusters/"):
        ref = ref[len("clusters/"):]
    parts = [p for p in ref.split("/") if p]
    if len(parts) == 3:
        parts.insert(0, api.me()["name"])
    if len(parts) != 4 or not parts[3].isdigit():
        raise ClientError(f"cluster {ref!r}: expected user/product/version/id or product/version/id")
    return "/clusters/" + "/".join(parts)


def short_dn(dn: str) -> str:
    """`clusters/alice/reference/1.0.0/3` or a URL -> `alice/reference/1.0.0/3`."""
    if "/clusters/" in dn:
        return dn.split("/clusters/", 1)[1]
    return dn[len("clusters/"):] if dn.startswith("clusters/") else dn

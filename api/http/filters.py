"""Query-string filters of the list endpoints, each a 400 naming its parameter when a
client sends a value it cannot mean."""
from __future__ import annotations

import datetime as dt

from api.core.errors import Invalid

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def flag(req, name: str) -> bool | None:
    """`?name=true|false` (also bare `?name`); None when absent."""
    if name not in req.params:
        return None
    raw = req.get_param(name) or "true"
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise Invalid(f"{name} must be true or false, not {raw!r}", field=name)


def choices(req, name: str, allowed) -> set[str] | None:
    """`?name=a,b` (or repeated): each value one of `allowed`; None when absent."""
    raw = req.get_param_as_list(name)
    if not raw:
        return None
    values = {v.strip() for item in raw for v in item.split(",") if v.strip()}
    unknown = sorted(values - set(allowed))
    if unknown or not values:
        raise Invalid(f"{name} {unknown[0] if unknown else '(empty)'!r} is not one of "
                      f"{', '.join(sorted(allowed))}", field=name)
    return values


def text(req, name: str, max_len: int = 200) -> str | None:
    raw = req.get_param(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_len:
        raise Invalid(f"{name} must be 1 to {max_len} characters", field=name)
    return raw


def since(req, name: str = "since") -> dt.datetime | None:
    """An ISO 8601 time (UTC when it names no zone), as the registry stores times."""
    raw = req.get_param(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name} must be an ISO 8601 time such as 2026-12-01T10:00:00Z, "
                      f"not {raw!r}", field=name) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value
